"""Read-only SQL for finding people by name: the composer's `@name` completion."""

from psycopg import Connection

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
