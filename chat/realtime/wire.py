"""A WebSocket connection's bytes: server frames as written, the client socket that
every byte in and out passes through (whole-frame writes, message sizes counted in
bytes as they arrive), and the one decision of how the connection closes.

Written against the threading API: gevent's monkey-patching makes these
cooperative in a gunicorn worker, and the locks keep it correct with threads.
"""

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
        self, sock: socket.socket, max_message_bytes: int | None = None, control_budget=None
    ):
        self._sock = sock
        # The OS socket under gevent's wrapper (gevent keeps it non-blocking),
        # or the socket itself: try_send calls it directly, never waiting.
        self._os_sock = getattr(sock, "_sock", sock)
        self._lock = threading.Lock()
        self._inbound = InboundFrames(max_message_bytes, control_budget)
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
