"""What one gunicorn worker's app holds for all its requests and sockets: the
database pool, the message writer and the real-time service.

All three live in `app.extensions`, created at most once per app under one
lock: the pool when the app is built, the writer on the first send, the
real-time service (its LISTEN connection and presence heartbeat) on the first
socket, so a worker that only serves pages never opens them; the first
/readyz opens its LISTEN connection (a worker is ready when it could serve a
socket).
"""

import logging
import threading

from flask import Flask, current_app
from psycopg_pool import ConnectionPool

from chat.realtime import reader
from chat.realtime.closes import RESTARTING
from chat.realtime.service import Realtime, Settings
from chat.realtime.wire import CLOSE_GRACE
from chat.realtime.writer import SingleWriter, Writer
from chat.storage import db, migrate

log = logging.getLogger(__name__)

# Reentrant: the real-time service is made with the writer, made under the same lock.
_lock = threading.RLock()


def init_app(app: Flask) -> None:
    """Open this worker's pool (connecting lazily)."""
    config = app.config
    app.extensions["db_pool"] = db.open_pool(
        config["DATABASE_URL"], config["DB_POOL_SIZE"], config["DB_TCP_TIMEOUT"]
    )


def pool() -> ConnectionPool:
    """The current app's pool."""
    return current_app.extensions["db_pool"]


def connection():
    """A pooled connection as a transaction: commits on success, rolls back on error."""
    return pool().connection()


def reading():
    """A pooled connection in autocommit, for single-statement reads (db.reading):
    one round trip a statement, no BEGIN and COMMIT around it."""
    return db.reading(pool())


# A readiness probe waits this long at most for a connection or the LISTEN
# loop: a load balancer's probe times out after a few seconds, and a healthy
# worker answers in milliseconds.
READY_WAIT = 2.0


def pending_migrations() -> list[str] | None:
    """The migrations not applied to the database yet; None when it does not answer."""
    try:
        with pool().connection(timeout=READY_WAIT) as conn:
            return migrate.pending(conn)
    except Exception as exc:  # any failure means "not ready"; say why in the log
        log.warning("readiness: the database does not answer: %s", exc)
        return None


def listening() -> bool:
    """Whether this worker's LISTEN connection is up, starting it if this worker
    has not served a socket yet (it then stays up, as after a first socket)."""
    return realtime().hub.listening_within(READY_WAIT)


def writer(app: Flask | None = None) -> Writer | SingleWriter:
    """This worker's writer: batching, or with WRITE_BATCH=0 one transaction per
    message (the benchmarks' naive baseline)."""
    app = app or current_app._get_current_object()
    return _once(app, "writer", lambda: _new_writer(app))


def realtime(app: Flask | None = None) -> Realtime:
    """This worker's hub, presence and sessions, created on the first socket."""
    app = app or current_app._get_current_object()
    return _once(
        app,
        "realtime",
        lambda: Realtime(Settings.from_config(app.config), pool_of(app), writer(app)),
    )


# How long an exiting worker waits for its sockets' closes: each closer gives up
# after CLOSE_GRACE; then the session's cleanup (presence, leaves) needs the pool.
CLOSE_WAIT = 2 * CLOSE_GRACE + 1.0


def pool_of(app: Flask) -> ConnectionPool:
    return app.extensions["db_pool"]


def going_away(app: Flask) -> None:
    """The worker is stopping: every socket is closed with 1001 and no new one
    is accepted. Kept on the app as well: a worker that has not served a
    socket yet has no real-time service, and must still refuse the upgrades
    it accepts while stopping."""
    app.extensions["going_away"] = True
    service = app.extensions.get("realtime")
    if service is not None:
        service.going_away()
    # Sockets of no session (the echo endpoint's), and any a session missed.
    reader.held.going_away(RESTARTING.message)


def is_going_away(app: Flask) -> bool:
    return bool(app.extensions.get("going_away"))


def close(app: Flask) -> None:
    """Stop the real-time service and close the pool (the worker is exiting), once
    the held sockets' closes are through: gunicorn's graceful stop waits for
    request greenlets only, and a held socket has none."""
    if len(reader.held) and not is_going_away(app):  # exiting without a TERM (max_requests)
        going_away(app)
    if not reader.held.wait_closed(CLOSE_WAIT):
        log.warning("exiting with %d sockets still closing", len(reader.held))
    service = app.extensions.get("realtime")
    if service is not None:
        service.stop()
    pool_ = app.extensions.get("db_pool")
    if pool_ is not None:
        pool_.close()


def _new_writer(app: Flask) -> Writer | SingleWriter:
    cls = Writer if app.config["WRITE_BATCH"] else SingleWriter
    return cls(pool_of(app))


def _once(app: Flask, key: str, make):
    with _lock:
        value = app.extensions.get(key)
        if value is None:
            value = app.extensions[key] = make()
    return value
