"""Connection plumbing: a psycopg pool to PostgreSQL and the TCP options that
make a silently dead connection fail instead of hang.

The pool is opened by the surface (chat/web/worker.py for a gunicorn worker,
chat/cli.py for a bot) and handed down; nothing here knows about Flask.
"""

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

# A request that cannot get a connection in this long fails with 503 instead
# of hanging its socket: the database is down or the pool is exhausted.
POOL_TIMEOUT = 5.0


def open_pool(url: str, size: int, tcp_timeout: float, name: str = "chat") -> ConnectionPool:
    """A pool of at most `size` connections to `url` whose rows are dicts, opened
    without waiting (a worker boots even while PostgreSQL is restarting;
    /readyz says 503 until it answers). `tcp_timeout` is in seconds."""
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=size,
        kwargs={"row_factory": dict_row, **tcp_options(tcp_timeout)},
        # A connection broken by a PostgreSQL restart is noticed on checkout
        # and replaced, instead of failing the request that drew it.
        check=ConnectionPool.check_connection,
        timeout=POOL_TIMEOUT,
        name=name,
        open=False,
    )
    pool.open(wait=False)
    return pool


def tcp_options(timeout: float) -> dict:
    """libpq options that make a silently dead TCP connection fail instead of hang
    (ignored on Unix sockets). `timeout` is in seconds."""
    return {
        "keepalives": 1,
        "keepalives_idle": max(1, int(timeout / 2)),
        "keepalives_interval": max(1, int(timeout / 6)),
        "keepalives_count": 3,
        "tcp_user_timeout": int(timeout * 1000),
    }
