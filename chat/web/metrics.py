"""GET /metrics: Prometheus text format, every worker's values added up.

With several workers each process writes its values (chat/metrics.py) to files
in PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py makes a fresh one per run) and a
scrape, answered by any worker, adds them up. Without it (tests, `flask run`)
the process's own registry is served.
"""

import hmac
import ipaddress
import os

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

bp = Blueprint("metrics", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def allowed() -> bool:
    """METRICS_TOKEN as a Bearer token when set; otherwise only from this machine.

    Behind nginx the client's address is the one nginx reports (TRUSTED_PROXIES),
    so the public reaches /metrics only if the operator hands out the token.
    """
    token = current_app.config["METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode(), token.encode())
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.route("/metrics")
def metrics():
    """Prometheus text format: every worker's values added up."""
    if not allowed():
        abort(404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
