"""FrameSocket on real sockets (TCP on loopback): the first close decided is the only one
written, whoever decides and in whatever order; message sizes are counted in bytes
from the frame headers as they pass, before the payload is read."""

import socket
import struct
import threading

import pytest

from chat.realtime.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_GRACE,
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TOO_BIG,
    FrameSocket,
    InboundFrames,
    close_frame,
    wire,
)

from ..raw_ws import CLOSE, CONTINUATION, PING, TEXT, frame

WAIT = 15.0
LIMIT = 1000


class Connection:
    """A FrameSocket on the server end of a TCP pair, a reader greenlet standing in for
    simple-websocket's, and the client end."""

    def __init__(self, limit: int | None = LIMIT):
        with socket.create_server(("127.0.0.1", 0)) as listener:
            self.end = socket.create_connection(listener.getsockname())
            server_end, _ = listener.accept()
        self.end.settimeout(WAIT)
        self.sock = FrameSocket(server_end, limit)
        self.sock.send(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")  # as the handshake does
        self.head = self._read_exactly(len(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"))
        self.passed_up = b""  # what the reader got from recv
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        """simple-websocket's reader: recv until b"" or an error, then close."""
        try:
            while data := self.sock.recv(4096):
                self.passed_up += data
        except OSError:
            pass
        self.sock.close()

    def _read_exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.end.recv(count - len(data))
            assert chunk, "EOF"
            data += chunk
        return data

    def server_frames(self) -> list[tuple[int, bytes]]:
        """Every (opcode, payload) the server wrote, up to EOF."""
        data = b""
        while chunk := self.end.recv(65536):
            data += chunk
        frames, i = [], 0
        while i < len(data):
            opcode, n, start = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
            if n == 126:
                n, start = struct.unpack_from("!H", data, start)[0], start + 2
            elif n == 127:
                n, start = struct.unpack_from("!Q", data, start)[0], start + 8
            frames.append((opcode, data[start : start + n]))
            i = start + n
        return frames


@pytest.fixture
def conn():
    c = Connection()
    yield c
    c.end.close()
    c.sock.shutdown()


def close_codes(frames: list[tuple[int, bytes]]) -> list[int]:
    return [struct.unpack("!H", p[:2])[0] for op, p in frames if op == CLOSE]


DECISIONS = {
    "session": lambda s: s.close_with(CLOSE_INTERNAL_ERROR, "internal error"),
    "revocation": lambda s: s.close_with(CLOSE_POLICY_VIOLATION, "access revoked"),
    "shutdown": lambda s: s.close_with(CLOSE_GOING_AWAY, "server restarting"),
    # simple-websocket's close frame (flask-sock's ws.close() when the handler returns)
    "library": lambda s: s.send(close_frame(1000, "")),
}
CODES = {"session": 1011, "revocation": 1008, "shutdown": 1001, "library": 1000}


@pytest.mark.parametrize(
    "order",
    [
        ["session", "library"],
        ["library", "session"],
        ["revocation", "shutdown", "library"],
        ["shutdown", "session", "revocation"],
    ],
)
def test_the_first_close_decided_is_the_only_close_written(conn, order):
    conn.sock.write(wire("before"))
    for name in order:
        DECISIONS[name](conn.sock)
    conn.sock.write(wire("after"))  # dropped: nothing follows a close frame
    assert conn.sock.try_send(wire("after, directly")) is not None
    conn.end.sendall(frame(CLOSE, struct.pack("!H", 1000)))  # the client answers
    frames = conn.server_frames()  # to EOF: the connection was shut down
    assert frames[0] == (TEXT, b"before")
    assert close_codes(frames) == [CODES[order[0]]] and frames[-1][0] == CLOSE
    assert conn.sock.close_code == CODES[order[0]]


def test_decisions_from_many_threads_at_once_write_one_close(conn):
    barrier = threading.Barrier(len(DECISIONS))

    def decide(name: str) -> None:
        barrier.wait()
        DECISIONS[name](conn.sock)

    threads = [threading.Thread(target=decide, args=(name,)) for name in DECISIONS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    conn.end.sendall(frame(CLOSE, struct.pack("!H", 1000)))
    codes = close_codes(conn.server_frames())
    assert codes == [conn.sock.close_code] and codes[0] in CODES.values()


def test_the_close_is_through_once_the_client_answers_not_after_the_grace(conn):
    conn.sock.close_with(CLOSE_INTERNAL_ERROR, "internal error")
    head = conn._read_exactly(4)
    assert head[0] == 0x88 and struct.unpack("!H", head[2:4])[0] == CLOSE_INTERNAL_ERROR
    # Data the client sent after our close is read and dropped, up to its close.
    conn.end.sendall(frame(TEXT, b"x" * 5000) + frame(CLOSE, struct.pack("!H", 1011)))
    waiter = threading.Thread(target=conn.sock.wait_closed)
    waiter.start()
    waiter.join(CLOSE_GRACE / 2)
    assert not waiter.is_alive(), "the closer waited past the client's close"
    assert b"x" * 10 not in conn.passed_up
    conn.reader.join(WAIT)


def test_a_message_over_the_limit_is_closed_before_its_payload_is_read(conn):
    # A whole message of the limit goes up; the next announces one byte more.
    first = frame(TEXT, b"a" * LIMIT)
    conn.end.sendall(first)
    conn.end.sendall(frame(TEXT, b"b" * 100, length=LIMIT + 1))  # 100 of LIMIT + 1 bytes
    frames = conn.server_frames()  # the rest is never sent: the close came anyway
    assert close_codes(frames) == [CLOSE_TOO_BIG]
    conn.reader.join(WAIT)
    # Nothing of the second went up (the first too, if both came in one read).
    assert first.startswith(conn.passed_up)


@pytest.mark.parametrize(
    "frames, within, closed",
    [
        pytest.param([(TEXT, LIMIT, True)], True, False, id="one frame of the limit"),
        pytest.param([(TEXT, LIMIT + 1, True)], False, False, id="one byte over"),
        pytest.param([(TEXT, 2**40, True)], False, False, id="a 64-bit length"),
        pytest.param(
            [(TEXT, 600, False), (PING, 125, True), (CONTINUATION, 400, True)],
            True,
            False,
            id="fragments of the limit, a ping between",
        ),
        pytest.param(
            [(TEXT, 600, False), (CONTINUATION, 401, True)], False, False, id="fragments over"
        ),
        pytest.param(
            [(TEXT, LIMIT, True), (TEXT, LIMIT, True)], True, False, id="two messages of the limit"
        ),
        pytest.param([(TEXT, 10, True), (CLOSE, 2, True)], True, True, id="the client's close"),
    ],
)
@pytest.mark.parametrize("split", ["whole", "byte by byte"])
def test_inbound_frames_count_message_bytes_from_the_headers(frames, within, closed, split):
    # The payloads are sent only up to what the limit allows: the answer comes from
    # the headers, so a frame announcing too much is caught before its payload.
    data = b"".join(frame(op, b"p" * min(n, LIMIT + 1), fin=fin, length=n) for op, n, fin in frames)
    inbound = InboundFrames(LIMIT)
    chunks = [data] if split == "whole" else [data[i : i + 1] for i in range(len(data))]
    results = [inbound.feed(chunk) for chunk in chunks]
    assert all(results) is within
    assert inbound.client_closed is closed
