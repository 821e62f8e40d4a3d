"""A held WebSocket without a greenlet of its own: the worker's event loop watches
its file descriptor, and a greenlet exists only while bytes are being read and
the frames they complete handled.

The surface (chat/web/sockets.py) checks the handshake, writes the 101 itself
(`take_over`) and hands the socket to a SocketReader; the request's greenlet
then returns. What a held socket costs is its socket, its read watcher, its
parser (chat/realtime/wire.py ClientFrames) and its session: no reader thread,
no per-socket pinger, no library's connection state.

Frames go to the handler in arrival order, one at a time: while one is handled
nothing more is read from that socket (its bytes wait in the kernel). The end
(the client's close, EOF, a close decided by anyone) reaches `on_end` exactly
once, after any frame being handled, and after the session's connect work.

Written against gevent's loop directly (its read watchers): only a gunicorn
gevent worker, monkey-patched, holds sockets this way.
"""

import logging
import threading
import time

import gevent
from gevent import socket as gsocket

from chat.realtime.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NO_STATUS,
    CLOSE_POLICY_VIOLATION,
    PING,
    ClientFrames,
    FrameSocket,
    binary_frame,
    close_frame,
    switching_protocols,
)

log = logging.getLogger(__name__)

# Bytes read per system call: a whole burst of small frames at once; a frame
# up to the message limit takes a few reads (its bytes are kept until complete).
RECV_BYTES = 65536
# The pinger yields to the worker's other greenlets after this many sockets, so a
# round over 30,000 sockets never stalls deliveries for its whole length.
PING_SLICE = 500
_PONG = 0xA


class SocketReader:
    """One held WebSocket: reads and parses its frames when the loop says bytes
    arrived, and hands whole messages to its handler.

    `sock` is the FrameSocket every write goes through (Peer finds it there);
    `peer` the Peer that writes to it (set by `start`): the pinger pings through it.
    """

    __slots__ = (
        "sock",
        "peer",
        "answered",
        "_gsock",
        "_os",
        "_frames",
        "_watcher",
        "_handler",
        "_on_end",
        "_busy",
        "_started",
        "_eof",
        "_end_pending",
        "_ended",
        "_held",
    )

    def __init__(self, gsock, frames: ClientFrames, held: "HeldSockets"):
        self._gsock = gsock
        self._os = gsock._sock  # the OS socket, non-blocking under gevent's wrapper
        self._frames = frames
        self.sock = FrameSocket(gsock, inbound=frames)
        self.sock.on_decided = self._close_decided
        self.sock.on_closed = self._end
        self.peer = None
        self.answered = True  # no ping unanswered yet
        self._watcher = gevent.get_hub().loop.io(gsock.fileno(), 1)
        self._handler = None
        self._on_end = None
        self._busy = False  # a greenlet is reading or handling
        self._started = False
        self._eof = False
        self._end_pending = False
        self._ended = False
        self._held = held
        held.add(self)

    def start(self, handler, on_end, peer) -> None:
        """Hand each message to `handler` (str for text, bytes for binary) and call
        `on_end` once when the connection is over; `peer` writes to this socket."""
        self._handler, self._on_end, self.peer = handler, on_end, peer
        self._started = True
        if self._end_pending:
            self._end()
        elif self.sock.close_code is None:
            self._watcher.start(self._readable)

    # --- reading -------------------------------------------------------------

    def _readable(self) -> None:
        """In the loop (no blocking here): bytes arrived; a greenlet reads them."""
        self._watcher.stop()
        self._busy = True
        gevent.spawn_raw(self._drain)

    def _drain(self) -> None:
        try:
            self._read()
        except Exception:
            log.exception("reading a WebSocket failed")
            self.sock.close_with(CLOSE_INTERNAL_ERROR, "internal error; reconnect with after")
        finally:
            self._busy = False
            if self.sock.close_code is not None:
                self.sock.reader_done()
            if self._eof or self._end_pending:
                self._end()
            elif self.sock.close_code is None:
                self._watcher.start(self._readable)

    def _read(self) -> None:
        while self.sock.close_code is None:
            try:
                data = self._os.recv(RECV_BYTES)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._eof = True
                return
            for event in self._frames.feed(data):
                if self.sock.close_code is not None:
                    return
                self._event(event)
            if len(data) < RECV_BYTES:
                return  # most likely all there was; the loop says when more comes

    def _event(self, event: tuple) -> None:
        kind = event[0]
        if kind == "text" or kind == "binary":
            if self.peer is None or not self.peer.closing:
                self._handler(event[1])
        elif kind == "ping":
            self.sock.write(binary_frame(event[1], _PONG))
        elif kind == "pong":
            self.answered = True
        elif kind == "close":  # answered with its code (RFC 6455 §5.5.1)
            code = event[1]
            reply = bytes((0x88, 0)) if code == CLOSE_NO_STATUS else close_frame(code, "")
            self.sock.close_with(code, frame=reply)
        else:  # "fail": the parser's close (1002, 1007, 1008, 1009)
            self.sock.close_with(event[1], event[2])

    # --- pings ---------------------------------------------------------------

    def ping(self) -> None:
        """The pinger's round: drop a socket that did not answer the last ping
        (1008, as simple-websocket did), else ping it. A socket whose frame is
        being handled is not read meanwhile, so its pong may be waiting unread
        behind that frame (a send waiting on a stalled database): it is let be
        until the frame is done."""
        if self.peer is None or self.peer.closing:
            return
        if not self.answered:
            if not self._busy:
                self.peer.abort(CLOSE_POLICY_VIOLATION, "Ping/Pong timeout")
            return
        self.answered = False
        self.peer.offer(PING)

    # --- the end -------------------------------------------------------------

    def _close_decided(self) -> None:
        """A close was decided (FrameSocket.close_with): stop reading, so that the
        closer reads the client's last bytes; a frame being handled finishes first."""
        if not self._busy and not self._ended:
            self._watcher.stop()
            self.sock.reader_done()

    def _end(self) -> None:
        """The connection is over: once, after the connect work and any frame being
        handled, run `on_end`, then close the socket once its close is through."""
        if self._ended:
            return
        if not self._started or self._busy:
            self._end_pending = True
            return
        self._ended = True
        self._watcher.stop()
        self._watcher.close()
        self.sock.reader_done()
        self._held.discard(self)
        try:
            if self._on_end is not None:
                self._on_end()
        except Exception:
            log.exception("the end of a WebSocket failed")
        finally:
            self.sock.wait_closed()
            self._gsock.close()


class HeldSockets:
    """This worker's held sockets: the count WORKER_CONNECTIONS caps, one pinger for
    all of them, and the 1001 that a stopping worker sends to each."""

    def __init__(self):
        self.readers: set[SocketReader] = set()
        self._pinger: threading.Thread | None = None
        self._empty = threading.Event()
        self._empty.set()

    def __len__(self) -> int:
        return len(self.readers)

    def add(self, reader: SocketReader) -> None:
        self.readers.add(reader)
        self._empty.clear()

    def discard(self, reader: SocketReader) -> None:
        self.readers.discard(reader)
        if not self.readers:
            self._empty.set()

    def ping_every(self, interval: float) -> None:
        """Start the worker's one pinger (once; 0 turns pings off)."""
        if interval and self._pinger is None:
            self._pinger = threading.Thread(
                target=self._ping_loop, args=(interval,), daemon=True, name="pinger"
            )
            self._pinger.start()

    def _ping_loop(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            for i, reader in enumerate(list(self.readers)):
                try:
                    reader.ping()
                except Exception:
                    log.exception("pinging a WebSocket failed")
                if i % PING_SLICE == PING_SLICE - 1:
                    time.sleep(0)

    def going_away(self, reason: str) -> None:
        """Close every held socket with 1001 (those whose close is decided keep theirs)."""
        for reader in list(self.readers):
            if reader.peer is not None:
                reader.peer.abort(CLOSE_GOING_AWAY, reason)
            else:
                reader.sock.close_with(CLOSE_GOING_AWAY, reason)

    def wait_closed(self, timeout: float) -> bool:
        """Wait until every held socket has ended (a stopping worker's last step
        before its pool closes); whether they all did within `timeout`."""
        return self._empty.wait(timeout)


# The one set of this worker's held sockets (a gunicorn worker is one process).
held = HeldSockets()


def take_over(raw, key: str, frames: ClientFrames) -> SocketReader:
    """Answer a checked handshake with our own 101 on the server's socket `raw` and
    hold the connection from now on: gunicorn closes `raw` when the request
    returns, so the descriptor moves to a socket of our own (detach keeps it open)."""
    raw.sendall(switching_protocols(key))
    gsock = gsocket.socket(fileno=raw.detach())
    return SocketReader(gsock, frames, held)
