"""Configuration: every setting comes from the environment, read here and only here.

The README's configuration table lists each variable; keep the two in step.
This module must stay importable without psycopg (the gunicorn master reads it).
"""

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_PATH = ROOT / "instance"


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def secret_key(instance_path: Path = INSTANCE_PATH) -> str:
    """SECRET_KEY from the environment, else one generated once and kept on disk.

    Every worker and every restart must sign sessions with the same key, so the
    generated key is written with O_EXCL: the first process to get there wins
    and the others read its key.
    """
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    path = instance_path / "secret_key"
    instance_path.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            key = path.read_text().strip()
            if key:
                return key
            # Another process created the file an instant ago and is writing it.
            import time

            time.sleep(0.01)
        raise SystemExit(f"{path} is empty: delete it or set SECRET_KEY") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def embedded_pgdata(instance_path: Path = INSTANCE_PATH) -> Path:
    """Where the embedded PostgreSQL keeps its data when DATABASE_URL is unset."""
    return Path(os.environ.get("PGDATA_DIR") or instance_path / "pgdata")


def load(instance_path: Path = INSTANCE_PATH) -> dict:
    """The application's settings as Flask config keys."""
    origins = os.environ.get("ALLOWED_ORIGINS", "")
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL") or None,
        "SECRET_KEY": secret_key(instance_path),
        "ALLOWED_ORIGINS": [o.strip().rstrip("/").lower() for o in origins.split(",") if o.strip()],
        # Connections per worker to PostgreSQL, besides its one LISTEN connection.
        # Sends hold one for a single short transaction, so 10 serves thousands of sockets.
        "DB_POOL_SIZE": _int("DB_POOL_SIZE", 10, minimum=1),
        # A 64 KiB frame holds a maximum-length message 4x over in UTF-8 with JSON
        # around it; anything bigger is not a chat message and is closed with 1009.
        "WS_MAX_FRAME_BYTES": _int("WS_MAX_FRAME_BYTES", 64 * 1024, minimum=1024),
        # Long enough for a page of text, short enough to render and store cheaply.
        "MAX_MESSAGE_CHARS": _int("MAX_MESSAGE_CHARS", 4000, minimum=1),
        # Under nginx's 60 s default proxy_read_timeout, so idle sockets stay open.
        "WS_PING_INTERVAL": _float("WS_PING_INTERVAL", 25.0),
        # Frames waiting for one slow client before it is dropped with 1013: about
        # 10 s of a busy room, a few hundred KB at most per connection.
        "OUTBOUND_QUEUE": _int("OUTBOUND_QUEUE", 1000, minimum=10),
        "HISTORY_PAGE_SIZE": 50,
        # How many reverse proxies (nginx) stand in front: their X-Forwarded-For,
        # -Proto and -Host are believed, nobody else's. 0 (direct) ignores them all.
        "TRUSTED_PROXIES": _int("TRUSTED_PROXIES", 0),
        # /ws/_echo, for WebSocket conformance testing (make autobahn) only.
        "WS_ECHO": _flag("WS_ECHO"),
        # Behind TLS (nginx terminating https) cookies must be Secure; plain
        # http on a developer machine could not log in with them.
        "SESSION_COOKIE_SECURE": _flag("COOKIE_SECURE"),
        "REMEMBER_COOKIE_SECURE": _flag("COOKIE_SECURE"),
        # DESIGN §5: a person types a few messages a second at most; bursts
        # cover pastes and reconnect resends. 0 turns the limit off (benchmarks).
        "RATE_LIMIT_PER_SEC": _float("RATE_LIMIT_PER_SEC", 20.0),
        "RATE_LIMIT_BURST": _int("RATE_LIMIT_BURST", 60, minimum=1),
        # Open sockets one user may hold on one worker: tabs and devices, not a botnet.
        "MAX_SOCKETS_PER_USER": _int("MAX_SOCKETS_PER_USER", 20, minimum=1),
        # HTTP bodies: a message is at most 16 KB of UTF-8; forms are smaller.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 256 * 1024, minimum=1024),
        # /metrics for Prometheus: with a token, to anyone who sends it as a
        # Bearer token; without one, only to requests from this machine.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        # Group commit (chat/writer.py): each worker writes the sends that queue
        # while its previous batch commits in one transaction. 0 writes every
        # message in its own transaction (the benchmarks' naive baseline).
        "WRITE_BATCH": os.environ.get("WRITE_BATCH", "1").strip() != "0",
        # A request body must arrive whole within this many seconds (slow POSTs);
        # a form or a message is a few KB, so even a bad phone link manages.
        "REQUEST_BODY_TIMEOUT": _float("REQUEST_BODY_TIMEOUT", 15.0),
        # Rooms one /ws connection may follow at once: a sidebar's worth.
        "MAX_ROOMS_PER_CONNECTION": _int("MAX_ROOMS_PER_CONNECTION", 100, minimum=1),
        # One "is typing" per user per room per this many seconds is plenty for
        # an indicator that clients show for a few seconds.
        "TYPING_INTERVAL": _float("TYPING_INTERVAL", 2.0),
        # Presence: each worker refreshes its heartbeat this often, and a worker
        # silent for PRESENCE_TIMEOUT is dead; its users leave within
        # PRESENCE_TIMEOUT + PRESENCE_HEARTBEAT (40 s by default).
        # Login throttling, shared by every worker and host (kept in PostgreSQL):
        # failed logins per account and per client address in a window. Ten
        # tries is plenty for a person; a guesser gets ten per window.
        "LOGIN_FAILURES_PER_USER": _int("LOGIN_FAILURES_PER_USER", 10, minimum=1),
        # Higher: many people can share one address (an office, a NAT).
        "LOGIN_FAILURES_PER_ADDRESS": _int("LOGIN_FAILURES_PER_ADDRESS", 50, minimum=1),
        "LOGIN_WINDOW_SECONDS": _int("LOGIN_WINDOW_SECONDS", 900, minimum=1),
        # A LISTEN connection that has heard nothing this long is probed, and a
        # TCP connection to PostgreSQL whose data goes unacknowledged for
        # DB_TCP_TIMEOUT seconds is dropped: together they notice a silent
        # network partition (no FIN, no RST) within about their sum.
        "LISTEN_PROBE_INTERVAL": _float("LISTEN_PROBE_INTERVAL", 15.0),
        "DB_TCP_TIMEOUT": _float("DB_TCP_TIMEOUT", 10.0),
        "PRESENCE_HEARTBEAT": _float("PRESENCE_HEARTBEAT", 10.0),
        "PRESENCE_TIMEOUT": _float("PRESENCE_TIMEOUT", 30.0),
        # Bots (separate processes, chat/bots). Each wakes on NOTIFY, and also
        # looks at its queue this often: a lost notification (a reconnect)
        # delays an answer by at most this much, for one indexed query.
        "BOT_POLL_INTERVAL": _float("BOT_POLL_INTERVAL", 10.0),
        # A claimed job goes back to the queue after this many seconds without
        # an answer (its bot died). Well above one attempt (STOCK_QUOTE_TIMEOUT
        # and a post), so a live bot's job is never taken from it; short enough
        # that a crash delays its requests by a minute at most.
        "BOT_VISIBILITY_TIMEOUT": _float("BOT_VISIBILITY_TIMEOUT", 60.0),
        # Tries per request before the bot answers with the failure: a blip
        # or a restart of the service is ridden out; an outage is reported.
        "BOT_MAX_ATTEMPTS": _int("BOT_MAX_ATTEMPTS", 3, minimum=1),
        # Wait before the first retry, doubled for each further one (2, 4, ...):
        # long enough for a restarting service, short enough for a person waiting.
        "BOT_RETRY_DELAY": _float("BOT_RETRY_DELAY", 2.0),
        # Where the stock bot gets quotes: stooq's CSV (symbol, date, time,
        # open, high, low, close, volume; h: with a header line). {symbol} is
        # replaced by the lower-case symbol, e.g. aapl.us.
        "STOCK_QUOTE_URL": os.environ.get("STOCK_QUOTE_URL")
        or "https://stooq.com/q/l/?s={symbol}&f=sd2t2ohlcv&h&e=csv",
        # One attempt at a quote, connection and name lookup included: stooq
        # answers in well under a second, and a slow attempt holds up the queue.
        "STOCK_QUOTE_TIMEOUT": _float("STOCK_QUOTE_TIMEOUT", 5.0),
    }
