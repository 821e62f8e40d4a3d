"""Prometheus metrics of this process (served at GET /metrics by chat/web/metrics.py,
summed over every gunicorn worker).

Hot paths touch these once per message or per socket, never per recipient:
a fan-out to a thousand sockets is one `inc(1000)`.
"""

from prometheus_client import Counter, Gauge, Histogram

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
WRITER_BATCHES = Counter(
    "chat_writer_batches",
    "Transactions the group-commit writers committed (messages per batch: "
    "chat_messages_sent over this)",
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
