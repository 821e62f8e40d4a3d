"""Peers writing to real sockets (TCP on loopback): direct writes, partial frames finished
before anything else, the writer only while there is a backlog, slow readers dropped."""

import socket
import struct
import threading

import pytest

from chat.domain.entities import User
from chat.realtime.peer import CLOSE_TRY_AGAIN_LATER, FrameSocket, Peer, wire

WAIT = 15.0


class Client:
    """The server side's socket wrapped as in chat/web/sockets.py, and the client end that reads."""

    def __init__(self):
        with socket.create_server(("127.0.0.1", 0)) as listener:
            self.end = socket.create_connection(listener.getsockname())
            server_end, _ = listener.accept()
        self.sock = FrameSocket(server_end)
        self.closed_with: int | None = None
        self.closing = threading.Event()
        self.buffer = b""  # read, not yet parsed

    # what Peer calls on its `ws`
    def close(self, reason: int | None = None, message: str | None = None) -> None:
        self.closed_with = reason
        self.closing.set()

    def read_until_close(self) -> tuple[list[bytes], int]:
        """Read every text frame up to the close frame: (their payloads, its code)."""
        self.end.settimeout(WAIT)
        texts = []
        while True:
            parsed = parse(self.buffer, allow_close=True)
            if parsed is None:
                chunk = self.end.recv(1 << 16)
                assert chunk, "the server side closed without a close frame"
                self.buffer += chunk
                continue
            payload, self.buffer = parsed
            if isinstance(payload, int):
                return texts, payload
            texts.append(payload)

    def read_frames(self, count: int) -> list[bytes]:
        """Read `count` whole server frames (unmasked), returning their payloads."""
        self.end.settimeout(WAIT)
        frames = []
        while len(frames) < count:
            parsed = parse(self.buffer)
            if parsed is None:
                chunk = self.end.recv(1 << 16)
                assert chunk, "the server side closed before every frame arrived"
                self.buffer += chunk
                continue
            payload, self.buffer = parsed
            frames.append(payload)
        return frames


def parse(buffer: bytes, allow_close: bool = False) -> tuple[bytes | int, bytes] | None:
    """One whole frame from the front of buffer (and the rest), or None if incomplete.
    A close frame (if allowed) is given as its code."""
    if len(buffer) < 2:
        return None
    if allow_close and buffer[0] == 0x88:
        if len(buffer) < 2 + buffer[1]:
            return None
        return struct.unpack("!H", buffer[2:4])[0], buffer[2 + buffer[1] :]
    assert buffer[0] == 0x81, f"not a final text frame: {buffer[:4]!r}"  # never a torn frame
    n, start = buffer[1], 2
    if n == 126:
        if len(buffer) < 4:
            return None
        n, start = struct.unpack("!H", buffer[2:4])[0], 4
    elif n == 127:
        if len(buffer) < 10:
            return None
        n, start = struct.unpack("!Q", buffer[2:10])[0], 10
    if len(buffer) < start + n:
        return None
    return buffer[start : start + n], buffer[start + n :]


def writers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "peer-writer"]


@pytest.fixture
def client():
    c = Client()
    yield c
    c.end.close()
    c.sock.close()


def test_frames_to_a_reading_client_go_directly_without_a_writer(client):
    peer = Peer(client, User(1, "eren"), queue_size=10)
    texts = [f'{{"n":{i}}}' for i in range(200)]  # 20 times the queue: none waits in it
    for text in texts:
        assert peer.offer(wire(text))
    assert not peer._writer_running and writers() == []
    assert [p.decode() for p in client.read_frames(len(texts))] == texts
    assert client.buffer == b""
    peer.close()


def test_frames_larger_than_the_socket_buffer_arrive_whole_and_in_order(client):
    """Direct writes stop part-way through frames; the writer finishes each one
    while another writer (simple-websocket's pongs) tries to write in between."""
    peer = Peer(client, User(1, "eren"), queue_size=1000)
    texts = [f'{{"n":{i},"pad":"{"x" * (997 * i % 20000)}"}}' for i in range(150)]
    pong = '{"pong":true}'
    pongs = 300
    partial = []
    try_send = client.sock.try_send

    def counting_try_send(data):
        written = try_send(data)
        if written and written < len(data):
            partial.append(written)
        return written

    client.sock.try_send = counting_try_send

    def ponger():  # like simple-websocket's reader answering pings
        for _ in range(pongs):
            client.sock.send(wire(pong))

    # Nobody reads yet: big frames go directly until the buffers on the way
    # are full and one is written only in part; its rest is left to the writer.
    firsts = []
    while not partial:
        firsts.append(f'{{"first":{len(firsts)},"pad":"{"y" * 1_000_000}"}}')
        assert peer.offer(wire(firsts[-1]))
        assert len(firsts) < 100, "the kernel took everything"
    assert peer._writer_running
    offered = []
    threads = [
        threading.Thread(target=ponger),
        threading.Thread(target=lambda: offered.extend(peer.offer(wire(t)) for t in texts)),
    ]
    for thread in threads:
        thread.start()
    received = [p.decode() for p in client.read_frames(len(firsts) + len(texts) + pongs)]
    for thread in threads:
        thread.join(WAIT)
    assert offered == [True] * len(texts)
    assert received[: len(firsts)] == firsts  # nothing got inside the begun frame
    assert [p for p in received[len(firsts) :] if p != pong] == texts
    assert received.count(pong) == pongs
    assert client.buffer == b""
    peer.close()


def test_a_client_that_stops_reading_fills_the_kernel_then_the_queue_and_is_dropped(client):
    peer = Peer(client, User(1, "stuck"), queue_size=10)
    frame = wire('{"pad":"' + "x" * 60_000 + '"}')
    accepted = 0
    while peer.offer(frame):  # the kernel's buffers, then 10 queued, then dropped
        accepted += 1
        assert accepted < 1000, "never dropped"
    assert peer.closed and client.sock.close_code == CLOSE_TRY_AGAIN_LATER  # decided at once
    assert accepted >= 10
    # Behind what the kernel holds, whole frames only, and then the close frame.
    texts, code = client.read_until_close()
    assert code == CLOSE_TRY_AGAIN_LATER
    assert 0 < len(texts) <= accepted and set(texts) == {frame[4:]}


def test_a_frame_begun_keeps_the_socket_locked_until_it_is_finished(client):
    data = wire('{"pad":"' + "z" * 1_000_000 + '"}')
    sent = []
    while True:  # nobody reads: the buffers fill until a frame goes in part
        written = client.sock.try_send(data)
        sent.append(written)
        if 0 < written < len(data):
            break
        assert len(sent) < 100, "the kernel took everything"
    assert client.sock._lock.locked()
    assert client.sock.try_send(wire('{"pong":true}')) is None  # no frame inside this one
    reader = threading.Thread(target=client.read_frames, args=(len(sent),))
    reader.start()
    client.sock.finish(data[written:])
    reader.join(WAIT)
    assert not reader.is_alive() and client.buffer == b""
    assert not client.sock._lock.locked()
