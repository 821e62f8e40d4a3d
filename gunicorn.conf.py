"""gunicorn settings: `gunicorn -c gunicorn.conf.py app:app` (what `make run` does).

This file runs in the gunicorn master, which must not import psycopg (see
chat/__init__.py); it may start the embedded PostgreSQL, which does not.
"""

import os

from chat import config as chat_config

host = os.environ.get("HOST", "127.0.0.1")
port = os.environ.get("PORT", "8000")
bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]

# gevent: every WebSocket is a greenlet, so one worker holds thousands of them.
worker_class = "gevent"
# At least 2 so that cross-worker fan-out is always exercised; about one per core.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Open sockets per worker; the sandbox and most systems cap a process at
# 20,000-65,536 file descriptors, and each socket also needs a little memory.
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "5000"))
# gevent workers heartbeat from their own loop, so a long-lived WebSocket does
# not count against this; a worker silent this long is stuck and is replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# How long an idle keep-alive connection is kept, and also how long a client
# has to send a whole request head: gunicorn reads each head under this
# deadline, so a slowloris trickling its headers is cut after it. At least 1
# (0 would turn keep-alive off and with it the deadline on the first head).
keepalive = max(1, int(os.environ.get("KEEPALIVE", "5")))
# On TERM/HUP, how long open sockets get before they are cut.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "10"))
# gunicorn 27's runtime control socket is one fixed path per user: two
# instances on one machine (tests, two app hosts) would fight over it.
control_socket_disable = os.environ.get("GUNICORN_CONTROL_SOCKET", "") != "1"
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")


def on_starting(server):
    """Once, in the master: the shared secret key and, if needed, the embedded database."""
    chat_config.secret_key()
    if not os.environ.get("DATABASE_URL"):
        from chat import pgserver

        # Workers inherit the URL, so they connect instead of starting their own.
        os.environ["DATABASE_URL"] = pgserver.ensure_running(chat_config.embedded_pgdata())
        server.log.info("embedded PostgreSQL running in %s", chat_config.embedded_pgdata())


def when_ready(server):
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"Chat is ready: open http://{shown}:{port}/", flush=True)


def post_worker_init(worker):
    """On SIGTERM (shutdown, or the old workers of a SIGHUP reload), close every
    WebSocket with 1001 at once, so clients resume elsewhere instead of hanging
    until graceful_timeout cuts them."""
    import signal

    import gevent

    from chat import going_away

    stop_accepting = worker.handle_exit

    def handle_exit(sig, frame):
        stop_accepting(sig, frame)
        gevent.spawn(going_away, worker.wsgi)

    signal.signal(signal.SIGTERM, handle_exit)


def worker_exit(server, worker):
    """Close the worker's LISTEN loop and pool, so it exits without greenlet noise."""
    app = getattr(worker, "wsgi", None)
    if app is not None:
        from chat import close_app

        close_app(app)
