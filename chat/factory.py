"""The chat application factory: `create_app()` builds the Flask app of one
gunicorn worker (or of a `flask --app app ...` command).

Only gunicorn workers import this module, after gevent has patched them: it
imports psycopg, which must first be imported there to pick its gevent-aware
wait functions (the master imports only chat.config, chat.serverlog and
chat.storage.pgserver; the import contracts in pyproject.toml keep it so).
"""

import logging
import threading

import psycopg
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from chat import cli, config, serverlog
from chat.storage import migrate, pgserver
from chat.web import (
    api,
    auth,
    avatars,
    errors,
    export,
    files,
    headers,
    health,
    inputs,
    limits,
    lookup,
    metrics,
    outgoing,
    reference,
    requestlog,
    rooms,
    search,
    settings,
    sockets,
    thread_pages,
    threads,
    webhooks,
    worker,
)
from chat.web.forms import csrf


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: config from the environment, database, blueprints, extensions."""
    app = Flask(
        __name__,
        instance_path=str(config.INSTANCE_PATH),
        template_folder=str(config.ROOT / "templates"),
        static_folder=str(config.ROOT / "static"),
    )
    app.config.from_mapping(config.load())
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        MIGRATE_ON_START=True,
    )
    if test_config:
        app.config.update(test_config)
    if not logging.getLogger().handlers:  # a `flask` command; gunicorn configured its own
        serverlog.configure(config.value("LOG_FORMAT"), config.value("LOG_LEVEL"))

    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = pgserver.ensure_running(config.embedded_pgdata())
    if app.config["MIGRATE_ON_START"]:
        _migrate_or_wait(app)

    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    errors.init_app(app)  # one mapping of errors to pages, JSON and plain text
    limits.init_app(app)  # first: its hook reads the body before CSRF parses it
    inputs.init_app(app)  # then every string of the request is checked, before any view
    worker.init_app(app)
    csrf.init_app(app)
    auth.init_app(app)
    rooms.init_app(app)
    api.init_app(app)
    outgoing.init_app(app)
    threads.init_app(app)
    thread_pages.init_app(app)
    settings.init_app(app)
    webhooks.init_app(app)
    avatars.init_app(app)
    search.init_app(app)
    export.init_app(app)
    files.init_app(app)
    lookup.init_app(app)
    reference.init_app(app)
    sockets.init_app(app)
    health.init_app(app)
    metrics.init_app(app)
    headers.init_app(app)
    requestlog.init_app(app)
    cli.init_app(app)
    return app


def _migrate_or_wait(app: Flask) -> None:
    """Apply migrations; if PostgreSQL is down, keep serving 503s and retry."""
    try:
        migrate.migrate(app.config["DATABASE_URL"])
    except psycopg.OperationalError as exc:
        logging.getLogger(__name__).error(
            "database unavailable at start (%s): /readyz says 503 until it answers", exc
        )
        app.extensions["schema_pending"] = True
        threading.Thread(
            target=migrate.migrate_when_reachable,
            args=(app.config["DATABASE_URL"], lambda: app.extensions.pop("schema_pending")),
            daemon=True,
            name="migrate-retry",
        ).start()


def going_away(app: Flask) -> None:
    """This worker is shutting down: tell every WebSocket client to go (1001)."""
    worker.going_away(app)


def close_app(app: Flask) -> None:
    """Stop the hub's listener and close the pool (a gunicorn worker is exiting)."""
    worker.close(app)
