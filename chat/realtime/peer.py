"""One connected WebSocket client: a bounded outbound queue and the greenlet that drains it.

Nothing else writes to a client's socket, so a slow reader only ever fills
its own queue. Live traffic that finds the queue full drops the client with
1013 (it resumes with `after`); catch-up traffic waits for room instead.

Written against the threading API: gevent's monkey-patching makes these
cooperative in a gunicorn worker, and the locks keep it correct with threads.
"""

import logging
import threading
from collections import deque

from chat import metrics
from chat.domain.entities import User
from chat.domain.errors import ChatError
from chat.realtime.closes import TOO_SLOW, close_code
from chat.realtime.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TRY_AGAIN_LATER,
    FrameSocket,
    text_of,
    wire,
)

# The close codes and `wire` are used from here by the session and the hub.
__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_TRY_AGAIN_LATER",
    "Peer",
    "PeerClosed",
    "wire",
]

log = logging.getLogger(__name__)


class PeerClosed(Exception):
    """The client is gone or being dropped; stop working on its behalf."""


class Peer:
    """A client connection's outbound side.

    A live frame for a client with nothing queued is written at once by the
    greenlet delivering it, as far as the kernel's buffer takes it without
    waiting (almost always all of it). Only what does not fit waits in the
    queue, drained by a writer greenlet that exists only while there is a
    backlog: an idle client costs no greenlet and a frame no switch.
    """

    def __init__(self, ws, user: User, queue_size: int):
        self.ws = ws
        self.user = user
        self.closed = False
        self._frames: deque[str | bytes] = deque()
        self._max = queue_size
        # Catch-up fills the queue only to here, leaving the rest as headroom
        # for the live frames that arrive right after a client switches to live.
        self._catch_up_max = queue_size - queue_size // 4
        # Not reentrant (a plain lock is the cheapest to take, once per delivery):
        # nothing that holds it calls anything that takes it.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # Raw frames go straight to the socket (see `wire`); without our socket
        # wrapper (tests' recording sockets) frames go through ws.send.
        sock = getattr(ws, "sock", None)
        self._raw = sock if isinstance(sock, FrameSocket) else None
        # The writer is writing, outside the lock (a direct write holds the lock).
        self._writing = False
        self._writer_running = False
        # The unwritten end of a frame a direct write began (its socket stays
        # locked until the writer has written it).
        self._rest: bytes | None = None

    @property
    def username(self) -> str:
        return self.user.username

    def offer(self, frame: "str | bytes") -> bool:
        """Queue a live frame without waiting; a full queue drops the client (1013).

        With nothing queued or being written, the frame is written at once, under
        the queue's lock: try_send never waits, so holding it costs nothing, and
        one lock taken once per delivery is most of what a delivery costs here
        beyond the kernel's write (bench/floor.py)."""
        with self._lock:
            if self.closed:
                return False
            if (
                self._raw is not None
                and not self._frames
                and not self._writing
                and self._rest is None
            ):
                return self._write_now(frame)
            if len(self._frames) < self._max:
                self._frames.append(frame)
                self._wake()
                return True
        metrics.SLOW_CONSUMERS.inc()
        log.info("dropping slow client %s: %d frames queued", self.username, self._max)
        self.close_for(TOO_SLOW)
        return False

    def _write_now(self, frame: "str | bytes") -> bool:
        """Write what the kernel takes of `frame` now; what it does not take is the
        writer's (call with self._cond held, nothing queued or being written)."""
        data = frame if frame.__class__ is bytes else wire(frame)
        try:
            written = self._raw.try_send(data)
        except Exception as exc:  # the socket is gone; the handler cleans up
            log.debug("write to %s failed: %s", self.username, exc)
            self._closed_locked()
            self._shutdown()
            return False
        if written == len(data):
            return True
        if not written:  # another writer holds the socket: the frame leads the queue
            self._frames.appendleft(data)
        else:
            self._rest = data[written:]
        self._wake()
        return True

    def send(self, frame: str) -> None:
        """Queue a frame, waiting while the queue is nearly full (flow control).
        With nothing queued or being written it is written at once, as `offer`
        does: an answer to the client's frame (its `ack`) costs no writer greenlet."""
        with self._cond:
            while not self.closed and len(self._frames) >= self._catch_up_max:
                self._cond.wait(1.0)
            if self.closed:
                raise PeerClosed()
            if (
                self._raw is not None
                and not self._frames
                and not self._writing
                and self._rest is None
            ):
                self._write_now(frame)
                return
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
        if self._raw is not None:
            self._raw.write(b"".join(f if isinstance(f, bytes) else wire(f) for f in frames))
        else:
            for frame in frames:
                self.ws.send(text_of(frame))

    def _mark_closed(self) -> bool:
        with self._cond:
            return self._closed_locked()

    def _closed_locked(self) -> bool:
        """Mark the client closed (call with self._cond held); whether it was open."""
        was_open = not self.closed
        self.closed = True
        self._frames.clear()
        self._cond.notify_all()
        return was_open

    def _shutdown(self) -> None:
        if self._raw is not None:
            self._raw.shutdown()

    @property
    def closing(self) -> bool:
        """This client is being dropped, or its connection's close is decided (by
        us, simple-websocket or the client): nothing more it sent is acted on."""
        return self.closed or (self._raw is not None and self._raw.close_code is not None)

    def close_for(self, err: ChatError) -> None:
        """Drop the client for `err`: the close code chat/realtime/closes.py gives its
        code, its message as the reason (see abort). KeyError for a code that
        closes no socket."""
        self.abort(close_code(err), err.message)

    def abort(self, code: int, reason: str) -> None:
        """Drop the client with a close code, without blocking the caller. If the
        connection's close was decided already, that one stands (FrameSocket.close_with)."""
        if not self._mark_closed():
            return
        if self._raw is not None:
            self._raw.close_with(code, reason)
        else:  # a socket without our wrapper (tests' recording sockets)
            threading.Thread(target=self._close_ws, args=(code, reason), daemon=True).start()

    def _close_ws(self, code: int, reason: str) -> None:
        try:
            self.ws.close(reason=code, message=reason)
        except Exception:
            pass  # already closed

    def close(self) -> None:
        """The handler is done with this client: stop the writer, and return once a
        decided close has reached the client (or CLOSE_GRACE has passed): the socket
        is closed when the handler returns."""
        self._mark_closed()
        if self._raw is not None:
            self._raw.wait_closed()
