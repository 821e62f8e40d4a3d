"""Liveness and readiness, for process supervisors, load balancers and operators.

`/healthz` is liveness: the worker process answers (restart it if it does
not). `/readyz` is readiness: this worker can serve every route and socket
now (send it traffic only if it does); a worker that is alive but not ready,
say while PostgreSQL restarts, heals by itself and must not be restarted.
"""

from flask import Blueprint, Flask, current_app, jsonify

from chat.web import worker

bp = Blueprint("health", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.route("/healthz")
def healthz():
    """200 whenever the process answers; nothing else is asked."""
    return jsonify(status="ok")


@bp.route("/readyz")
def readyz():
    """200 when the migrations are all applied, the pool's database answers and
    the worker's LISTEN connection is up; else 503 with the first reason."""
    if current_app.extensions.get("schema_pending"):
        # The database was down at start; the migrations are being retried.
        return _not_ready("starting", "the database was unavailable at start")
    pending = worker.pending_migrations()
    if pending is None:
        return _not_ready("database_down", "the database does not answer")
    if pending:
        return _not_ready(
            "migrations_pending", "migrations are not applied: flask migrate", pending=pending
        )
    if not worker.listening():
        return _not_ready("listen_down", "the LISTEN connection is not up")
    return jsonify(status="ready")


def _not_ready(reason: str, message: str, **more):
    return jsonify(status="unavailable", reason=reason, message=message, **more), 503
