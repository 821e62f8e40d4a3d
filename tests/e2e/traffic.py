"""Traffic through a fault, and its ledger: senders over the HTTP API and a WebSocket
that retry each message with its client_id until it is acknowledged, readers that
resume with `after` after every close, and the check that the table holds each
message once with gapless seqs (figures appended to test-output/reliability.jsonl,
docs/reliability.md). Used by test_faults_e2e.py and test_nginx_e2e.py.
"""

import json
import threading
import time

import psycopg
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..conftest import make_token, make_user
from ..servers import ROOT, Client, Gunicorn, http

# Three people send at once, two over the HTTP API and one over a WebSocket,
# each retrying a failed send with the same client_id as a real client does.
SENDERS = ("api-1", "api-2", "ws-1")
PER_SENDER = 50
MESSAGES = PER_SENDER * len(SENDERS)


class Sender(threading.Thread):
    """Sends PER_SENDER messages named "<name>-<i>" (content and client_id alike),
    retrying each with its client_id until the server acknowledges it."""

    def __init__(self, server: Gunicorn, name: str, token: str):
        super().__init__(daemon=True, name=name)
        self.server, self.token = server, token
        self.halfway = threading.Event()
        self.retries = 0
        self.acked: list[tuple[int, str]] = []  # (seq, content) as acknowledged
        self._pause = threading.Event()  # never set: a retry delay

    def run(self) -> None:
        for i in range(PER_SENDER):
            if i == PER_SENDER // 2:
                self.halfway.set()
            message = f"{self.name}-{i}"
            while (seq := self.send_once(message)) is None:
                self.retries += 1
                # A restart takes about a second; do not spin while it happens.
                self._pause.wait(0.05)
            self.acked.append((seq, message))

    def send_once(self, message: str) -> int | None:
        """The seq the server acknowledged, or None if this try failed."""
        raise NotImplementedError


class ApiSender(Sender):
    def send_once(self, message: str) -> int | None:
        if not hasattr(self, "session"):
            self.session = http()
            self.session.headers["Authorization"] = f"Bearer {self.token}"
            # nginx's TLS edge (tests/e2e/test_nginx_e2e.py): trust its certificate.
            self.session.verify = getattr(self.server, "cafile", True)
        try:
            response = self.session.post(
                f"{self.server.url}/api/rooms/general/messages",
                json={"content": message, "client_id": message},
                timeout=10,
            )
        except OSError:
            return None
        if response.status_code in (200, 201):
            return response.json()["seq"]
        return None


class SocketSender(Sender):
    """Sends over /ws/general; reconnects when the socket goes (1001, 1013, a killed
    worker) and resends the message that had no ack yet."""

    client: Client | None = None

    def send_once(self, message: str) -> int | None:
        try:
            if self.client is None:
                self.client = Client.open(self.server, "general", self.token)
            self.client.send({"type": "chat", "content": message, "client_id": message})
            while True:
                frame = self.client.recv(timeout=15)
                if frame.get("client_id") != message:
                    continue  # chats, presence, acks of nothing of ours
                if frame["type"] == "ack":
                    return frame["seq"]
                if frame["type"] == "error":
                    assert frame["code"] == "unavailable", frame
                    return None
        except (OSError, InvalidStatus, ConnectionClosed):
            self.client = None
            return None


def table_seqs(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT m.seq, m.content FROM messages m JOIN rooms r ON r.id = m.room_id "
            "WHERE r.name = 'general' ORDER BY m.seq"
        ).fetchall()


def record(fault: str, senders: list[Sender], stored: list, transcripts: list[list]) -> None:
    """Append this fault's figures to test-output/reliability.jsonl (docs/reliability.md)."""
    stored_set = set(stored)
    acked = [pair for sender in senders for pair in sender.acked]
    figures = {
        "fault": fault,
        "senders": len(senders),
        "sent": MESSAGES,
        "acked": len(acked),
        "retries": sum(sender.retries for sender in senders),
        "stored": len(stored),
        "receivers": len(transcripts),
        "delivered": sum(len(t) for t in transcripts),
        "lost": sum(len(stored_set - set(t)) for t in transcripts),
        "duplicated": sum(len(t) - len(set(t)) for t in transcripts),
        # Told "stored as seq N" while seq N holds something else, or nothing.
        "false_acks": len(set(acked) - stored_set),
    }
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    with open(out / "reliability.jsonl", "a") as f:
        f.write(json.dumps(figures) + "\n")
    print(figures)
    assert figures["acked"] == MESSAGES and figures["false_acks"] == 0


def send_through(server, tokens: dict[str, str], fault) -> list[Sender]:
    """Every sender sends, with `fault()` once all are halfway; returns them finished."""
    senders = [
        (SocketSender if name.startswith("ws") else ApiSender)(server, name, tokens[name])
        for name in SENDERS
    ]
    for sender in senders:
        sender.start()
    for sender in senders:
        assert sender.halfway.wait(60)
    fault()
    for sender in senders:
        sender.join(180)
        assert not sender.is_alive()
    return senders


def check_table(stored: list) -> None:
    """Gapless seqs holding each sent message once."""
    assert [seq for seq, _ in stored] == list(range(1, MESSAGES + 1))
    expected = sorted(f"{name}-{i}" for name in SENDERS for i in range(PER_SENDER))
    assert sorted(content for _, content in stored) == expected


class ResumingReader(threading.Thread):
    """A client that reconnects after every close, resuming with `after`."""

    def __init__(self, server: Gunicorn, token: str, until: int):
        super().__init__(daemon=True)
        self.server, self.token, self.until = server, token, until
        self.seen: list[tuple[int, str]] = []
        self.closes: list[int] = []

    def run(self) -> None:
        deadline = time.monotonic() + 180
        while (not self.seen or self.seen[-1][0] < self.until) and time.monotonic() < deadline:
            after = self.seen[-1][0] if self.seen else 0
            try:
                client = Client.open(self.server, "general", self.token, after=after)
            except (OSError, InvalidStatus):
                time.sleep(0.1)  # the server is between workers: retry as a browser would
                continue
            try:
                while not self.seen or self.seen[-1][0] < self.until:
                    frame = client.recv(timeout=30)
                    if frame["type"] == "chat":
                        self.seen.append((frame["seq"], frame["content"]))
                client.close()
            except ConnectionClosed as exc:
                self.closes.append(exc.rcvd.code if exc.rcvd else None)


def readers_through(server, db, fault, readers: int = 4):
    """Resuming readers and the senders; `fault()` halfway through the sending."""
    tokens = {name: make_token(db, make_user(db, name)) for name in ("reader", *SENDERS)}
    started = [ResumingReader(server, tokens["reader"], MESSAGES) for _ in range(readers)]
    for reader in started:
        reader.start()
    senders = send_through(server, tokens, fault)
    for reader in started:
        reader.join(180)
    return senders, started
