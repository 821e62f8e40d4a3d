"""The live stream, synchronous: websockets' sync client, moved by resume.Resume.

Iterating a Stream blocks until the next frame. Connecting, reconnecting,
waiting out the backoff and dropping repeats all happen inside `next()`, so a
script's loop is only `for frame in stream:`. `close()` may be called from
another thread (a signal handler's, a supervisor's): it ends the iteration
at once, even in the middle of a backoff wait.
"""

import json
import threading
from collections.abc import Callable
from contextlib import ExitStack
from types import TracebackType

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from chatclient.models import Frame
from chatclient.resume import FrameFilter, Resume
from chatclient.retry import Backoff

# Seconds to open a connection (TCP, TLS and the upgrade): a server that takes
# longer is as good as down, and the attempt is retried.
OPEN_TIMEOUT = 10.0
# The largest frame accepted: far above any the server sends (a 4,000-character
# message with ten files' metadata is a few KB), so only a broken peer meets it.
MAX_FRAME_BYTES = 2**22


class Stream:
    """Frames of one room, live, for as long as the script iterates.

    Every stored frame (a message, edit, deletion, reaction, membership or
    rename event: Frame.stored) with a seq above `after` is delivered exactly
    once and in seq order, across dropped connections and server restarts:
    on any interruption the stream reconnects with backoff and resumes after
    the last seq it delivered (`last_seq`). Frames that are not stored
    (`ready`, `typing`, `presence`, `online_users`, `user_joined`...) are
    delivered only when asked for (`types=ALL` or a set of type names) and
    are best-effort: those sent while disconnected are lost, `ready` and
    `online_users` come again after every reconnect.

    Ends with StopIteration after close(); with AuthError when the token is
    revoked or wrong, NotFoundError when the room is gone or no longer
    visible, StreamClosedError for a close that reconnecting cannot cure,
    UnavailableError if the backoff has a number of attempts and they are
    spent (by default it retries for ever).
    """

    def __init__(
        self,
        url: str,
        token: str,
        room: str,
        *,
        after: int | None,
        types: FrameFilter,
        backoff: Backoff,
        trust_env: bool = True,
    ) -> None:
        self.room = room
        self._resume = Resume(url, after, types, backoff)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._trust_env = trust_env
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ws: ClientConnection | None = None
        self._stack = ExitStack()

    @property
    def last_seq(self) -> int | None:
        """The seq of the last stored frame delivered (or the `after` given, or
        None before the first `ready` of a stream from now on): save it to
        resume a later stream exactly where this one stopped."""
        return self._resume.last_seq

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Frame:
        while True:
            ws = self._ws or self._connect()
            if ws is None:
                raise StopIteration
            try:
                text = ws.recv()
            except ConnectionClosed as closed:
                self._disconnect()
                if self._closing.is_set():
                    raise StopIteration from None
                code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")
                self._wait(self._resume.closed, code, reason)
                continue
            frame = self._resume.accept(json.loads(text))
            if frame is not None:
                return frame

    def _connect(self) -> ClientConnection | None:
        """A new connection, resuming after the last seq; None once closed."""
        while not self._closing.is_set():
            try:
                stack = ExitStack()
                ws = stack.enter_context(
                    connect(
                        self._resume.connect_url(),
                        additional_headers=self._headers,
                        # The server never negotiates it (docs/protocol.md).
                        compression=None,
                        open_timeout=OPEN_TIMEOUT,
                        max_size=MAX_FRAME_BYTES,
                        proxy=True if self._trust_env else None,
                    )
                )
            except InvalidStatus as refused:
                self._wait(self._resume.refused_with, refused.response)
                continue
            except (OSError, InvalidHandshake) as error:  # TimeoutError is an OSError
                self._wait(self._resume.unreachable, error)
                continue
            with self._lock:
                if self._closing.is_set():
                    stack.close()
                    return None
                self._ws, self._stack = ws, stack
            return ws
        return None

    def _wait(self, decide: Callable[..., float], *args: object) -> None:
        """Ask `decide(*args)` how long to wait (it raises when the stream must
        end: the stream is then closed) and wait, unless close() comes first."""
        try:
            delay = decide(*args)
        except BaseException:
            self.close()
            raise
        self._closing.wait(delay)

    def _disconnect(self) -> None:
        with self._lock:
            stack, self._ws, self._stack = self._stack, None, ExitStack()
        stack.close()

    def close(self) -> None:
        """End the stream: the connection is closed (1000) and iteration stops.
        Safe from any thread, and more than once."""
        self._closing.set()
        self._disconnect()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
