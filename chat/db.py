"""Connection plumbing: one psycopg pool per process, transactions, the `migrate` command."""

import logging

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from . import migrate as migrations

log = logging.getLogger(__name__)

# A request that cannot get a connection in this long fails with 503 instead
# of hanging its socket: the database is down or the pool is exhausted.
POOL_TIMEOUT = 5.0


def init_app(app: Flask) -> None:
    """Open this process's pool (lazily connecting) and register the CLI command."""
    pool = ConnectionPool(
        app.config["DATABASE_URL"],
        min_size=1,
        max_size=app.config["DB_POOL_SIZE"],
        kwargs={"row_factory": dict_row, **tcp_options(app.config["DB_TCP_TIMEOUT"])},
        # A connection broken by a PostgreSQL restart is noticed on checkout
        # and replaced, instead of failing the request that drew it.
        check=ConnectionPool.check_connection,
        timeout=POOL_TIMEOUT,
        name="chat",
        open=False,
    )
    # wait=False: a worker boots even while PostgreSQL is restarting; /healthz says 503.
    pool.open(wait=False)
    app.extensions["db_pool"] = pool
    app.cli.add_command(migrate_command)


def tcp_options(timeout: float) -> dict:
    """libpq options that make a silently dead TCP connection fail instead of hang
    (ignored on Unix sockets)."""
    return {
        "keepalives": 1,
        "keepalives_idle": max(1, int(timeout / 2)),
        "keepalives_interval": max(1, int(timeout / 6)),
        "keepalives_count": 3,
        "tcp_user_timeout": int(timeout * 1000),
    }


def pool() -> ConnectionPool:
    """The current application's pool."""
    return current_app.extensions["db_pool"]


def connection():
    """A pooled connection as a transaction: commits on success, rolls back on error."""
    return pool().connection()


def close(app: Flask) -> None:
    """Close the pool; called when a worker exits."""
    pool_ = app.extensions.get("db_pool")
    if pool_ is not None:
        pool_.close()


def ping() -> bool:
    """Whether the database answers a trivial query right now."""
    try:
        with pool().connection(timeout=2.0) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception as exc:  # any failure means "not healthy"; say why in the log
        log.warning("database health check failed: %s", exc)
        return False


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Apply pending schema migrations."""
    applied = migrations.migrate(current_app.config["DATABASE_URL"])
    click.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
