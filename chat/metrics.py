"""Prometheus metrics at GET /metrics, summed over every gunicorn worker.

With several workers each process writes its values to files in
PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py makes a fresh one per run) and a
scrape, answered by any worker, adds them up. Without it (tests, `flask run`)
the process's own registry is served.

Hot paths touch these once per message or per socket, never per recipient:
a fan-out to a thousand sockets is one `inc(1000)`.
"""

import hmac
import ipaddress
import os

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

bp = Blueprint("metrics", __name__)

CONNECTIONS = Gauge(
    "chat_connections_open",
    "WebSocket connections open now",
    multiprocess_mode="livesum",  # a dead worker's sockets stop counting
)
MESSAGES = Counter("chat_messages_sent", "Messages stored (a repeated client_id not counted)")
EVENTS = Counter(
    "chat_message_events", "Edits, deletions and reaction toggles stored (repeats not counted)"
)
DELIVERIES = Counter("chat_deliveries", "Chat frames handed to sockets, live and catch-up")
SLOW_CONSUMERS = Counter(
    "chat_slow_consumer_disconnects", "Sockets closed (1013) for not reading fast enough"
)
CATCH_UP_ROWS = Counter("chat_catchup_rows", "Stored messages sent to joining or resuming clients")
LISTEN_RECONNECTS = Counter(
    "chat_listen_reconnects", "Times a worker's LISTEN connection failed and was reopened"
)
# From just before the sender's NOTIFY (its commit follows) to the frame being
# queued on this worker's sockets. Buckets span a quiet server (about a
# millisecond) to a restart (seconds); the goal is p99 under 100 ms.
NOTIFY_TO_DELIVERY = Histogram(
    "chat_notify_delivery_seconds",
    "Seconds from a message's NOTIFY to its fan-out on a worker (clocks of two hosts apart)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


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
