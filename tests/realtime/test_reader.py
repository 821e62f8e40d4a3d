"""SocketReader on real sockets (TCP on loopback) under gevent, as in a worker: frames
reach the handler in order and one at a time, an idle socket holds no greenlet, and
the end runs exactly once whichever side closes and however.

Monkey-patching is for the whole process, so each case runs in a child process
patched as a gunicorn gevent worker is, and prints what it saw as JSON."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

CHILD = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import gc
    import json
    import os
    import socket
    import struct
    import sys
    import time

    import gevent
    import greenlet

    from chat.domain.entities import User
    from chat.realtime import reader
    from chat.realtime.peer import Peer
    from chat.realtime.wire import ClientFrames

    def frame(opcode, payload, fin=True):
        key = os.urandom(4)
        n = len(payload)
        head = bytes(((0x80 if fin else 0) | opcode, 0x80 | n)) if n < 126 else (
            bytes(((0x80 if fin else 0) | opcode, 0x80 | 126)) + struct.pack("!H", n))
        return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))

    def opened(handler=None, start=True):
        listener = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(listener.getsockname())
        raw, _ = listener.accept()
        listener.close()
        held = reader.take_over(raw, "dGhlIHNhbXBsZSBub25jZQ==", ClientFrames(4096))
        head = b""
        while not head.endswith(b"\\r\\n\\r\\n"):
            head += client.recv(1)
        assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head, head
        peer = Peer(held, User(1, "u"), 100)
        seen = {"frames": [], "ends": 0, "log": [], "active": 0, "most": 0}

        def handle(data):
            seen["active"] += 1
            seen["most"] = max(seen["most"], seen["active"])
            if handler is not None:
                handler(data)
            seen["frames"].append(data)
            seen["log"].append("frame")
            seen["active"] -= 1

        def end():
            seen["ends"] += 1
            seen["log"].append("end")
            peer.close()

        if start:
            held.start(handle, end, peer)
        return held, client, peer, seen, (handle, end)

    def until(predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            gevent.sleep(0.005)

    def server_bytes(client):
        client.settimeout(10)
        data = b""
        while chunk := client.recv(65536):
            data += chunk
        return data

    def greenlets():
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet) and o)

    case = sys.argv[1]
    out = {}
    if case == "order":
        held, client, peer, seen, _ = opened(lambda data: gevent.sleep(0.001))
        client.sendall(b"".join(frame(1, str(i).encode()) for i in range(200)))
        until(lambda: len(seen["frames"]) == 200)
        client.sendall(frame(8, struct.pack("!H", 1000)))
        until(lambda: seen["ends"])
        out = {"frames": seen["frames"], "most": seen["most"], "closed": server_bytes(client).hex()}
    elif case == "idle":
        before = greenlets()
        sockets = [opened() for _ in range(200)]
        for held, client, *_ in sockets:
            client.sendall(frame(1, b"hi"))
        until(lambda: all(s[3]["frames"] for s in sockets))
        gevent.sleep(0.05)
        out = {"added": greenlets() - before, "held": len(reader.held)}
        for held, client, *_ in sockets:
            client.close()
        until(lambda: all(s[3]["ends"] for s in sockets))
        out["held_after"] = len(reader.held)
    elif case == "client-close":
        held, client, peer, seen, _ = opened()
        client.sendall(frame(8, struct.pack("!H", 4000) + b"bye"))
        out = {"closed": server_bytes(client).hex()}
        until(lambda: seen["ends"])
    elif case == "eof":
        held, client, peer, seen, _ = opened()
        client.close()
        until(lambda: seen["ends"])
    elif case == "server-close":
        held, client, peer, seen, _ = opened()
        peer.abort(1013, "too slow")
        out = {"first": server_bytes(client)[:4].hex()}
        until(lambda: seen["ends"])
    elif case == "bad-frame":
        held, client, peer, seen, _ = opened()
        client.sendall(frame(3, b""))
        out = {"first": server_bytes(client)[:4].hex()}
        until(lambda: seen["ends"])
    elif case == "close-while-handling":
        go = gevent.event.Event()
        held, client, peer, seen, _ = opened(lambda data: go.wait(10))
        client.sendall(frame(1, b"slow"))
        until(lambda: seen["active"])
        peer.abort(1001, "going away")
        client.sendall(frame(8, struct.pack("!H", 1001)))
        gevent.sleep(0.2)
        go.set()
        until(lambda: seen["ends"])
    elif case == "close-before-start":
        held, client, peer, seen, (handle, end) = opened(start=False)
        peer.abort(1001, "going away")
        client.sendall(frame(8, struct.pack("!H", 1001)))
        gevent.sleep(0.2)
        seen["log"].append("started")
        held.start(handle, end, peer)
        until(lambda: seen["ends"])
    elif case == "pings":
        held, client, peer, seen, _ = opened()
        held.ping()  # answered: a ping goes out
        client.settimeout(10)
        assert client.recv(2) == bytes((0x89, 0))
        client.sendall(frame(0xA, b""))
        until(lambda: held.answered)
        held.ping()  # answered again: another ping
        assert client.recv(2) == bytes((0x89, 0))
        held.ping()  # that one went unanswered: dropped
        out = {"first": server_bytes(client)[:4].hex()}
        until(lambda: seen["ends"])
    elif case == "pong-behind-a-frame":
        go = gevent.event.Event()
        held, client, peer, seen, _ = opened(lambda data: go.wait(10))
        held.ping()
        client.settimeout(10)
        assert client.recv(2) == bytes((0x89, 0))
        client.sendall(frame(1, b"waits on the database"))
        until(lambda: seen["active"])
        client.sendall(frame(0xA, b""))  # answered, but unread behind the frame
        gevent.sleep(0.05)
        held.ping()  # not dropped: the frame is still being handled
        go.set()
        until(lambda: held.answered)
        out = {"closing": peer.closing}
        client.sendall(frame(8, struct.pack("!H", 1000)))
        until(lambda: seen["ends"])
    gevent.sleep(0.1)
    if case != "idle":
        out.update(ends=seen["ends"], log=seen["log"])
    out["held_left"] = len(reader.held)
    print(json.dumps(out))
    """
)


def child(case: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, case],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def close_head(code: int, reason: str) -> str:
    """The first four bytes of a close frame, in hex: opcode, length, code."""
    return bytes((0x88, 2 + len(reason.encode()))).hex() + code.to_bytes(2, "big").hex()


def test_frames_reach_the_handler_in_order_one_at_a_time():
    out = child("order")
    assert out["frames"] == [str(i) for i in range(200)]
    assert out["most"] == 1
    assert out["closed"] == "880203e8"  # the client's close answered with its code
    assert out["ends"] == 1


def test_an_idle_socket_holds_no_greenlet():
    out = child("idle")
    assert out["held"] == 200
    assert out["added"] < 20, out  # a greenlet each would be 200
    assert out["held_after"] == 0


@pytest.mark.parametrize("case", ["client-close", "eof", "server-close", "bad-frame", "pings"])
def test_the_end_runs_exactly_once_whoever_closes(case):
    out = child(case)
    assert out["ends"] == 1
    assert out["held_left"] == 0
    expected = {
        "client-close": {"closed": close_head(4000, "")},
        "server-close": {"first": close_head(1013, "too slow")},
        "bad-frame": {"first": close_head(1002, "unknown opcode 3")},
        "pings": {"first": close_head(1008, "Ping/Pong timeout")},
    }.get(case, {})
    for key, value in expected.items():
        assert out[key] == value


def test_a_close_during_a_frame_ends_the_socket_after_that_frame():
    out = child("close-while-handling")
    assert out["log"] == ["frame", "end"]


def test_a_close_before_the_reader_starts_ends_it_after_the_start():
    out = child("close-before-start")
    assert out["log"] == ["started", "end"]


def test_a_pong_unread_behind_a_frame_being_handled_does_not_drop_the_socket():
    """A send waiting on a stalled database holds its socket's reading: the
    client's pong waits behind it, and the pinger must not call that silence."""
    out = child("pong-behind-a-frame")
    assert out["closing"] is False
    assert out["ends"] == 1 and out["log"] == ["frame", "end"]
