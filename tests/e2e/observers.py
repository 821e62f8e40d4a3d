"""Watching a running server from outside, for tests/e2e/test_defaults_e2e.py.

Clients that see what ordinary ones hide (a ping frame, a trickled body, raw
keep-alive exchanges), a LISTEN of our own for the workers' self-NOTIFY, a
sampler of pg_stat_activity, and an audit trigger that records the server's
and the bot's changes to `workers` and `bot_jobs` with the changing
transaction's now(): heartbeats, reaps, claims and retries in the database's
own time, so their intervals are read exactly instead of timed.
"""

import re
import socket
import threading
import time

import psycopg
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ..quotes import QuoteServer
from ..raw_ws import RawClient
from ..servers import FRAME_TIMEOUT, Client, http

# Installed in the module's database before the server starts.
AUDIT_SQL = """
CREATE TABLE defaults_audit (
    at  timestamptz NOT NULL DEFAULT now(),
    tbl text NOT NULL,
    op  text NOT NULL,
    old jsonb,
    new jsonb
);
CREATE FUNCTION defaults_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO defaults_audit (tbl, op, old, new)
    VALUES (TG_TABLE_NAME, TG_OP, to_jsonb(OLD), to_jsonb(NEW));
    RETURN NULL;
END $$;
CREATE TRIGGER defaults_audit AFTER UPDATE OR DELETE ON workers
    FOR EACH ROW EXECUTE FUNCTION defaults_audit();
CREATE TRIGGER defaults_audit AFTER UPDATE ON bot_jobs
    FOR EACH ROW EXECUTE FUNCTION defaults_audit();
"""


def wait_until(condition, what: str, timeout: float = 30.0, stop=None):
    """Poll `condition` (a row, a file: no event to await) until it is truthy."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline or (stop is not None and stop.is_set()):
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


class TimedQuoteServer(QuoteServer):
    """The local quote service, noting when each request arrived."""

    def __init__(self):
        super().__init__()
        self.arrivals: list[tuple[str, float]] = []

    def answer(self, symbol: str):
        self.arrivals.append((symbol, time.monotonic()))
        return super().answer(symbol)


def first_listen_probe(url: str, listening: threading.Event, stop: threading.Event) -> float:
    """Wall-clock time of the first LISTEN heartbeat (a worker's self-NOTIFY `ping`)."""
    deadline = time.monotonic() + 60
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LISTEN chat_control")
        listening.set()
        while time.monotonic() < deadline and not stop.is_set():
            for note in conn.notifies(timeout=1.0):
                if note.payload.startswith("ping "):
                    return time.time()
    raise AssertionError("no LISTEN heartbeat within 60 s")


def first_ping(server, token: str) -> float:
    """Seconds from the upgrade to the server's first ping."""
    raw = RawClient.open(server, "/ws/general", token)  # it never answers pings
    opened = time.monotonic()
    deadline = opened + 60
    try:
        while (frame := raw.frame(deadline)) is not None and frame[0] != 0x9:
            pass
        assert frame is not None, "the server closed the socket before its first ping"
        return time.monotonic() - opened
    finally:
        raw.close()


def slow_body(server) -> tuple[bytes, float]:
    """A POST whose body trickles in a byte every half second: the answer, and
    the seconds from the head to it."""
    head = (
        b"POST /login HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as sock:
        sock.sendall(head)
        sent = time.monotonic()
        answer = b""
        while time.monotonic() - sent < 40:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                sock.sendall(b"p")  # the next byte, half a second after the last
                continue
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer:
                break
        return answer, time.monotonic() - sent


def bot_idle_polls(url: str, pool_name: str, interval: float, stop: threading.Event) -> list[float]:
    """When the bot last used its database pool, sampled from pg_stat_activity (the
    bot's pool connections carry `pool_name`): each look at the queue is a burst
    of statements, and an idle bot makes one per poll interval. Sampled until a
    gap of about `interval` was seen (or 100 s passed: on a loaded machine the
    boot's two requests and their retries keep the bot busy for longer)."""
    starts: list[float] = []
    deadline = time.monotonic() + 100
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline and not stop.is_set():
            (start,) = conn.execute(
                "SELECT extract(epoch FROM max(query_start))::float8 FROM pg_stat_activity"
                " WHERE application_name = %s",
                (pool_name,),
            ).fetchone()
            if start is not None and start not in starts:
                starts.append(start)
                if len(starts) > 1 and starts[-1] - starts[-2] >= interval - 0.1:
                    return starts
            time.sleep(0.1)  # sampling pg_stat_activity: there is no event to await
    return starts


def open_mux(server, token: str) -> Client:
    """A connection to /ws, which follows no room until it sends `join`."""
    return Client.connect(server, "/ws", token)


def expect(client: Client, timeout: float = FRAME_TIMEOUT, **fields) -> dict:
    """The first frame having all `fields` (others are dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = client.recv(max(0.01, deadline - time.monotonic()))
        if all(frame.get(k) == v for k, v in fields.items()):
            return frame


def refused_upgrade(server, token: str | None, path: str = "/ws/general", **headers) -> int:
    """The status of an upgrade the server refuses (before any 101)."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    with pytest.raises(InvalidStatus) as caught:
        connect(
            f"{server.ws_url}{path}",
            additional_headers=headers,
            open_timeout=FRAME_TIMEOUT,
            proxy=None,
        )
    return caught.value.response.status_code


def raw_exchange(server, requests_: list[bytes]) -> list[bytes]:
    """Send HTTP/1.1 requests one after another on one connection; their raw answers."""
    answers = []
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        buffer = b""
        for request in requests_:
            sock.sendall(request)
            while b"\r\n\r\n" not in buffer:
                buffer += sock.recv(65536)
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            while len(buffer) < length:
                buffer += sock.recv(65536)
            answers.append(head + b"\r\n\r\n" + buffer[:length])
            buffer = buffer[length:]
    return answers


def csrf_session(server):
    """A requests session holding a login page's CSRF token."""
    session = http()
    page = session.get(f"{server.url}/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return session, token


def login_status(server, session, token, username, password, **headers) -> int:
    return session.post(
        f"{server.url}/login",
        data={"csrf_token": token, "username": username, "password": password},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    ).status_code
