"""gunicorn settings: `gunicorn -c gunicorn.conf.py app:app` (what `make run` does).

This file runs in the gunicorn master, which must not import psycopg (see
chat/factory.py); it may start the embedded PostgreSQL, which does not.
"""

import os

from chat import config as chat_config
from chat.serverlog import ContextFilter, Logger, RefusedRequestFilter, formatter

# Every value an operator sets, with its default and the reason for it, is a
# row of chat/config.py's SETTINGS (the README's configuration table).
host = chat_config.value("HOST")
port = chat_config.value("PORT")
bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]

# gevent: every WebSocket is a greenlet, so one worker holds thousands of them.
worker_class = "gevent"
workers = chat_config.value("WEB_CONCURRENCY")
worker_connections = chat_config.value("WORKER_CONNECTIONS")
timeout = chat_config.value("GUNICORN_TIMEOUT")
keepalive = chat_config.value("KEEPALIVE")
graceful_timeout = chat_config.value("GRACEFUL_TIMEOUT")
control_socket_disable = not chat_config.value("GUNICORN_CONTROL_SOCKET")
loglevel = chat_config.value("LOG_LEVEL")
# text (the line below) or json (one object per line); read by chat.factory too.
_log_format = chat_config.value("LOG_FORMAT")


logger_class = Logger

# What gunicorn refuses itself while reading a request, before the app runs, in
# its own HTML whatever the path (docs/protocol.md lists these answers; the app's
# JSON error shape cannot be given to them). Set here, to gunicorn's own values,
# so that what the documentation promises is what runs:
# - the request line (method, path, query) up to 4,094 bytes, else 414: a room
#   name, a search and a `before`/`after` cursor fit many times over;
limit_request_line = 4094
# - at most 100 header fields, else 431: a browser sends about 15;
limit_request_fields = 100
# - each header field up to 8,190 bytes, else 431: room for the session and
#   remember cookies, whose size is fixed by us.
limit_request_field_size = 8190


# ACCESS_LOG unset: no access log at all (nothing is logged per request);
# `-`: stdout, in the one format below; a path: that file.
accesslog = chat_config.value("ACCESS_LOG")
# Client address, method, path without its query string, status, bytes sent,
# milliseconds. No query string, Referer (the previous page's URL, search words
# and all) or User-Agent.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
# One format on stdout for gunicorn's lines and the app's: time, level, pid,
# logger, message, so `grep '\[12345\]'` follows one worker and
# `grep chat.realtime.client` every connect and disconnect (or the same as
# JSON, with the request, user and room where known: LOG_FORMAT=json).
_handlers = {
    "stdout": {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
        "formatter": "chat",
        "filters": ["refused_request", "context"],
    }
}
if accesslog not in (None, "-"):
    # Watched: reopened when logrotate moves the file.
    _handlers["access_file"] = {
        "class": "logging.handlers.WatchedFileHandler",
        "filename": accesslog,
        "formatter": "chat",
        "filters": ["context"],
    }
_access = {
    # INFO whatever LOG_LEVEL says: an operator who asked for an access log gets it.
    "handlers": {None: [], "-": ["stdout"]}.get(accesslog, ["access_file"]),
    "level": "INFO",
    "propagate": False,
}
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"chat": formatter(_log_format)},
    # On the handler, not a logger: gunicorn.http.* log without gunicorn.error.
    "filters": {
        "refused_request": {"()": RefusedRequestFilter},
        "context": {"()": ContextFilter},
    },
    "handlers": _handlers,
    "root": {"handlers": ["stdout"], "level": loglevel.upper()},
    "loggers": {
        "gunicorn.error": {"handlers": ["stdout"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": _access,
    },
}


def on_starting(server):
    """Once, in the master: the shared secret key, the metrics directory and, if
    needed, the embedded database."""
    chat_config.secret_key()
    _metrics_directory()
    if not chat_config.value("DATABASE_URL"):
        from chat.storage import pgserver

        # Workers inherit the URL, so they connect instead of starting their own.
        os.environ["DATABASE_URL"] = pgserver.ensure_running(chat_config.embedded_pgdata())
        server.log.info("embedded PostgreSQL running in %s", chat_config.embedded_pgdata())


def _metrics_directory() -> None:
    """Workers write their metrics to files here and /metrics adds them up. Files
    left by an earlier run would be added too, so the directory starts empty:
    a fresh temporary one, or the operator's PROMETHEUS_MULTIPROC_DIR emptied."""
    import tempfile
    from pathlib import Path

    given = chat_config.value("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
    else:
        # Workers inherit the variable; on_exit removes the directory.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="chat-metrics-")
        os.environ["CHAT_OWN_METRICS_DIR"] = "1"


def child_exit(server, worker):
    """A worker is gone (stopped, reloaded, killed): its open-connection gauge with it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if os.environ.pop("CHAT_OWN_METRICS_DIR", None):
        import shutil

        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def when_ready(server):
    """The settings gunicorn runs with, as one line named like the README's
    variables (what an operator and tests/e2e/test_defaults_e2e.py read), then
    where it listens. Not "ready": the workers start next, and each applies the
    migrations before it serves (`make run` says "Chat is ready" once /readyz
    answers 200: chat/run.py)."""
    cfg = server.cfg
    server.log.info(
        "settings: HOST:PORT=%s WEB_CONCURRENCY=%d WORKER_CONNECTIONS=%d GUNICORN_TIMEOUT=%d"
        " GRACEFUL_TIMEOUT=%d KEEPALIVE=%d LOG_LEVEL=%s LOG_FORMAT=%s ACCESS_LOG=%s"
        " GUNICORN_CONTROL_SOCKET=%s",
        ",".join(cfg.bind),
        cfg.workers,
        cfg.worker_connections,
        cfg.timeout,
        cfg.graceful_timeout,
        cfg.keepalive,
        cfg.loglevel,
        _log_format,
        cfg.accesslog or "off",
        "off" if cfg.control_socket_disable else cfg.control_socket,
    )
    server.log.info("listening on %s; workers starting", ",".join(cfg.bind))


def post_worker_init(worker):
    """Log the settings the worker's app runs with; on SIGTERM (shutdown, or the
    old workers of a SIGHUP reload), close every WebSocket with 1001 at once, so
    clients resume elsewhere instead of hanging until graceful_timeout cuts them."""
    import signal

    import gevent

    from chat.factory import going_away

    stop_accepting = worker.handle_exit

    def handle_exit(sig, frame):
        stop_accepting(sig, frame)
        gevent.spawn(going_away, worker.wsgi)

    signal.signal(signal.SIGTERM, handle_exit)
    worker.log.info("app settings: %s", _app_settings(worker.wsgi.config))


def worker_int(worker):
    """SIGINT or SIGQUIT (a quick stop: gunicorn's master got SIGINT or SIGQUIT, or a
    terminal's Ctrl-C reached the worker): the worker exits within 0.1 s, so close
    every WebSocket with 1001 first; clients resume elsewhere with `after`."""
    app = getattr(worker, "wsgi", None)
    if app is not None:
        from chat.factory import going_away

        going_away(app)


def _app_settings(app_config) -> str:
    """The worker app's effective numeric and on/off settings (chat/config.py's
    keys), e.g. `WS_PING_INTERVAL=25.0`. Strings are left out: they are
    secrets (SECRET_KEY, DATABASE_URL, METRICS_TOKEN) or URLs."""
    names = chat_config.load().keys()
    return " ".join(
        f"{name}={app_config[name]}"
        for name in sorted(names)
        if type(app_config.get(name)) in (int, float, bool)
    )


def worker_exit(server, worker):
    """Close the worker's LISTEN loop and pool, so it exits without greenlet noise."""
    app = getattr(worker, "wsgi", None)
    if app is not None:
        from chat.factory import close_app

        close_app(app)
