"""ClientFrames: the client's frames parsed whole, whatever way the bytes are cut.

Every case is fed in one piece and byte by byte: a frame split anywhere (inside
its header, its mask, its payload, a UTF-8 sequence) parses the same."""

import os
import struct

import pytest

from chat.realtime.buckets import TokenBucket
from chat.realtime.wire import ClientFrames

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
LIMIT = 1000


def frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True, rsv: int = 0):
    """A client frame: masked with a random key unless told otherwise."""
    n = len(payload)
    head = bytes(((0x80 if fin else 0) | rsv << 4 | opcode,))
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head += bytes((mask_bit | n,))
    elif n < 65536:
        head += bytes((mask_bit | 126,)) + struct.pack("!H", n)
    else:
        head += bytes((mask_bit | 127,)) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def parsed(data: bytes, whole: bool, limit: int = LIMIT, budget=None) -> list:
    frames = ClientFrames(limit, budget)
    if whole:
        return frames.feed(data)
    events = []
    for i in range(len(data)):
        events += frames.feed(data[i : i + 1])
    return events


CASES = [
    ("text", frame(TEXT, "héllo".encode()), [("text", "héllo")]),
    ("binary", frame(BINARY, b"\x00\xff"), [("binary", b"\x00\xff")]),
    ("empty text", frame(TEXT, b""), [("text", "")]),
    ("126-byte length", frame(TEXT, b"x" * 200), [("text", "x" * 200)]),
    (
        "fragments with a ping between",
        frame(TEXT, "a€".encode()[:2], fin=False)
        + frame(PING, b"p")
        + frame(CONTINUATION, "a€".encode()[2:], fin=False)
        + frame(CONTINUATION, b"!"),
        [("ping", b"p"), ("text", "a€!")],
    ),
    ("two messages", frame(TEXT, b"1") + frame(TEXT, b"2"), [("text", "1"), ("text", "2")]),
    ("pong", frame(PONG, b"x"), [("pong", b"x")]),
    ("close with code", frame(CLOSE, struct.pack("!H", 1000) + b"bye"), [("close", 1000, "bye")]),
    ("close without code", frame(CLOSE, b""), [("close", 1005, "")]),
    ("close code 4000", frame(CLOSE, struct.pack("!H", 4000)), [("close", 4000, "")]),
    ("nothing after close", frame(CLOSE, b"") + frame(TEXT, b"late"), [("close", 1005, "")]),
    ("invalid UTF-8", frame(TEXT, b"\xff"), [("fail", 1007)]),
    (
        "invalid UTF-8 in a later fragment",
        frame(TEXT, b"ok", fin=False) + frame(CONTINUATION, b"\xc0\xaf"),
        [("fail", 1007)],
    ),
    ("truncated UTF-8 at the end", frame(TEXT, "€".encode()[:2]), [("fail", 1007)]),
    ("reserved bits", frame(TEXT, b"x", rsv=4), [("fail", 1002)]),
    ("unknown opcode", frame(0x3, b""), [("fail", 1002)]),
    ("unmasked", frame(TEXT, b"x", masked=False), [("fail", 1002)]),
    ("fragmented ping", frame(PING, b"", fin=False), [("fail", 1002)]),
    ("ping over 125 bytes", frame(PING, b"x" * 126), [("fail", 1002)]),
    ("continuation alone", frame(CONTINUATION, b"x"), [("fail", 1002)]),
    (
        "a message inside a message",
        frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"),
        [("fail", 1002)],
    ),
    ("one-byte close", frame(CLOSE, b"\x03"), [("fail", 1002)]),
    ("close code 1005 sent", frame(CLOSE, struct.pack("!H", 1005)), [("fail", 1002)]),
    ("close code 999", frame(CLOSE, struct.pack("!H", 999)), [("fail", 1002)]),
    ("close reason not UTF-8", frame(CLOSE, struct.pack("!H", 1000) + b"\xff"), [("fail", 1007)]),
    ("message over the limit", frame(TEXT, b"x" * (LIMIT + 1)), [("fail", 1009)]),
    (
        "fragments over the limit together",
        frame(TEXT, b"x" * 600, fin=False) + frame(CONTINUATION, b"x" * 600),
        [("fail", 1009)],
    ),
    (
        "text before a failure",
        frame(TEXT, b"ok") + frame(0x3, b""),
        [("text", "ok"), ("fail", 1002)],
    ),
]


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "byte-by-byte"])
@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_client_frames_parse_whatever_way_the_bytes_are_cut(data, expected, whole):
    events = parsed(data, whole)
    assert [e[:2] if e[0] == "fail" else e for e in events] == expected


def test_a_flood_of_pings_fails_with_1008():
    budget = TokenBucket(rate=0.001, burst=3)
    events = parsed(frame(PING, b"") * 4, whole=True, budget=budget)
    assert [e[0] for e in events] == ["ping"] * 3 + ["fail"]
    assert events[-1][1] == 1008


def test_after_a_failure_the_clients_close_is_still_seen():
    """The closer reads on until the client's own close frame: it must be noticed
    even after a frame the parser refused (here one with its payload to skip)."""
    frames = ClientFrames(LIMIT)
    bad = frame(TEXT, b"x" * 50, rsv=2)
    assert frames.feed(bad[:20])[0][:2] == ("fail", 1002)
    assert frames.feed(bad[20:] + frame(TEXT, b"ignored")) == []
    assert not frames.client_closed
    frames.feed(frame(CLOSE, b""))
    assert frames.client_closed


def test_invalid_utf8_fails_before_the_rest_of_its_frame_arrives():
    """Fail fast (Autobahn 6.4.x): the first bad byte decides, not the frame's end."""
    data = frame(TEXT, b"ok\xff" + b"x" * 100)
    frames = ClientFrames(LIMIT)
    assert frames.feed(data[:9])[0][:2] == ("fail", 1007)  # header, mask and 3 bytes


def test_a_frame_arriving_in_pieces_is_held_as_decoded_text_only():
    frames = ClientFrames(LIMIT)
    data = frame(TEXT, "€".encode() * 100)
    assert frames.feed(data[:150]) == []
    assert frames.feed(data[150:]) == [("text", "€" * 100)]
    assert not frames._buf  # no payload bytes kept between pieces


def test_a_malformed_close_still_counts_as_the_clients_close():
    """Autobahn 7.3.6: a close frame of 126 bytes is refused (1002), and the client
    sends no other close: the closer must not wait for one."""
    frames = ClientFrames(LIMIT)
    assert frames.feed(frame(CLOSE, struct.pack("!H", 1000) + b"*" * 124))[0][:2] == ("fail", 1002)
    assert frames.client_closed
