"""Liveness for load balancers and operators."""

from flask import Blueprint, Flask, current_app, jsonify

from chat.web import worker

bp = Blueprint("health", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.route("/healthz")
def healthz():
    """200 when the database answers, 503 when it does not."""
    if current_app.extensions.get("schema_pending"):
        return jsonify(status="unavailable", database="starting"), 503
    if worker.ping():
        return jsonify(status="ok", database="up")
    return jsonify(status="unavailable", database="down"), 503
