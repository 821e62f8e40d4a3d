"""Token buckets kept in PostgreSQL, so a limit holds across every worker and host."""

from psycopg import Connection

# Refill since the last request, capped at the burst; statement_timestamp() is
# one instant for the whole statement. A bucket without a token is left as it
# was (the WHERE), so refusals cost nothing and never push the refill back.
SQL_TAKE_TOKEN = """
    INSERT INTO rate_buckets AS b (key, tokens, updated_at)
    VALUES (%(key)s, %(burst)s - 1, statement_timestamp())
    ON CONFLICT (key) DO UPDATE SET
        tokens = LEAST(%(burst)s, b.tokens
            + extract(epoch FROM statement_timestamp() - b.updated_at) * %(rate)s) - 1,
        updated_at = statement_timestamp()
    WHERE LEAST(%(burst)s, b.tokens
            + extract(epoch FROM statement_timestamp() - b.updated_at) * %(rate)s) >= 1
    RETURNING tokens
"""
# How long until the bucket has a whole token again.
SQL_WAIT = """
    SELECT (1 - LEAST(%(burst)s, tokens
            + extract(epoch FROM statement_timestamp() - updated_at) * %(rate)s)) / %(rate)s
        AS seconds
    FROM rate_buckets WHERE key = %(key)s
"""


def take_token(conn: Connection, key: str, rate: float, burst: int) -> float | None:
    """Take one token from the bucket `key` (`rate` tokens a second, at most `burst`).

    Returns None when a token was taken (go ahead), else the seconds until one
    will be there. Commits with the caller's transaction (run it on its own).
    """
    params = {"key": key, "rate": rate, "burst": burst}
    if conn.execute(SQL_TAKE_TOKEN, params).fetchone() is not None:
        return None
    row = conn.execute(SQL_WAIT, params).fetchone()
    return max(0.0, row["seconds"]) if row else 1.0 / rate
