"""Every close code of docs/protocol.md reaches the client, on both endpoints and
whatever the timing, each driven by its real cause on a real gunicorn.

The racy ones run several times over: a session's close used to be sent from a
greenlet that could lose to flask-sock's own close (1000) when the handler returned.
"""

import json
import os
import signal
import socket
import threading
import time

import psutil
import psycopg
import pytest
from psycopg import conninfo as pg_conninfo
from websockets.exceptions import ConnectionClosed

from chat import actions

from ..conftest import make_token, make_user
from ..raw_ws import TEXT, RawClient, frame
from ..servers import FRAME_TIMEOUT, Client, Gunicorn, PartitionProxy, database_address, http

pytestmark = pytest.mark.e2e

PATHS = ["/ws", "/ws/general"]
# Enough repetitions for a timing-dependent close to show.
LOOPS = 5


def opened(server: Gunicorn, path: str, token: str, join: bool = True) -> Client:
    """A `websockets` client on `path`, in the room `general` (joined on /ws unless
    told not to: a /ws socket may send to a room it has not joined)."""
    client = Client.connect(server, path, token)
    if path == "/ws" and join:
        client.send({"type": "join", "room": "general"})
    if path != "/ws" or join:
        client.until("ready")
    return client


def raw_opened(server: Gunicorn, path: str, token: str, **kwargs) -> RawClient:
    """A hand-written client on `path`, in `general` once its `ready` has been read."""
    raw = RawClient.open(server, path, token, **kwargs)
    if path == "/ws":
        raw.send(frame(TEXT, b'{"type":"join","room":"general"}'))
    deadline = time.monotonic() + FRAME_TIMEOUT
    while True:
        opcode, payload = raw.frame(deadline)
        if opcode == TEXT and json.loads(payload)["type"] == "ready":
            return raw


def chat(content: str, client_id: str) -> dict:
    return {"type": "chat", "room": "general", "content": content, "client_id": client_id}


def stored(db) -> list[str]:
    return [r["content"] for r in db.execute("SELECT content FROM messages ORDER BY seq")]


@pytest.fixture
def person(db):
    """A new account and its API token, each time it is called."""
    count = iter(range(1000))

    def make() -> tuple[dict, str]:
        user = make_user(db, f"user{next(count)}")
        return user, make_token(db, user)

    return make


# --- 1001 -------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_1001_when_the_worker_is_stopped(start_server, person, path):
    server = start_server(workers=2, GRACEFUL_TIMEOUT="30")
    _, token = person()
    for _ in range(LOOPS):
        client = opened(server, path, token)
        worker = psutil.Process(server.worker_of(client.ws))
        os.kill(worker.pid, signal.SIGTERM)
        assert client.close_code() == 1001
        worker.wait(20)  # well before graceful_timeout: its sockets went at once
        # The master replaces it; polling a starting process: no event to await.
        deadline = time.monotonic() + 30
        while len(server.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGQUIT, signal.SIGTERM], ids=lambda s: s.name
)
def test_1001_whichever_way_the_server_is_stopped(start_server, person, path, sig):
    """SIGINT and SIGQUIT make gunicorn quit at once (its workers exit within 0.1 s),
    SIGTERM stops it gracefully: either way every socket is told 1001 first."""
    server = start_server(workers=2)
    _, token = person()
    clients = [opened(server, path, token) for _ in range(4)]
    os.kill(server.proc.pid, sig)
    assert [client.close_code() for client in clients] == [1001] * 4


# --- 1007 -------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_1007_for_a_text_frame_that_is_not_utf8(start_server, person, db, path):
    server = start_server(workers=1)
    _, token = person()
    for i in range(LOOPS):
        raw = raw_opened(server, path, token)
        raw.send(frame(TEXT, b'{"type":"chat","room":"general","content":"caf\xc3\x28"}'))
        assert raw.close_code() == 1007, f"loop {i}"
        raw.close()
    assert stored(db) == []


# --- 1008 -------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_1008_when_the_credential_is_revoked(start_server, person, db, path):
    server = start_server(workers=1)
    _, bystander_token = person()
    bystander = opened(server, path, bystander_token)
    for i in range(LOOPS):
        user, token = person()
        clients = [opened(server, path, token) for _ in range(3)]
        actions.disable_user(db, user.id)
        assert [c.close_code() for c in clients] == [1008] * 3, f"loop {i}"
    bystander.send(chat("still here", "b"))
    _, ack = bystander.until("ack")
    assert ack["client_id"] == "b"


@pytest.mark.parametrize("path", PATHS)
def test_1008_when_pings_go_unanswered(start_server, person, path):
    server = start_server(workers=1, WS_PING_INTERVAL="1")
    _, token = person()
    silent = [raw_opened(server, path, token) for _ in range(LOOPS)]
    for raw in silent:
        assert raw.close_code(timeout=10, answer_pings=False) == 1008
        raw.close()


# --- 1009 -------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_1009_for_a_frame_over_ws_max_frame_bytes(start_server, person, db, path):
    server = start_server(workers=1)
    _, token = person()
    for i in range(LOOPS):
        raw = raw_opened(server, path, token)
        raw.send(frame(TEXT, b"x" * (65536 + 1)))
        assert raw.close_code() == 1009, f"loop {i}"
        raw.close()
    assert stored(db) == []


# --- 1011 -------------------------------------------------------------------------

SQL_FAILING_TRIGGER = """
    CREATE FUNCTION fail_on_boom() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.content = 'boom' THEN
            RAISE EXCEPTION 'a failure nobody expected';
        END IF;
        RETURN NEW;
    END $$;
    CREATE TRIGGER fail_on_boom BEFORE INSERT ON messages
        FOR EACH ROW EXECUTE FUNCTION fail_on_boom();
"""


@pytest.mark.parametrize("path", PATHS)
def test_1011_when_handling_a_frame_fails_unexpectedly(start_server, person, db, path):
    """A trigger raises for one message (psycopg's RaiseException, not a lost database):
    that socket closes with 1011, the others on the same worker go on, and lose nothing.
    The sender on /ws follows no room, so its handler has nothing to leave and returns
    at once: the close it decided must still be the one sent."""
    db.execute(SQL_FAILING_TRIGGER)
    server = start_server(workers=1, RATE_LIMIT_PER_SEC="0")
    _, victim_token = person()
    _, talker_token = person()
    _, watcher_token = person()
    watcher = opened(server, path, watcher_token)
    talker = opened(server, path, talker_token)
    sent = []
    for i in range(LOOPS):
        victim = opened(server, path, victim_token, join=False)
        victim.send(chat("boom", f"boom-{i}"))
        talker.send(chat(f"fine {i}", f"fine-{i}"))
        assert victim.close_code() == 1011, f"loop {i}"
        _, ack = talker.until("ack")
        sent.append((ack["seq"], f"fine {i}"))
    assert stored(db) == [content for _, content in sent]
    got = [(c["seq"], c["content"]) for c in watcher.chats_until_seq(sent[-1][0])]
    assert got == sent
    log = server.log_path.read_text()
    assert log.count("connection failed") == LOOPS and "a failure nobody expected" in log


# --- 1013 -------------------------------------------------------------------------


class CutProxy(PartitionProxy):
    """A proxy to PostgreSQL that can cut every connection through it at once."""

    def cut(self) -> None:
        """The database goes away: new connections are refused, open ones end
        (shut down: closing a socket another thread reads from would not end it)."""
        self.listener.close()
        with self.lock:
            for pair in self.pairs:
                for sock in pair["sockets"]:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass  # already gone


def waiting_on_a_lock(db) -> bool:
    return (
        db.execute(
            "SELECT count(*) AS n FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()["n"]
        > 0
    )


@pytest.mark.parametrize("path", PATHS)
def test_1013_when_the_database_goes_away(start_server, person, db, database_url, path):
    """A join waits on the database, which then goes away (every connection of the
    server to it cut, new ones refused): the socket closes with 1013."""
    proxy = CutProxy(database_address(database_url))
    try:
        proxied = pg_conninfo.make_conninfo(database_url, host="127.0.0.1", port=proxy.port)
        server = start_server(workers=1, database=proxied)
        _, token = person()
        opened(server, path, token).close()  # the worker's pool and presence are up
        # A message, so that a join's catch-up has rows to read (an empty room's has none).
        sent = http().post(
            f"{server.url}/api/rooms/general/messages",
            json={"content": "something to catch up on"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=FRAME_TIMEOUT,
        )
        assert sent.status_code == 201, sent.text
        with psycopg.connect(database_url) as locker:
            # The join's catch-up (and a /ws socket's first frame, its rooms with
            # their unread counts) reads messages: it waits for the lock.
            locker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
            client = opened_without_ready(server, path, token)
            if path == "/ws":
                client.send({"type": "join", "room": "general"})
            deadline = time.monotonic() + FRAME_TIMEOUT
            while not waiting_on_a_lock(db):  # polling PostgreSQL's view: no event to await
                assert time.monotonic() < deadline, "the join never waited on the database"
                time.sleep(0.02)
            proxy.cut()
            assert client.close_code() == 1013
    finally:
        proxy.close()


def opened_without_ready(server: Gunicorn, path: str, token: str) -> Client:
    return Client.connect(server, path, token)


@pytest.mark.parametrize("path", PATHS)
def test_1013_when_a_client_falls_outbound_queue_frames_behind(start_server, person, path):
    """A client that stops reading: once the kernel's buffers and OUTBOUND_QUEUE (10)
    frames are full it is dropped, and when it reads again, behind the frames it
    had, is the close frame 1013."""
    server = start_server(
        workers=1, OUTBOUND_QUEUE="10", RATE_LIMIT_PER_SEC="0", MAX_MESSAGE_CHARS="15000"
    )
    stuck_user, stuck_token = person()
    _, talker_token = person()
    stuck = raw_opened(server, path, stuck_token, rcvbuf=4096)
    talker = opened(server, path, talker_token)
    stop = threading.Event()

    def talk() -> None:
        # 14 KB each: the kernel's buffers (a few MB) fill after a few hundred.
        for i in range(2000):
            if stop.is_set():
                return
            try:
                talker.send(chat(f"{i} " + "x" * 14_000, str(i)))
            except ConnectionClosed:
                return

    sender = threading.Thread(target=talk, daemon=True)
    sender.start()
    dropped = f"dropping slow client {stuck_user.username}"
    deadline = time.monotonic() + 120
    try:
        while dropped not in server.log():  # the log line is the event; read it as it comes
            assert time.monotonic() < deadline, "the client was never dropped"
            time.sleep(0.02)
        assert stuck.close_code(timeout=30) == 1013
    finally:
        stop.set()
        sender.join(30)
    stuck.close()


# --- pings and pongs count too --------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("opcode", [0x9, 0xA], ids=["pings", "pongs"])
def test_a_flood_of_control_frames_is_closed_with_1008(start_server, person, path, opcode):
    """Pings and pongs never reach the session, so they cannot get a rate_limited
    frame: past the burst the connection is closed with 1008, after the burst's
    worth were taken as usual."""
    server = start_server(workers=1, RATE_LIMIT_PER_SEC="0.001", RATE_LIMIT_BURST="20")
    _, token = person()
    raw = raw_opened(server, path, token)
    raw.send(b"".join(frame(opcode, b"x" * 125) for _ in range(1000)))
    assert raw.close_code() == 1008
    raw.close()


@pytest.mark.parametrize("path", PATHS)
def test_control_frames_within_the_rate_are_answered(start_server, person, path):
    server = start_server(workers=1, RATE_LIMIT_PER_SEC="0.001", RATE_LIMIT_BURST="20")
    _, token = person()
    raw = raw_opened(server, path, token)
    raw.send(b"".join(frame(0x9, b"%d" % i) for i in range(20)))
    deadline = time.monotonic() + FRAME_TIMEOUT
    pongs = []
    while len(pongs) < 20:
        opcode, payload = raw.frame(deadline)
        if opcode == 0xA:
            pongs.append(payload)
    assert pongs == [b"%d" % i for i in range(20)]
    raw.close()
