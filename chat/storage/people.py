"""Read-only SQL for finding people by name: the composer's `@name` completion."""

from psycopg import Connection

# Enabled accounts whose name starts with the prefix (any case), by name.
# starts_with() compares characters as they are: LIKE would read `_` in a
# username as a wildcard, and a range on the collated index would not be a
# prefix under a locale that ignores punctuation. A scan of `users` per query
# is cheap for a team's accounts, and the browser asks once per prefix.
SQL_USERS_BY_PREFIX = """
    SELECT username FROM users
    WHERE disabled_at IS NULL AND starts_with(lower(username), lower(%(prefix)s))
    ORDER BY lower(username)
    LIMIT %(limit)s
"""


def users_by_prefix(conn: Connection, prefix: str, limit: int) -> list[str]:
    """Up to `limit` enabled usernames starting with `prefix` (any case), sorted."""
    rows = conn.execute(SQL_USERS_BY_PREFIX, {"prefix": prefix, "limit": limit})
    return [row["username"] for row in rows]
