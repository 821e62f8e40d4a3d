"""A WebSocket connection's bytes: server frames as written, the client socket that
every byte in and out passes through (whole-frame writes, message sizes counted in
bytes as they arrive), and the one decision of how the connection closes.

Written against the threading API: gevent's monkey-patching makes these
cooperative in a gunicorn worker, and the locks keep it correct with threads.
"""

import base64
import codecs
import hashlib
import socket
import struct
import threading

CLOSE_NO_STATUS = 1005  # a close frame without a code (RFC 6455 §7.1.5)
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
# How long closing may take: the close frame reaching a client that stopped
# reading, and the client's own close frame coming back. Past it the TCP
# connection is simply shut down; long enough for a slow link, short enough
# that a stopping worker is not held up by clients that will never answer.
CLOSE_GRACE = 2.0
# Client frame opcodes (RFC 6455 §5.2).
_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def wire(text: str) -> bytes:
    """A whole unmasked WebSocket text frame (RFC 6455 §5.2), FIN set.

    A server's frames carry no mask and we negotiate no extension, so one
    message's bytes are the same for every client: the hub encodes each chat
    frame once per worker, and a peer writes the bytes as they are.
    """
    payload = text.encode()
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + struct.pack("!H", n) + payload
    return b"\x81\x7f" + struct.pack("!Q", n) + payload


def binary_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """A whole unmasked frame of `opcode` (binary unless told), FIN set."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + struct.pack("!H", n) + payload
    return bytes((0x80 | opcode, 127)) + struct.pack("!Q", n) + payload


# A ping without payload: the worker's pinger sends the same bytes to every socket.
PING = bytes((0x89, 0))
# RFC 6455 §1.3: the GUID the client's key is hashed with.
_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    # SHA-1 as the protocol fixes it: a handshake check, not a security measure.
    digest = hashlib.sha1(key.strip().encode() + _ACCEPT_GUID, usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def switching_protocols(key: str) -> bytes:
    """The whole 101 response to a checked handshake: no subprotocol, no extension."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode()


def text_of(frame: "str | bytes") -> str:
    """The text of a queued frame (str, or wire bytes from `wire`)."""
    if isinstance(frame, str):
        return frame
    n = frame[1]
    start = 2 if n < 126 else 4 if n == 126 else 10
    return frame[start:].decode()


def close_frame(code: int, reason: str) -> bytes:
    """A whole unmasked close frame; the reason cut to the 123 bytes a control frame allows."""
    text = reason.encode()[:123].decode(errors="ignore").encode()
    payload = struct.pack("!H", code) + text
    return bytes((0x88, len(payload))) + payload


def close_code_in(data: bytes) -> int | None:
    """The code of the close frame among whole unmasked server frames, if there is one."""
    i = 0
    while i + 2 <= len(data):
        opcode, n, start = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
        if n == 126:
            n, start = struct.unpack_from("!H", data, start)[0], start + 2
        elif n == 127:
            n, start = struct.unpack_from("!Q", data, start)[0], start + 8
        if opcode == _CLOSE:
            return struct.unpack_from("!H", data, start)[0] if n >= 2 else CLOSE_NO_STATUS
        i = start + n
    return None


class InboundFrames:
    """Follows the headers of the client's frames as its bytes go by, holding none of
    their payloads: the size of the message in progress, in bytes as sent (the payload
    lengths its frame headers announce, added up across continuation frames), and
    whether the client has sent its close frame."""

    def __init__(self, max_message_bytes: int | None, control_budget=None):
        self.max_message_bytes = max_message_bytes
        self.message_bytes = 0
        self.client_closed = False
        # Pings and pongs from the client are answered (or taken) below the
        # session, which never sees them: they take tokens of their own bucket
        # (a limits.TokenBucket), and a client past it has flooded them.
        self._control_budget = control_budget
        self.control_flood = False
        self._head = b""  # a frame header received in part
        self._payload_left = 0  # of the current frame, still to come

    def feed(self, data: bytes) -> bool:
        """Account for `data`; False if a message in it passes the limit."""
        within = True
        i, end = 0, len(data)
        while i < end:
            if self._payload_left:
                step = min(self._payload_left, end - i)
                self._payload_left -= step
                i += step
                continue
            size = self._header_size()
            taken = data[i : i + size - len(self._head)]
            self._head += taken
            i += len(taken)
            if len(self._head) == self._header_size():
                within = self._header() and within
        return within

    def _header_size(self) -> int:
        """The current header's length, as far as its first two bytes tell."""
        if len(self._head) < 2:
            return 2
        n, masked = self._head[1] & 0x7F, self._head[1] & 0x80
        return 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if masked else 0)

    def _header(self) -> bool:
        head, self._head = self._head, b""
        opcode, n = head[0] & 0x0F, head[1] & 0x7F
        if n == 126:
            n = struct.unpack_from("!H", head, 2)[0]
        elif n == 127:
            n = struct.unpack_from("!Q", head, 2)[0]
        self._payload_left = n
        if opcode in (_TEXT, _BINARY):  # a new message (control frames count for none)
            self.message_bytes = n
        elif opcode == _CONTINUATION:
            self.message_bytes += n
        elif opcode == _CLOSE:
            self.client_closed = True
        elif opcode in (_PING, _PONG) and self._control_budget is not None:
            if not self._control_budget.allow():
                self.control_flood = True
        limit = self.max_message_bytes
        return not limit or self.message_bytes <= limit


# Close codes a client may send (RFC 6455 §7.4): the defined ones a peer may put
# on the wire (not 1004-1006 or 1015, which mean "none" or are reserved), and
# the ranges of libraries and applications.
_SENDABLE_CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011))
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007


def _sendable(code: int) -> bool:
    return code in _SENDABLE_CLOSE_CODES or 1012 <= code <= 1014 or 3000 <= code <= 4999


def _unmask(data: bytes, mask: bytes) -> bytes:
    """XOR the payload with the repeated 4-byte mask, as whole integers (one pass in C)."""
    n = len(data)
    if not n:
        return b""
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")


class ClientFrames(InboundFrames):
    """The client's frames parsed whole (RFC 6455 §5), for a socket no library reads:
    `feed` returns what the bytes complete, in order, as events

        ("text", str) | ("binary", bytes)      a whole message (fragments joined)
        ("ping", bytes) | ("pong", bytes)
        ("close", code, reason)                the client's close (1005: no code)
        ("fail", code, reason)                 the connection must close with code

    Header accounting (the message size limit, the control-frame budget,
    `client_closed`) is InboundFrames', made once per frame header. A data
    frame's payload is taken piece by piece as it arrives, and text checked as
    UTF-8 as it goes (fail fast, 1007); what no extension
    allows (reserved bits, unknown opcodes, unmasked or fragmented control
    frames, fragments out of place) fails with 1002. After a failure the bytes
    are only followed header by header, as InboundFrames does, to see the
    client's close frame while the connection closes.
    """

    def __init__(self, max_message_bytes: int | None, control_budget=None):
        super().__init__(max_message_bytes, control_budget)
        self._buf = bytearray()
        self._frame: tuple[int, int, int, bytes] | None = None  # fin, opcode, length, mask
        self._got = 0  # of the current data frame's payload, already taken
        self._parts: list | None = None  # the data message in progress
        self._text = None  # its incremental UTF-8 decoder (None: binary)
        self.failed = False

    def feed(self, data: bytes) -> list:  # type: ignore[override]
        if self.failed:
            InboundFrames.feed(self, data)
            return []
        if self.client_closed:
            return []
        self._buf += data
        events: list = []
        buf, pos = self._buf, 0
        while not self.client_closed:
            if self._frame is None:
                size = self._head_size(buf, pos)
                if size is None:
                    break
                why = self._frame_head(bytes(buf[pos : pos + size]))
                pos += size
                if why is not None:
                    # A malformed close is the client's close all the same: it
                    # sends no other, and the closer must not wait for one.
                    self.client_closed = self.client_closed or self._frame[1] == _CLOSE
                    events.append(self._fail(buf, pos, *why))
                    return events
            fin, opcode, n, mask = self._frame
            if opcode <= _BINARY:  # data: each piece as it arrives (UTF-8 fails fast)
                take = min(len(buf) - pos, n - self._got)
                offset = self._got % 4
                piece = _unmask(bytes(buf[pos : pos + take]), mask[offset:] + mask[:offset])
                pos += take
                self._got += take
                done = self._got == n
                event = self._data(piece, bool(fin) and done)
                if event is not None and event[0] == "fail":
                    events.append(self._fail(buf, pos, event[1], event[2], skip=n - self._got))
                    return events
                if not done:
                    break
                self._frame, self._got = None, 0
                if event is not None:
                    events.append(event)
                continue
            if len(buf) - pos < n:
                break
            payload = _unmask(bytes(buf[pos : pos + n]), mask)
            pos += n
            self._frame = None
            event = self._payload(fin, opcode, payload)
            if event is not None:
                if event[0] == "fail":
                    events.append(self._fail(buf, pos, event[1], event[2], skip=0))
                    return events
                events.append(event)
        del buf[:pos]
        return events

    @staticmethod
    def _head_size(buf: bytearray, pos: int) -> int | None:
        if len(buf) - pos < 2:
            return None
        b1 = buf[pos + 1]
        n = b1 & 0x7F
        size = 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if b1 & 0x80 else 0)
        return size if len(buf) - pos >= size else None

    def _frame_head(self, head: bytes) -> tuple[int, str] | None:
        """Check and account for one frame header; the failure (code, reason) if any."""
        b0, b1 = head[0], head[1]
        fin, opcode, n, masked = b0 & 0x80, b0 & 0x0F, b1 & 0x7F, b1 & 0x80
        start = 2
        if n == 126:
            n, start = struct.unpack_from("!H", head, 2)[0], 4
        elif n == 127:
            n, start = struct.unpack_from("!Q", head, 2)[0], 10
        self._frame = (fin, opcode, n, head[start : start + 4])
        self._payload_left = n  # what a failure leaves to skip
        if b0 & 0x70:
            return CLOSE_PROTOCOL_ERROR, "reserved bits set: no extension was negotiated"
        if opcode not in (_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG):
            return CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}"
        if opcode >= _CLOSE and (not fin or n > 125):
            return CLOSE_PROTOCOL_ERROR, "a control frame is one frame of at most 125 bytes"
        if not masked:
            return CLOSE_PROTOCOL_ERROR, "a client's frames must be masked"
        if opcode == _CONTINUATION and self._parts is None:
            return CLOSE_PROTOCOL_ERROR, "a continuation frame without a message"
        if opcode in (_TEXT, _BINARY) and self._parts is not None:
            return CLOSE_PROTOCOL_ERROR, "a new message inside a fragmented one"
        if n >= 1 << 63:
            return CLOSE_PROTOCOL_ERROR, "a frame length's top bit is set"
        self._head = head
        closed_before = self.client_closed
        if not self._header():
            return CLOSE_TOO_BIG, f"message over {self.max_message_bytes} bytes"
        if self.control_flood:
            return CLOSE_POLICY_VIOLATION, "too many pings or pongs"
        self.client_closed = closed_before  # set once its payload is read and checked
        self._payload_left = 0
        if opcode in (_TEXT, _BINARY):  # a new message
            self._parts = []
            self._text = codecs.getincrementaldecoder("utf-8")() if opcode == _TEXT else None
        return None

    def _data(self, piece: bytes, last: bool) -> tuple | None:
        """A piece of the message in progress; the message once `last` is."""
        if self._text is not None:
            try:
                self._parts.append(self._text.decode(piece, final=last))
            except UnicodeDecodeError:
                return ("fail", CLOSE_INVALID_DATA, "a text message that is not UTF-8")
        elif piece:
            self._parts.append(piece)
        if not last:
            return None
        parts, text, self._parts, self._text = self._parts, self._text, None, None
        return ("text", "".join(parts)) if text is not None else ("binary", b"".join(parts))

    def _payload(self, fin: int, opcode: int, payload: bytes) -> tuple | None:
        """A whole control frame's payload."""
        if opcode == _PING:
            return ("ping", payload)
        if opcode == _PONG:
            return ("pong", payload)
        return self._close(payload)

    def _close(self, payload: bytes) -> tuple:
        self.client_closed = True
        if not payload:
            return ("close", CLOSE_NO_STATUS, "")
        if len(payload) == 1:
            return ("fail", CLOSE_PROTOCOL_ERROR, "a close frame's code takes two bytes")
        code = struct.unpack_from("!H", payload)[0]
        if not _sendable(code):
            return ("fail", CLOSE_PROTOCOL_ERROR, f"close code {code} may not be sent")
        try:
            reason = payload[2:].decode()
        except UnicodeDecodeError:
            return ("fail", CLOSE_INVALID_DATA, "a close reason that is not UTF-8")
        return ("close", code, reason)

    def _fail(self, buf: bytearray, pos: int, code: int, reason: str, skip=None) -> tuple:
        """Stop parsing; the rest of the bytes are followed header by header."""
        self.failed = True
        self._frame, self._got, self._parts = None, 0, None
        if skip is not None:
            self._payload_left = skip
        rest = bytes(buf[pos:])
        buf.clear()
        if rest and not self.client_closed:
            InboundFrames.feed(self, rest)
        return ("fail", code, reason)


class FrameSocket:
    """The raw client socket as simple-websocket sees it: every byte of the connection,
    both ways, goes through here.

    Writes. simple-websocket writes with socket.send, which under gevent may write
    part of a large frame, and its reader greenlet (pongs, close replies) writes
    concurrently with ours. Every write holds one lock from a frame's first byte
    to its last, so frames never interleave.

    Reads. The client's frame headers are followed as they pass (InboundFrames): a
    message over `max_message_bytes` is closed with 1009 as soon as a header takes
    it past the limit, before the rest is read and without buffering any of it
    (simple-websocket counts a text message in decoded characters, and only once
    it holds them).

    Closing. How the connection ends is decided once, here (`close_with`): the
    first decision wins, whoever makes it (a session, the hub, a revocation,
    simple-websocket, the client's own close) and whichever greenlet gets to the
    socket first. Nothing is written after the decision but its close frame, so a
    later close (flask-sock closes with 1000 when the handler returns) can neither
    overwrite nor pre-empt it.
    """

    def __init__(
        self,
        sock: socket.socket,
        max_message_bytes: int | None = None,
        control_budget=None,
        inbound: InboundFrames | None = None,
    ):
        self._sock = sock
        # The OS socket under gevent's wrapper (gevent keeps it non-blocking),
        # or the socket itself: try_send calls it directly, never waiting.
        self._os_sock = getattr(sock, "_sock", sock)
        self._lock = threading.Lock()
        # Who reads the client's frames (a SocketReader's ClientFrames) shares
        # them with the closer, which learns from them that the client closed.
        self._inbound = inbound or InboundFrames(max_message_bytes, control_budget)
        # Called once a close is decided (the reader lets go of the socket), and
        # once the close is done (the reader's end); set by chat/realtime/reader.py.
        self.on_decided = None
        self.on_closed = None
        self._upgraded = False  # the 101 response has been written
        self._decision = threading.Lock()
        # The close code this connection ends with, once decided.
        self.close_code: int | None = None
        self._reader_gone = threading.Event()  # simple-websocket reads no more
        self._closed = threading.Event()  # the decided close is done

    # --- writing -------------------------------------------------------------

    def send(self, data: bytes) -> int:
        """simple-websocket's writes: the 101 response, pongs, pings and its close
        frames (and the echo endpoint's messages). A close frame among them is a
        decision like any other (`close_with`), so it can lose to an earlier one."""
        if self._upgraded:
            code = close_code_in(data)
            if code is not None:
                self.close_with(code, frame=data)
                return len(data)
        self._upgraded = True
        self.write(data)
        return len(data)

    def write(self, data: bytes) -> None:
        """Write whole frames, waiting for the socket; dropped once a close is decided."""
        with self._lock:
            if self.close_code is None:
                self._sock.sendall(data)

    def try_send(self, data: bytes) -> int | None:
        """Write what the kernel takes at once, without waiting; None if another
        writer holds the socket (nothing written). Once a close is decided the
        frame is dropped and counted as written.

        A short count other than 0 leaves the socket locked, part of a frame
        written: the caller must `finish` the rest before anything else goes.
        """
        if not self._lock.acquire(blocking=False):
            return None
        if self.close_code is not None:
            self._lock.release()
            return len(data)
        try:
            written = self._os_sock.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            written = 0
        except BaseException:
            self._lock.release()
            raise
        if written == 0 or written == len(data):
            self._lock.release()
        return written

    def finish(self, rest: bytes) -> None:
        """Write the rest of a frame that try_send began, then free the socket
        (even after a close decision: the close frame must not land inside it)."""
        try:
            self._sock.sendall(rest)
        finally:
            self._lock.release()

    # --- reading -------------------------------------------------------------

    def recv(self, size: int) -> bytes:
        """simple-websocket's reads. Once a close is decided nothing more goes up:
        its reader ends (b"" is EOF to it) and the closer reads on."""
        if self.close_code is None:
            data = self._sock.recv(size)
            if data:
                within = self._inbound.feed(data)
                if self.close_code is None:
                    if not within:
                        limit = self._inbound.max_message_bytes
                        self.close_with(CLOSE_TOO_BIG, f"message over {limit} bytes")
                    elif self._inbound.control_flood:
                        self.close_with(CLOSE_POLICY_VIOLATION, "too many pings or pongs")
                    else:
                        return data
        self._reader_gone.set()
        return b""

    # --- closing -------------------------------------------------------------

    def close_with(self, code: int, reason: str = "", frame: bytes | None = None) -> bool:
        """Decide that the connection ends with `code`, unless that is decided already;
        whether this call decided. Never blocks: a closer greenlet writes the close
        frame (`frame`, or one made of code and reason) and sees the closing through."""
        with self._decision:  # no I/O inside: the decision is made before anyone yields
            if self.close_code is not None:
                return False
            self.close_code = code
        data = frame if frame is not None else close_frame(code, reason)
        threading.Thread(target=self._close, args=(data,), daemon=True, name="ws-close").start()
        if self.on_decided is not None:
            self.on_decided()
        return True

    def _close(self, frame: bytes) -> None:
        """Write the close frame after any frame already begun; then read, discarding,
        until the client's own close frame or EOF (closing a socket with unread input
        resets the connection, and the client may lose our close frame with it); then
        shut the connection down. All of it within CLOSE_GRACE."""
        cutoff = threading.Timer(CLOSE_GRACE, self.shutdown)
        cutoff.daemon = True
        cutoff.start()
        try:
            with self._lock:
                self._sock.sendall(frame)
            # simple-websocket's reader stops at its next read; then the socket is ours.
            if self._reader_gone.wait(CLOSE_GRACE):
                while not self._inbound.client_closed:
                    data = self._sock.recv(65536)
                    if not data:
                        break
                    self._inbound.feed(data)
        except OSError:
            pass  # the client is gone, or the cutoff shut the socket down
        finally:
            cutoff.cancel()
            self.shutdown()
            self._closed.set()
            if self.on_closed is not None:
                self.on_closed()

    def reader_done(self) -> None:
        """The reader reads no more: the closer may read the client's last bytes."""
        self._reader_gone.set()

    def wait_closed(self) -> None:
        """Return once a decided close is through. The handler calls this last: when
        it returns gunicorn closes the socket, and a close frame not yet written
        would be lost."""
        if self.close_code is not None:
            self._closed.wait(2 * CLOSE_GRACE)

    def close(self) -> None:
        """simple-websocket's reader is done with the socket. Without a close decided
        (the client vanished) it is closed now; otherwise the closer shuts it down."""
        self._reader_gone.set()
        if self.close_code is None:
            self._sock.close()

    def shutdown(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the other side

    def __getattr__(self, name):
        return getattr(self._sock, name)
