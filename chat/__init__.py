"""The chat application factory.

Nothing here imports psycopg at module level: the gunicorn master imports this
package's config and pgserver modules, and psycopg must first be imported in
the (gevent-patched) workers to pick its gevent-aware wait functions.
"""

import logging

from flask import Flask

# Greppable by worker pid and module, like gunicorn's own lines.
LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: config from the environment, database, blueprints, extensions."""
    from . import config

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
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)

    if not app.config["DATABASE_URL"]:
        from . import pgserver

        app.config["DATABASE_URL"] = pgserver.ensure_running(config.embedded_pgdata())
    if app.config["MIGRATE_ON_START"]:
        _migrate_or_wait(app)

    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    app.config["SOCK_SERVER_OPTIONS"] = {
        "ping_interval": app.config["WS_PING_INTERVAL"] or None,
        "max_message_size": app.config["WS_MAX_FRAME_BYTES"],
    }

    from . import (
        api,
        auth,
        bots,
        db,
        export,
        headers,
        health,
        inputs,
        limits,
        metrics,
        rooms,
        search,
        ws,
    )
    from .errors import init_app as init_errors
    from .forms import csrf

    init_errors(app)  # one mapping of errors to pages, JSON and plain text
    limits.init_app(app)  # first: its hook reads the body before CSRF parses it
    inputs.init_app(app)  # then every string of the request is checked, before any view
    db.init_app(app)
    csrf.init_app(app)
    auth.init_app(app)
    rooms.init_app(app)
    api.init_app(app)
    search.init_app(app)
    export.init_app(app)
    ws.init_app(app)
    health.init_app(app)
    metrics.init_app(app)
    headers.init_app(app)
    bots.init_app(app)
    return app


def _migrate_or_wait(app: Flask) -> None:
    """Apply migrations; if PostgreSQL is down, keep serving 503s and retry."""
    import threading

    import psycopg

    from . import migrate

    try:
        migrate.migrate(app.config["DATABASE_URL"])
    except psycopg.OperationalError as exc:
        logging.getLogger(__name__).error(
            "database unavailable at start (%s): /healthz says 503 until it answers", exc
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
    from . import ws

    ws.going_away(app)


def close_app(app: Flask) -> None:
    """Stop the hub's listener and close the pool (a gunicorn worker is exiting)."""
    from . import db, ws

    ws.stop_realtime(app)
    db.close(app)
