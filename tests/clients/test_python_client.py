"""The Python client (clients/python, import name `chatclient`) against the real server.

Each test starts a real gunicorn on the test's database and talks to it as a
script would, with an API token. Faults are real too: a TCP proxy between
client and server that loses the answer to a send the server has already
stored, and a gunicorn stopped and started again while a stream is open.
What must hold is checked against the database: one message per send, and
every stored row delivered once, in seq order.
"""

import asyncio
import concurrent.futures
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from chat import actions
from chatclient import (
    ALL,
    AsyncClient,
    AsyncStream,
    AuthError,
    Backoff,
    Client,
    Frame,
    NotFoundError,
    RefusedError,
    Stream,
    StreamClosedError,
    UnavailableError,
)
from chatclient.resume import Resume

from ..conftest import ROOT, make_token, make_user, room_row, send_as
from ..servers import http

pytestmark = pytest.mark.e2e

# Waits short enough that a reconnect or a retry never drags a test out.
QUICK = Backoff(initial=0.05, maximum=0.5, attempts=None)
# Sends that ride out a whole gunicorn restart (boot takes seconds on a loaded machine).
PATIENT = Backoff(initial=0.1, maximum=1.0, attempts=600)
FRAME_TIMEOUT = 30.0

SQL_ROWS = """
    SELECT m.seq, m.content FROM messages m JOIN rooms r ON r.id = m.room_id
    WHERE r.name = %s ORDER BY m.seq
"""


@pytest.fixture
def eren(db) -> dict:
    user = make_user(db, "eren")
    return {"user": user, "token": make_token(db, user)}


def chat_client(server, token: str, **options) -> Client:
    return Client(server.url, token, trust_env=False, **options)


def table(db, room: str = "general") -> list[tuple[int, str]]:
    return [(row["seq"], row["content"]) for row in db.execute(SQL_ROWS, (room,))]


class Follower:
    """Iterates a Stream (or an AsyncStream, in an event loop of its own) on a
    thread of its own, as a script's main loop would, so that the test can
    wait for frames with a deadline and see how the iteration ended."""

    def __init__(self, stream: Stream | AsyncStream) -> None:
        self.stream = stream
        self.frames: queue.Queue = queue.Queue()
        self.ended: BaseException | None = None
        self.done = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.looping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            if isinstance(self.stream, AsyncStream):
                asyncio.run(self._follow(self.stream))
            else:
                for frame in self.stream:
                    self.frames.put(frame)
        except BaseException as exc:  # the test asserts on how the stream ended
            self.ended = exc
        finally:
            self.done.set()

    async def _follow(self, stream: AsyncStream) -> None:
        self.loop = asyncio.get_running_loop()
        self.looping.set()
        async for frame in stream:
            self.frames.put(frame)

    def close(self) -> None:
        """Close the stream from this (another) thread, as a supervisor would."""
        if isinstance(self.stream, AsyncStream):
            assert self.looping.wait(FRAME_TIMEOUT) and self.loop is not None
            asyncio.run_coroutine_threadsafe(self.stream.aclose(), self.loop).result(FRAME_TIMEOUT)
        else:
            self.stream.close()

    def next(self, timeout: float = FRAME_TIMEOUT) -> Frame:
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no frame within {timeout} s (ended: {self.ended!r})") from None

    def until_seq(self, last: int, timeout: float = FRAME_TIMEOUT) -> list[Frame]:
        """Every frame up to the stored one with seq `last`."""
        got: list[Frame] = []
        deadline = time.monotonic() + timeout
        while not got or got[-1].seq is None or got[-1].seq < last:
            got.append(self.next(max(0.01, deadline - time.monotonic())))
        return got

    def until_type(self, kind: str) -> Frame:
        while (frame := self.next()).type != kind:
            pass
        return frame

    def end(self, timeout: float = FRAME_TIMEOUT) -> BaseException | None:
        """Wait for the iteration to end; the exception it ended with."""
        assert self.done.wait(timeout), "the stream did not end"
        return self.ended


# --- rooms and history -------------------------------------------------------------


def test_rooms_list_the_members_rooms_and_history_pages_both_ways(start_server, db, eren):
    server = start_server(workers=1)
    user = eren["user"]
    with chat_client(server, eren["token"]) as chat:
        assert chat.me().username == "eren"
        sent = chat.send("general", "first")  # posting joins a public room
        [room] = chat.rooms()
        assert (room.name, room.title, room.private, room.last_seq) == (
            "general",
            "#general",
            False,
            sent.seq,
        )
        for i in range(2, 231):
            send_as(db, user, f"m{i}")
        edit_seq = actions.edit_message(db, room_row(db), user, 2, "m2, edited").seq
        expected = table(db)
        assert len(expected) == 231 and expected[-1][0] == edit_seq

        # Back from the newest, 100 a page (3 pages), newest first.
        back = list(chat.history("general", page_size=100))
        assert [f.seq for f in back] == list(range(edit_seq, 0, -1))
        assert back[-1].content == "first" and back[0].type == "chat_edit"
        assert [f.content for f in back if f.seq == 2] == ["m2, edited"]  # its current state
        # Forward from a seq, oldest first, across pages of 64.
        forward = list(chat.history("general", after=40, page_size=64))
        assert [f.seq for f in forward] == list(range(41, edit_seq + 1))
        between = list(chat.history_pages("general", after=10, before=50, page_size=13))
        assert [[f.seq for f in page] for page in between] == [
            list(range(start, min(start + 13, 50))) for start in range(11, 50, 13)
        ]
        # Back from a bound; messages only (the edit event is left out).
        only = list(chat.history("general", before=101, only="messages", page_size=30))
        assert [f.seq for f in only] == list(range(100, 0, -1))
        assert all(f.type == "chat" and f.stored for f in only)


def test_refusals_raise_their_kind_with_the_servers_code(start_server, db, eren):
    server = start_server(workers=1)
    with chat_client(server, "not-a-token") as stranger:
        with pytest.raises(AuthError) as refused:
            stranger.rooms()
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")
        with pytest.raises(AuthError):
            next(iter(stranger.stream("general", backoff=QUICK)))
    with chat_client(server, eren["token"]) as chat:
        with pytest.raises(NotFoundError) as missing:
            list(chat.history("nowhere"))
        assert missing.value.code == "not_found"
        with pytest.raises(NotFoundError):
            chat.send("nowhere", "hello?")
        with pytest.raises(NotFoundError):
            next(iter(chat.stream("nowhere", backoff=QUICK)))
        with pytest.raises(RefusedError) as too_long:
            chat.send("general", "x" * 4001)
        assert (too_long.value.status, too_long.value.code) == (400, "too_large")
        with pytest.raises(RefusedError) as command:
            chat.send("general", "/dance")
        assert command.value.code == "unknown_command"
    assert table(db) == []  # nothing refused was stored


# --- sends: retried, never doubled -----------------------------------------------


class FaultyProxy:
    """A TCP proxy to the server that spoils the answers on its first `spoil`
    connections *after* the server has answered (so, for a send, after it
    stored the message): `drop` closes the connection without a byte of the
    answer, `503` answers a gateway's 503 in its place. Later connections pass
    untouched. `statuses` records the status line of every answer that passed."""

    def __init__(self, port: int, fault: str, spoil: int = 1) -> None:
        self.upstream = ("127.0.0.1", port)
        self.fault = fault
        self.spoil = spoil
        self.spoiled = 0
        self.statuses: list[bytes] = []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            with self.lock:
                spoil = self.spoiled < self.spoil
                self.spoiled += spoil
            for target, args in (
                (self._pump, (client, upstream)),
                (self._answer, (upstream, client, spoil)),
            ):
                threading.Thread(target=target, args=args, daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def _answer(self, upstream: socket.socket, client: socket.socket, spoil: bool) -> None:
        try:
            while data := upstream.recv(65536):
                if spoil:  # the server has answered: the send is stored
                    if self.fault == "503":
                        client.sendall(
                            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\n"
                            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                    break
                if data.startswith(b"HTTP/"):
                    self.statuses.append(data.split(b"\r\n", 1)[0])
                client.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize("fault", ["drop", "503"])
def test_a_send_whose_answer_is_lost_is_retried_and_stored_once(start_server, db, eren, fault):
    server = start_server(workers=1)
    proxy = FaultyProxy(server.port, fault)
    try:
        with chat_client(proxy, eren["token"], retry=QUICK) as chat:
            sent = chat.send("general", "deploy finished")
            again = chat.send("general", "second")
    finally:
        proxy.close()
    assert proxy.spoiled >= 1
    # The first try was stored and its answer lost: the retry got the same seq back.
    assert (sent.seq, sent.duplicate) == (1, True)
    assert (again.seq, again.duplicate) == (2, False)
    assert sent.client_id != again.client_id
    assert table(db) == [(1, "deploy finished"), (2, "second")]


def test_the_same_client_id_twice_is_one_message(start_server, db, eren):
    server = start_server(workers=1)
    with chat_client(server, eren["token"]) as chat:
        first = chat.send("general", "once", client_id="job-42")
        second = chat.send("general", "once", client_id="job-42")
    assert (first.seq, first.duplicate, first.client_id) == (1, False, "job-42")
    assert (second.seq, second.duplicate) == (1, True)
    assert table(db) == [(1, "once")]


def test_the_asyncio_client_makes_the_same_calls(start_server, db, eren):
    server = start_server(workers=1)
    send_as(db, eren["user"], "one")

    async def script() -> tuple:
        async with AsyncClient(server.url, eren["token"], trust_env=False) as chat:
            sent = await chat.send("general", "two", client_id="a-1")
            again = await chat.send("general", "two", client_id="a-1")
            rooms = [room.name for room in await chat.rooms()]
            back = [f.seq async for f in chat.history("general", page_size=1)]
            with pytest.raises(NotFoundError):
                await chat.send("nowhere", "x")
            return sent, again, rooms, back, (await chat.me()).username

    # In a thread of its own: after the browser tests, Playwright's sync API keeps
    # an event loop running in this one, and asyncio.run refuses to start another.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sent, again, rooms, back, me = pool.submit(asyncio.run, script()).result(timeout=60)
    assert (sent.seq, sent.duplicate, again.seq, again.duplicate) == (2, False, 2, True)
    assert (rooms, back, me) == (["general"], [2, 1], "eren")
    assert table(db) == [(1, "one"), (2, "two")]


def test_rate_limit_answers_are_waited_out_as_retry_after_says(start_server, db, eren):
    server = start_server(workers=1, RATE_LIMIT_PER_SEC="1", RATE_LIMIT_BURST="1")
    proxy = FaultyProxy(server.port, "none", spoil=0)  # an observer only
    try:
        with chat_client(proxy, eren["token"]) as chat:
            seqs = [chat.send("general", f"n{i}").seq for i in range(3)]
    finally:
        proxy.close()
    assert any(status.startswith(b"HTTP/1.1 429") for status in proxy.statuses)
    assert seqs == [1, 2, 3]
    assert table(db) == [(1, "n0"), (2, "n1"), (3, "n2")]


def test_retries_are_bounded_when_nothing_answers():
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    # Nothing listens on that port any more: every try is refused at once.
    chat = Client(f"http://127.0.0.1:{port}", "t", retry=Backoff(0.01, 0.02, 3), trust_env=False)
    with pytest.raises(UnavailableError) as spent:
        chat.send("general", "anyone?")
    assert spent.value.attempts == 3
    assert isinstance(spent.value.__cause__, requests.ConnectionError)


# --- the live stream ---------------------------------------------------------------


def stream_of(api: str, chat: Client, room: str, **options) -> Stream | AsyncStream:
    """The room's stream from the sync Client, or from an AsyncClient on the same server."""
    if api == "asyncio":
        return AsyncClient(chat.base_url, chat.token, trust_env=False).stream(room, **options)
    return chat.stream(room, **options)


@pytest.mark.parametrize("api", ["sync", "asyncio"])
def test_stream_delivers_every_row_once_in_order_across_a_gunicorn_restart(
    start_server, db, eren, api
):
    server = start_server(RATE_LIMIT_PER_SEC="0")
    user = eren["user"]
    with chat_client(server, eren["token"], retry=PATIENT) as chat:
        chat.send("general", "before the stream")
        follower = Follower(stream_of(api, chat, "general", after=0, backoff=QUICK))
        for i in range(5):
            chat.send("general", f"live {i}")
        got = follower.until_seq(6)
        assert got[-1].content == "live 4"

        assert server.stop() == 0  # SIGTERM: every socket is closed with 1001
        # Stored while no server runs, and a send that retries until one does.
        for i in range(3):
            send_as(db, user, f"while down {i}")
        sender = threading.Thread(target=chat.send, args=("general", "sent during the restart"))
        sender.start()
        server.start()
        sender.join(60)
        assert not sender.is_alive()
        for i in range(5):
            chat.send("general", f"after {i}")

        rows = table(db)
        assert len(rows) == 15
        got += follower.until_seq(rows[-1][0])
        # A marker after everything: whatever came twice would be before it.
        marker = chat.send("general", "marker")
        assert follower.next().seq == marker.seq
        follower.close()
        assert follower.end() is None  # close() ends the iteration cleanly
    assert [(f.seq, f.content) for f in got] == rows
    assert all(f.type == "chat" and f.room == "general" for f in got)
    assert follower.stream.last_seq == marker.seq


def test_stream_from_now_on_skips_the_backlog_and_yields_other_frames_when_asked(
    start_server, db, eren
):
    server = start_server(workers=1, RATE_LIMIT_PER_SEC="0")
    for i in range(3):
        send_as(db, eren["user"], f"old {i}")
    with chat_client(server, eren["token"]) as chat:
        stored_only = Follower(chat.stream("general", backoff=QUICK))
        everything = Follower(chat.stream("general", types=ALL, backoff=QUICK))
        ready = everything.until_type("ready")
        assert ready.data["last_seq"] == 3 and ready.seq is None and not ready.stored
        sent = chat.send("general", "new")
        assert [f.content for f in everything.until_seq(sent.seq) if f.stored] == ["new"]
        first = stored_only.next()
        assert (first.seq, first.content, first.type) == (4, "new", "chat")
        for follower in (stored_only, everything):
            follower.close()
            assert follower.end() is None


@pytest.mark.parametrize("api", ["sync", "asyncio"])
def test_a_revoked_token_ends_the_stream_with_auth_error(start_server, db, eren, api):
    server = start_server(RATE_LIMIT_PER_SEC="0")
    token = eren["token"]
    with chat_client(server, token) as chat:
        follower = Follower(stream_of(api, chat, "general", types=ALL, backoff=QUICK))
        follower.until_type("ready")
        api = http()
        api.headers["Authorization"] = f"Bearer {token}"
        [listed] = api.get(f"{server.url}/api/tokens").json()["tokens"]
        assert api.delete(f"{server.url}/api/tokens/{listed['id']}").status_code == 204
        ended = follower.end()
    # The socket was closed 1008; the reconnect's handshake was refused 401.
    assert isinstance(ended, AuthError) and ended.status == 401


# --- the stream's decisions, without a server --------------------------------------


def resume(after: int | None = 0) -> Resume:
    return Resume("ws://h/ws/general", after, "stored", Backoff(0.01, 0.02, None))


@pytest.mark.parametrize("code", [None, 1000, 1001, 1006, 1008, 1011, 1012, 1013, 4000])
def test_closes_a_reconnect_can_cure_are_retried(code):
    assert 0 <= resume().closed(code, "") <= 0.02


@pytest.mark.parametrize("code", [1002, 1003, 1007, 1009, 1010])
def test_closes_of_a_broken_client_end_the_stream(code):
    with pytest.raises(StreamClosedError) as closed:
        resume().closed(code, "why")
    assert (closed.value.code, closed.value.reason) == (code, "why")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, RefusedError), (401, AuthError), (403, RefusedError), (404, NotFoundError)],
)
def test_handshake_refusals_that_retrying_cannot_cure_are_raised(status, kind):
    with pytest.raises(kind) as refused:
        resume().refused(status, f"{status} Nope: because\n", None)
    assert refused.value.status == status and refused.value.message == f"{status} Nope: because"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_handshake_refusals_of_a_busy_or_restarting_server_are_retried(status):
    assert resume().refused(status, "", None) <= 0.02
    assert resume().refused(status, "", 3.0) == 3.0  # Retry-After is honoured


def test_repeats_and_backlog_are_dropped_and_the_cursor_moves_with_what_is_delivered():
    state = resume(after=None)
    frames: Iterator[dict] = iter(
        [
            {"type": "chat", "seq": 7},  # backlog of a stream from now on
            {"type": "ready", "last_seq": 7},
            {"type": "typing", "username": "mikasa"},
            {"type": "chat", "seq": 8},
            {"type": "chat", "seq": 8},  # a repeat
            {"type": "reaction", "seq": 9, "target_seq": 8},
            {"type": "ready", "last_seq": 9},
        ]
    )
    delivered = [f.seq for f in map(state.accept, frames) if f is not None]
    assert delivered == [8, 9]
    assert state.last_seq == 9
    assert state.connect_url() == "ws://h/ws/general?after=9"
    assert resume(after=None).connect_url() == "ws://h/ws/general"


# --- docs/client.md's examples, run as written -----------------------------------

DOCS = ROOT / "docs" / "client.md"


def example(name: str) -> str:
    """The Python block under `<!-- example: NAME` in docs/client.md."""
    text = DOCS.read_text()
    start = text.index("```python\n", text.index(f"<!-- example: {name}")) + len("```python\n")
    return text[start : text.index("```\n", start)]


def run_example(tmp_path, server, token: str, name: str, *args: str, **env: str):
    """The example as a script of its own, its output in tmp_path/<name>.log."""
    script = tmp_path / name
    script.write_text(example(name))
    environment = {
        # No proxy settings: the script talks to 127.0.0.1 only.
        **{k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
        "CHAT_URL": server.url,
        "CHAT_TOKEN": token,
        **env,
    }
    with open(tmp_path / f"{name}.log", "ab") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, str(script), *args], env=environment, stdout=log, stderr=log
        )


def stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(10)


def test_the_ping_bot_answers_each_ping_once_across_its_own_restart(
    start_server, db, eren, tmp_path
):
    server = start_server(workers=1, RATE_LIMIT_PER_SEC="0")
    bot = make_user(db, "pingbot")
    state = tmp_path / "ping_bot.seq"
    state.write_text("0")  # follow from the room's start: no race with the bot's connect
    bot_env = {"CHAT_ROOM": "general", "STATE": str(state)}
    with chat_client(server, eren["token"]) as chat:
        room = Follower(chat.stream("general", after=0, backoff=QUICK))
        process = run_example(tmp_path, server, make_token(db, bot), "ping_bot.py", **bot_env)
        try:
            ping = chat.send("general", "!ping")
            chat.send("general", "not a ping")
            pong = room.until_seq(3)[-1]
            assert (pong.username, pong.content) == ("pingbot", "pong")
            assert pong.data["client_id"] == f"pong-{ping.seq}"
            stop(process)
            # Sent while the bot is down, in a thread: answered once it is back.
            root = chat.send("general", "release?")
            second = chat.send("general", "!ping", thread=root.seq)
            process = run_example(tmp_path, server, make_token(db, bot), "ping_bot.py", **bot_env)
            answer = room.until_seq(second.seq + 1)[-1]
            assert (answer.content, answer.data.get("thread")) == ("pong", root.seq)
        finally:
            stop(process)
            room.close()
    pongs = [content for _, content in table(db) if content == "pong"]
    assert len(pongs) == 2


def lines_of(path, count: int, process: subprocess.Popen) -> list[dict]:
    """The file's first `count` JSON lines, once the tailing process wrote them."""
    deadline = time.monotonic() + FRAME_TIMEOUT
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        assert process.poll() is None, "the tail script exited"
        assert time.monotonic() < deadline, f"{len(lines)} lines, not {count}"
        time.sleep(0.05)  # another process writes the file: there is no event to await


def test_tailing_a_room_to_a_file_resumes_after_its_last_line(start_server, db, eren, tmp_path):
    server = start_server(workers=1, RATE_LIMIT_PER_SEC="0")
    out = tmp_path / "general.jsonl"
    with chat_client(server, eren["token"]) as chat:
        for i in range(3):
            chat.send("general", f"m{i}")
        tail = run_example(tmp_path, server, eren["token"], "tail_room.py", "general", str(out))
        try:
            chat.send("general", "m3")
            assert [line["content"] for line in lines_of(out, 4, tail)] == ["m0", "m1", "m2", "m3"]
            stop(tail)
            with out.open("a") as torn:  # a crash in the middle of a line
                torn.write('{"type": "chat", "seq"')
            for i in range(4, 6):
                chat.send("general", f"m{i}")
            tail = run_example(tmp_path, server, eren["token"], "tail_room.py", "general", str(out))
            chat.send("general", "m6")
            written = lines_of(out, 7, tail)
        finally:
            stop(tail)
    assert [(line["seq"], line["content"]) for line in written] == table(db)


@pytest.mark.parametrize(
    ("types", "delivered"),
    [
        ("stored", ["chat", "reaction"]),
        ("all", ["ready", "typing", "chat", "online_users", "reaction"]),
        ({"typing", "reaction"}, ["typing", "reaction"]),
        ("typing", ["typing"]),  # one name alone, not the letters of it
    ],
)
def test_the_type_filter_picks_frames_but_the_cursor_follows_every_stored_one(types, delivered):
    state = Resume("ws://h/ws/general", 0, types, Backoff())
    frames = [
        {"type": "ready", "last_seq": 0},
        {"type": "typing", "username": "mikasa"},
        {"type": "chat", "seq": 1},
        {"type": "online_users", "users": []},
        ["not", "an", "object"],
        {"type": "reaction", "seq": 2, "target_seq": 1},
    ]
    assert [f.type for f in map(state.accept, frames) if f is not None] == delivered
    assert state.last_seq == 2
