"""A WebSocket client written by hand, for what a well-behaved library will not send:
malformed handshakes, invalid UTF-8, frames announcing more than they carry, and a
reader that never answers pings or stops reading."""

import base64
import os
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from .conftest import drop_database
from .contract import check_server_frame
from .servers import FRAME_TIMEOUT, Gunicorn

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


@contextmanager
def module_server(pg_server: str, template_db: str, log: Path, **env: str) -> Iterator[Gunicorn]:
    """A database cloned from the template and one gunicorn on it, for a module of
    cases that change nothing another case sees (`start_server` boots one per test)."""
    name = f"chat_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    env.setdefault("MAX_SOCKETS_PER_USER", "1000")
    server = Gunicorn(pg_conninfo.make_conninfo(pg_server, dbname=name), log, 1, **env)
    try:
        yield server.start()
    finally:
        server.kill()
        with psycopg.connect(pg_server, autocommit=True) as conn:
            drop_database(conn, name)


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def upgrade_head(
    server: Gunicorn,
    path: str,
    token: str | None,
    headers: list[tuple[str, str]] | None = None,
    method: str = "GET",
    http: str = "HTTP/1.1",
    host: bool = True,
) -> bytes:
    """An upgrade request's head: the given headers, or a valid set of them."""
    if headers is None:
        headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", new_key()),
            ("Sec-WebSocket-Version", "13"),
        ]
    lines = [f"{method} {path} {http}"] + ([f"Host: 127.0.0.1:{server.port}"] if host else [])
    lines += [f"{name}: {value}" for name, value in headers]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def frame(opcode: int, payload: bytes, fin: bool = True, length: int | None = None) -> bytes:
    """A masked client frame; `length` may announce more than `payload` holds."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawClient:
    """One connection, read and written by hand. `answer` is the server's HTTP head."""

    def __init__(self, server: Gunicorn, head: bytes, rcvbuf: int | None = None):
        self.sock = socket.socket()
        if rcvbuf is not None:  # before connecting, so the window starts small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(FRAME_TIMEOUT)
        self.sock.connect(("127.0.0.1", server.port))
        self.sock.sendall(head)
        self.buffer = bytearray()
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, f"closed during the handshake: {bytes(self.buffer)!r}"
            self.buffer += chunk
        end = self.buffer.index(b"\r\n\r\n") + 4
        self.answer = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[:end]

    @classmethod
    def open(cls, server: Gunicorn, path: str, token: str, **kwargs) -> "RawClient":
        client = cls(server, upgrade_head(server, path, token), **kwargs)
        assert client.status == 101, client.answer
        return client

    @property
    def status(self) -> int:
        return int(self.answer.split(" ", 2)[1])

    def header(self, name: str) -> str | None:
        for line in self.answer.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    def body(self) -> bytes:
        """The rest of a refusal: up to Content-Length bytes."""
        length = int(self.header("Content-Length") or 0)
        while len(self.buffer) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        return bytes(self.buffer[:length])

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _read(self, count: int, deadline: float) -> bytes | None:
        while len(self.buffer) < count:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def frame(self, deadline: float) -> tuple[int, bytes] | None:
        """The next (opcode, payload) from the server; None at EOF."""
        head = self._read(2, deadline)
        if head is None:
            return None
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length in (126, 127):
            length = int.from_bytes(self._read(2 if length == 126 else 8, deadline) or b"", "big")
        payload = self._read(length, deadline) if length else b""
        if opcode == TEXT and head[0] & 0x80 and payload is not None:  # a whole text message
            check_server_frame(payload, "a hand-written client (tests/raw_ws.py)")
        return opcode, payload or b""

    def close_code(self, timeout: float = 20.0, answer_pings: bool = True) -> int | None:
        """Read (answering pings, unless told not to) until the server's close frame;
        its code, or None if the connection ended without one."""
        deadline = time.monotonic() + timeout
        while (got := self.frame(deadline)) is not None:
            opcode, payload = got
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            if opcode == PING and answer_pings:
                self.send(frame(PONG, payload))
        return None

    def close(self) -> None:
        self.sock.close()
