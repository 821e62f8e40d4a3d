"""Read-only SQL about people: finding them by name (the composer's `@name`
completion), who is online in which rooms, and the rooms people belong to
(where their presence is announced)."""

from collections.abc import Iterable

from psycopg import Connection

from chat.storage import params

# Enabled accounts whose username starts with the prefix, or whose display
# name has a word that does (any case), by username. "ali" finds alice and
# "Alice Liddell"; "lid" finds her by her second name. starts_with() and
# position() compare characters as they are: LIKE would read `_` or `%` as
# wildcards, and a range on the collated index would not be a prefix under a
# locale that ignores punctuation. A scan of `users` per query is cheap for a
# team's accounts, and the browser asks once per prefix.
SQL_PEOPLE_BY_PREFIX = """
    SELECT username, display_name FROM users
    WHERE disabled_at IS NULL AND (
        starts_with(lower(username), lower(%(prefix)s))
        OR starts_with(lower(display_name), lower(%(prefix)s))
        OR position(' ' || lower(%(prefix)s) IN lower(display_name)) > 0
    )
    ORDER BY lower(username)
    LIMIT %(limit)s
"""


def people_by_prefix(conn: Connection, prefix: str, limit: int) -> list[tuple[str, str | None]]:
    """Up to `limit` enabled people, (username, display name or None), whose
    username or a word of whose display name starts with `prefix` (any case),
    by username."""
    rows = conn.execute(SQL_PEOPLE_BY_PREFIX, {"prefix": prefix, "limit": limit})
    return [(row["username"], row["display_name"]) for row in rows]


# Who is online in each room (as queries.SQL_ONLINE_USERS, for many rooms at
# once): each room's list read by key, whatever the number of rooms.
SQL_ONLINE_USERS_OF_ROOMS = """
    SELECT k.room_id, ARRAY(
        SELECT DISTINCT u.username
        FROM presence p
        CROSS JOIN LATERAL (SELECT u.username FROM users u WHERE u.id = p.user_id LIMIT 1) u
        WHERE p.room_id = k.room_id
        ORDER BY u.username
    ) AS users
    FROM unnest(%s::bigint[]) AS k(room_id)
"""
# The rooms each person is a member of, by room id, looked up by key.
SQL_ROOMS_OF_PEOPLE = """
    SELECT k.user_id, r.id, r.name
    FROM unnest(%s::bigint[]) AS k(user_id)
    CROSS JOIN LATERAL (SELECT m.room_id FROM room_members m WHERE m.user_id = k.user_id) m
    CROSS JOIN LATERAL (SELECT r.id, r.name FROM rooms r WHERE r.id = m.room_id LIMIT 1) r
    ORDER BY k.user_id, r.id
"""


def online_users_of_rooms(conn: Connection, room_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each room's online usernames, sorted (queries.online_users), by room id."""
    rows = conn.execute(SQL_ONLINE_USERS_OF_ROOMS, (params.bigints(room_ids),))
    return {row["room_id"]: list(row["users"]) for row in rows}


def rooms_of_people(conn: Connection, user_ids: Iterable[int]) -> dict[int, list[tuple[int, str]]]:
    """The (id, name) of each person's rooms, by room id, by user id (none: absent)."""
    found: dict[int, list[tuple[int, str]]] = {}
    for row in conn.execute(SQL_ROOMS_OF_PEOPLE, (params.bigints(user_ids),)):
        found.setdefault(row["user_id"], []).append((row["id"], row["name"]))
    return found
