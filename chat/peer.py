"""One connected WebSocket client: a bounded outbound queue and the greenlet that drains it.

Nothing else writes to a client's socket, so a slow reader only ever fills
its own queue. Live traffic that finds the queue full drops the client with
1013 (it resumes with `after`); catch-up traffic waits for room instead.

Written against the threading API: gevent's monkey-patching makes these
cooperative in a gunicorn worker, and the locks keep it correct with threads.
"""

import logging
import socket
import struct
import threading
from collections import deque

from . import metrics

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
# How long a close frame may take to reach a client that stopped reading
# before its TCP connection is simply shut down.
CLOSE_GRACE = 2.0


class PeerClosed(Exception):
    """The client is gone or being dropped; stop working on its behalf."""


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


class FrameSocket:
    """The raw client socket as simple-websocket sees it, writing whole frames only.

    simple-websocket writes with socket.send, which under gevent may write part
    of a large frame, and its reader greenlet (pongs, close replies) writes
    concurrently with ours. Every write holds one lock from a frame's first
    byte to its last, so frames never interleave.
    """

    def __init__(self, sock: socket.socket):
        self._sock = sock
        # The OS socket under gevent's wrapper (gevent keeps it non-blocking),
        # or the socket itself: try_send calls it directly, never waiting.
        self._os_sock = getattr(sock, "_sock", sock)
        self._lock = threading.Lock()

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def try_send(self, data: bytes) -> int | None:
        """Write what the kernel takes at once, without waiting; None if another
        writer holds the socket (nothing written).

        A short count other than 0 leaves the socket locked, part of a frame
        written: the caller must `finish` the rest before anything else goes.
        """
        if not self._lock.acquire(blocking=False):
            return None
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
        """Write the rest of a frame that try_send began, then free the socket."""
        try:
            self._sock.sendall(rest)
        finally:
            self._lock.release()

    def shutdown(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the other side

    def __getattr__(self, name):
        return getattr(self._sock, name)


class Peer:
    """A client connection's outbound side.

    A live frame for a client with nothing queued is written at once by the
    greenlet delivering it, as far as the kernel's buffer takes it without
    waiting (almost always all of it). Only what does not fit waits in the
    queue, drained by a writer greenlet that exists only while there is a
    backlog: an idle client costs no greenlet and a frame no switch.
    """

    def __init__(self, ws, user: dict, queue_size: int):
        self.ws = ws
        self.user = user
        self.closed = False
        self._frames: deque[str | bytes] = deque()
        self._max = queue_size
        # Catch-up fills the queue only to here, leaving the rest as headroom
        # for the live frames that arrive right after a client switches to live.
        self._catch_up_max = queue_size - queue_size // 4
        self._cond = threading.Condition()
        # Raw frames go straight to the socket (see `wire`); without our socket
        # wrapper (tests' recording sockets) frames go through ws.send.
        sock = getattr(ws, "sock", None)
        self._raw = sock if isinstance(sock, FrameSocket) else None
        # Set before the close frame goes: no data frame is written after it
        # (one already being written finishes first: FrameSocket writes whole).
        self._close_sent = False
        # Someone is writing to the socket (a direct write or the writer).
        self._writing = False
        self._writer_running = False
        # The unwritten end of a frame a direct write began (its socket stays
        # locked until the writer has written it).
        self._rest: bytes | None = None

    @property
    def username(self) -> str:
        return self.user["username"]

    def offer(self, frame: "str | bytes") -> bool:
        """Queue a live frame without waiting; a full queue drops the client (1013)."""
        with self._cond:
            if self.closed:
                return False
            direct = (
                self._raw is not None
                and not self._frames
                and not self._writing
                and self._rest is None
                and not self._close_sent
            )
            overflow = False
            if direct:
                self._writing = True
            elif len(self._frames) >= self._max:
                overflow = True
            else:
                self._frames.append(frame)
                self._wake()
        if direct:
            return self._write_now(frame)
        if overflow:
            metrics.SLOW_CONSUMERS.inc()
            log.info("dropping slow client %s: %d frames queued", self.username, self._max)
            self.abort(CLOSE_TRY_AGAIN_LATER, "too slow; reconnect with after")
            return False
        return True

    def _write_now(self, frame: "str | bytes") -> bool:
        data = frame if isinstance(frame, bytes) else wire(frame)
        try:
            written = self._raw.try_send(data)
        except Exception as exc:  # the socket is gone; the handler cleans up
            log.debug("write to %s failed: %s", self.username, exc)
            self._mark_closed()
            self._shutdown()
            return False
        with self._cond:
            self._writing = False
            if not written:  # nothing went: the frame leads the queue
                self._frames.appendleft(data)
            elif written < len(data):
                self._rest = data[written:]
            self._cond.notify_all()  # a writer waiting for this write may go on
            if self._frames or self._rest is not None:
                self._wake()
        return True

    def send(self, frame: str) -> None:
        """Queue a frame, waiting while the queue is nearly full (flow control)."""
        with self._cond:
            while not self.closed and len(self._frames) >= self._catch_up_max:
                self._cond.wait(1.0)
            if self.closed:
                raise PeerClosed()
            self._frames.append(frame)
            self._wake()

    def _wake(self) -> None:
        """Have the writer drain the queue (call with self._cond held)."""
        if self._writer_running:
            self._cond.notify_all()
            return
        self._writer_running = True
        threading.Thread(target=self._write_loop, daemon=True, name="peer-writer").start()

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while self._writing:  # a direct write is under way (threads only)
                    self._cond.wait()
                # A begun frame is always finished: it holds the socket's lock.
                if self._rest is None and (self.closed or not self._frames):
                    self._writer_running = False
                    self._cond.notify_all()
                    return
                rest, self._rest = self._rest, None
                # Everything queued goes out in one write: under load, one
                # syscall and one switch for many frames.
                frames = [] if self.closed else list(self._frames)
                self._frames.clear()
                self._writing = True
                self._cond.notify_all()
            try:
                if rest is not None:
                    self._raw.finish(rest)
                if frames:
                    self._write(frames)
            except Exception as exc:  # the socket is gone; the handler cleans up
                log.debug("write to %s failed: %s", self.username, exc)
                self._mark_closed()
                self._shutdown()
            finally:
                with self._cond:
                    self._writing = False

    def _write(self, frames: list) -> None:
        if self._close_sent:
            return
        if self._raw is not None:
            self._raw.send(b"".join(f if isinstance(f, bytes) else wire(f) for f in frames))
        else:
            for frame in frames:
                self.ws.send(text_of(frame))

    def _mark_closed(self) -> bool:
        with self._cond:
            was_open = not self.closed
            self.closed = True
            self._frames.clear()
            self._cond.notify_all()
        return was_open

    def _shutdown(self) -> None:
        sock = getattr(self.ws, "sock", None)
        if isinstance(sock, FrameSocket):
            sock.shutdown()

    def abort(self, code: int, reason: str) -> None:
        """Drop the client now with a close code, without blocking the caller."""
        if self._mark_closed():
            threading.Thread(target=self._close, args=(code, reason), daemon=True).start()

    def _close(self, code: int, reason: str) -> None:
        closer = threading.Thread(target=self._send_close, args=(code, reason), daemon=True)
        closer.start()
        closer.join(CLOSE_GRACE)
        # Ends simple-websocket's reader, so the handler's receive() returns.
        self._shutdown()

    def _send_close(self, code: int, reason: str) -> None:
        self._close_sent = True
        try:
            self.ws.close(reason=code, message=reason)
        except Exception:
            pass  # already closed

    def close(self) -> None:
        """Stop the writer; the handler is done with this client."""
        self._mark_closed()
