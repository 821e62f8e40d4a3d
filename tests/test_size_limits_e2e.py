"""WS_MAX_FRAME_BYTES is a number of bytes (docs/protocol.md, Limits): a message of
more bytes, as sent, across continuation frames, is closed with 1009 whatever its
characters, and before the rest of it is read; up to the limit it is handled
(content over MAX_MESSAGE_CHARS is a `too_large` error, and the socket stays open).

simple-websocket counted decoded characters: 60,000 four-byte characters (240,000
bytes) were read whole and answered `too_large`."""

import json
import socket
import time

import psycopg
import pytest
from psycopg.rows import dict_row

from .conftest import make_token, make_user
from .raw_ws import CONTINUATION, PING, PONG, TEXT, RawClient, frame, module_server
from .servers import FRAME_TIMEOUT

pytestmark = pytest.mark.e2e

LIMIT = 65_536  # WS_MAX_FRAME_BYTES's default
PATHS = ["/ws", "/ws/general"]
# One character of each UTF-8 length.
CHARACTERS = {1: "a", 2: "é", 3: "€", 4: "🦜"}


@pytest.fixture(scope="module")
def server(pg_server, template_db, tmp_path_factory):
    """One server for the module: nothing a case stores matters to another."""
    log = tmp_path_factory.mktemp("limits") / "gunicorn.log"
    with module_server(pg_server, template_db, log, RATE_LIMIT_PER_SEC="0") as server:
        yield server


@pytest.fixture(scope="module")
def token(server):
    with psycopg.connect(server.database_url, autocommit=True, row_factory=dict_row) as db:
        return make_token(db, make_user(db, "eren"))


def message(path: str, size: int, width: int) -> bytes:
    """A chat of exactly `size` bytes of UTF-8, its content made of `width`-byte
    characters (topped up with ASCII to the exact size): a JSON chat frame on /ws,
    a plain text line on /ws/<room>."""
    head, tail = (b'{"type":"chat","room":"general","content":"', b'"}')
    if path != "/ws":
        head = tail = b""
    budget = size - len(head) - len(tail)
    count = budget // width
    body = (CHARACTERS[width] * count).encode() + b"a" * (budget - count * width)
    data = head + body + tail
    assert len(data) == size
    return data


def fragments(data: bytes, count: int = 4) -> bytes:
    """`data` as one text message in `count` frames, cut at byte offsets that fall
    inside characters (a fragment need not be valid UTF-8 on its own)."""
    step = len(data) // count + 1
    pieces = [data[i : i + step] for i in range(0, len(data), step)]
    frames = [
        frame(TEXT if i == 0 else CONTINUATION, piece, fin=i == len(pieces) - 1)
        for i, piece in enumerate(pieces)
    ]
    return b"".join(frames)


def opened(server, path: str, token: str) -> RawClient:
    raw = RawClient.open(server, path, token)
    if path != "/ws":
        next_of(raw, "ready")
    return raw


def next_of(raw: RawClient, kind: str) -> dict:
    """The next text frame of type `kind` (others are skipped)."""
    deadline = time.monotonic() + FRAME_TIMEOUT
    while True:
        got = raw.frame(deadline)
        assert got is not None, f"closed while waiting for {kind!r}"
        opcode, payload = got
        if opcode == PONG:
            continue
        assert opcode == TEXT, f"a frame {opcode:#x} while waiting for {kind!r}: {payload[:40]!r}"
        body = json.loads(payload)
        if body["type"] == kind:
            return body


def still_works(raw: RawClient, client_id: str) -> None:
    raw.send(frame(TEXT, json.dumps(chat_frame("fine", client_id)).encode()))
    assert next_of(raw, "ack")["client_id"] == client_id


def chat_frame(content: str, client_id: str) -> dict:
    return {"type": "chat", "room": "general", "content": content, "client_id": client_id}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("width", list(CHARACTERS))
@pytest.mark.parametrize("fragmented", [False, True], ids=["one frame", "fragmented"])
def test_a_message_of_the_limit_in_bytes_is_handled(server, token, path, width, fragmented):
    raw = opened(server, path, token)
    data = message(path, LIMIT, width)
    raw.send(fragments(data) if fragmented else frame(TEXT, data))
    error = next_of(raw, "error")
    assert error["code"] == "too_large"  # its content is over MAX_MESSAGE_CHARS
    still_works(raw, f"after-{width}")
    raw.close()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("width", list(CHARACTERS))
@pytest.mark.parametrize("fragmented", [False, True], ids=["one frame", "fragmented"])
def test_a_message_one_byte_over_the_limit_is_closed_with_1009(
    server, token, path, width, fragmented
):
    raw = opened(server, path, token)
    data = message(path, LIMIT + 1, width)
    raw.send(fragments(data) if fragmented else frame(TEXT, data))
    assert raw.close_code() == 1009
    raw.close()


@pytest.mark.parametrize("path", PATHS)
def test_sixty_thousand_four_byte_characters_are_closed_with_1009(server, token, path):
    """The reported input: 240,000 bytes in 60,000 characters, under the limit in characters."""
    raw = opened(server, path, token)
    raw.send(frame(TEXT, message(path, 240_000, 4)))
    assert raw.close_code() == 1009
    raw.close()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "announced",
    [
        pytest.param([(TEXT, True, LIMIT + 1)], id="one frame over the limit"),
        pytest.param([(TEXT, True, 2**40)], id="one frame of a terabyte"),
        pytest.param(
            [(TEXT, False, LIMIT - 100), (CONTINUATION, False, 50), (CONTINUATION, True, 51)],
            id="the third fragment passes the limit",
        ),
    ],
)
def test_the_close_comes_before_the_rest_is_sent(server, token, path, announced):
    """Frame headers that take the message past the limit, and only 1,000 bytes of the
    last frame's payload: the 1009 close arrives though the rest is never sent, so
    the server did not wait to hold the whole message."""
    raw = opened(server, path, token)
    *whole, (opcode, fin, length) = announced
    for whole_opcode, whole_fin, whole_length in whole:
        raw.send(frame(whole_opcode, b"a" * whole_length, fin=whole_fin))
    raw.send(frame(opcode, b"a" * min(length, 1000), fin=fin, length=length))
    assert raw.close_code(timeout=FRAME_TIMEOUT) == 1009
    raw.close()


@pytest.mark.parametrize("path", PATHS)
def test_control_frames_between_fragments_do_not_count(server, token, path):
    """Pings inside a fragmented message are not part of it: a message of the limit
    with pings between its fragments is handled."""
    raw = opened(server, path, token)
    data = message(path, LIMIT, 1)
    half = len(data) // 2
    raw.send(
        frame(TEXT, data[:half], fin=False)
        + frame(PING, b"p" * 125)
        + frame(CONTINUATION, data[half:], fin=True)
    )
    assert next_of(raw, "error")["code"] == "too_large"
    raw.close()


# --- HTTP bodies: MAX_CONTENT_LENGTH bytes (README), with or without Content-Length --

BODY_LIMIT = 262_144  # MAX_CONTENT_LENGTH's default


def post_raw(server, path: str, token: str, body: bytes, chunked: bool, end: bool = True) -> str:
    """POST `body` over a raw socket, with Content-Length or chunked (and, unless
    `end` is false, its last chunk); the status line of the answer."""
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        f"Authorization: Bearer {token}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}",
    ]
    if chunked:
        pieces = [body[i : i + 16_384] for i in range(0, len(body), 16_384)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces)
        body += b"0\r\n\r\n" if end else b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=FRAME_TIMEOUT) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            sock.sendall(body)
        except OSError:
            pass  # the server answered and hung up before taking it all
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            assert chunk, "no answer"
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode()


def json_body(size: int) -> bytes:
    """A message body of exactly `size` bytes, of 4-byte characters."""
    head, tail = b'{"content":"', b'"}'
    budget = size - len(head) - len(tail)
    data = head + ("🦜" * (budget // 4)).encode() + b"a" * (budget % 4) + tail
    assert len(data) == size
    return data


# werkzeug reads a chunked body (no Content-Length) up to MAX_CONTENT_LENGTH and
# stops there without a 413: what is past the limit is cut off, and the request
# goes on with the first 256 KiB (chat/web/limits.py reads it whole; reported).
@pytest.mark.parametrize(
    "size, status, chunked",
    [
        pytest.param(BODY_LIMIT, "400", False, id="at the limit, Content-Length"),
        pytest.param(BODY_LIMIT, "400", True, id="at the limit, chunked"),
        pytest.param(BODY_LIMIT + 1, "413", False, id="one byte over, Content-Length"),
        pytest.param(BODY_LIMIT + 1, "413", True, id="one byte over, chunked"),
    ],
)
def test_http_bodies_are_capped_in_bytes(server, token, size, status, chunked):
    """At the limit the body is read and refused for its content (too_large: far
    over MAX_MESSAGE_CHARS); one byte over is 413, chunked or not."""
    line = post_raw(server, "/api/rooms/general/messages", token, json_body(size), chunked)
    assert line.split(" ")[1] == status, line


def test_a_chunked_body_over_the_limit_is_refused_before_it_ends(server, token):
    """Chunks past MAX_CONTENT_LENGTH, and no last chunk: the 413 comes anyway."""
    body = json_body(BODY_LIMIT + 20_000)
    line = post_raw(server, "/api/rooms/general/messages", token, body, chunked=True, end=False)
    assert line.split(" ")[1] == "413", line
