"""The live stream's protocol, without I/O: shared by the sync Stream and the
asyncio one, which only move bytes.

A `/ws/<room>?after=N` socket sends every stored frame with `seq > N` in
order, then `ready`, then live frames with no gap and no duplicate across the
switch (docs/protocol.md, "Joining"). So a client that remembers the last
seq it delivered, and reconnects with it as `after`, delivers every stored
frame exactly once and in order, whatever happened to the connection in
between. The one other duty is to drop what a socket sends twice: a frame at
or below the last seq delivered (a catch-up overlapping what was seen live).

Closes and refusals are read as docs/protocol.md lists them:

- reconnect (with backoff): no close frame at all (a dropped connection),
  1000 not asked for, 1001 (the worker restarts), 1011, 1012, 1013 (the
  client fell behind, or the database is down), any code not named below;
  handshake refusals 429 (too many sockets), 5xx (503 while a worker stops,
  502/504 from a proxy with no upstream) and no answer at all.
- reconnect once, and let the handshake decide: 1008. It means a revoked
  token, a removal from a private room, or missed pings. A revoked token's
  handshake is refused 401 and a removed member's 404, which end the stream
  with AuthError and NotFoundError; after missed pings the socket simply
  opens again.
- end the stream with an exception: 1002, 1003, 1007, 1009, 1010 (this
  client broke the protocol or a limit and would again: StreamClosedError);
  handshake refusals 400, 401, 403, 404 and any other 4xx (RefusedError kinds).
"""

from collections.abc import Collection
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from websockets.http11 import Response

from chatclient.errors import StreamClosedError, UnavailableError, refusal
from chatclient.models import Frame
from chatclient.retry import RETRY_STATUSES, Backoff, retry_after

STORED: Literal["stored"] = "stored"
ALL: Literal["all"] = "all"
# STORED: rows of the room's sequence only; ALL: every frame; or a set of types.
FrameFilter = Literal["stored", "all"] | Collection[str]

# Close codes after which reconnecting would fail the same way: the client
# sent something the server cannot take (RFC 6455 §7.4.1).
FATAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1009, 1010})


def socket_url(base_url: str, room: str) -> str:
    """The room's socket address for a site's base URL: http(s) becomes
    ws(s), a path prefix the site is served under is kept."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = f"{parts.path}/ws/{quote(room, safe='')}"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class Resume:
    """The state of one stream across its connections: the last seq delivered,
    which frames the script wants, and how many connection attempts in a row
    have failed (the backoff's count, reset by each `ready`)."""

    def __init__(self, url: str, after: int | None, types: FrameFilter, backoff: Backoff) -> None:
        if after is not None and after < 0:
            raise ValueError("after must be a non-negative seq")
        self.url = url
        # None until the first `ready` when the stream starts "from now on".
        self.last_seq = after
        # One type name alone is a set of one (a str is a Collection of its letters).
        self.types = (
            frozenset({types}) if isinstance(types, str) and types not in (STORED, ALL) else types
        )
        self.backoff = backoff
        self.failures = 0

    def connect_url(self) -> str:
        """Where to connect now: resuming after the last seq delivered, or
        (first connection of a stream from now on) without `after`."""
        if self.last_seq is None:
            return self.url
        return f"{self.url}?after={self.last_seq}"

    def accept(self, data: object) -> Frame | None:
        """A decoded frame from the socket: the Frame to deliver, or None when
        it is a repeat, catch-up before a stream from now on reached `ready`,
        a type the script did not ask for, or not a JSON object at all."""
        if not isinstance(data, dict):
            return None
        frame = Frame.from_json(data)
        if frame.type == "ready":
            self.failures = 0
            if self.last_seq is None:
                last = data.get("last_seq")
                self.last_seq = last if isinstance(last, int) else 0
        if frame.stored:
            assert frame.seq is not None
            if self.last_seq is None or frame.seq <= self.last_seq:
                return None  # catch-up of a stream from now on, or already delivered
            self.last_seq = frame.seq
        return frame if self._wanted(frame) else None

    def _wanted(self, frame: Frame) -> bool:
        if self.types == STORED:
            return frame.stored
        if self.types == ALL:
            return True
        return frame.type in self.types

    def closed(self, code: int | None, reason: str) -> float:
        """The connection ended with close `code` (None: no close frame). The
        wait before reconnecting; raises when the stream must end."""
        if code in FATAL_CLOSE_CODES:
            raise StreamClosedError(code, reason)
        return self._next_wait()  # 1008 too: the reconnect's handshake decides

    def refused(self, status: int, body: str, asked: float | None) -> float:
        """The handshake was answered `status` (not 101) with a plain-text
        `body` and a Retry-After `asked`. The wait before trying again; raises
        the refusal when retrying cannot help."""
        if status in RETRY_STATUSES:
            wait = self._next_wait()
            if asked is not None and asked <= self.backoff.max_retry_after:
                wait = max(wait, asked)
            return wait
        message = body.strip().splitlines()[0] if body.strip() else f"handshake refused {status}"
        raise refusal(status, None, message, asked)

    def refused_with(self, answer: Response) -> float:
        """As `refused`, for the handshake's answer as websockets gives it
        (InvalidStatus.response, the same from its sync and asyncio clients)."""
        body = answer.body.decode("utf-8", "replace") if answer.body else ""
        return self.refused(answer.status_code, body, retry_after(answer.headers))

    def unreachable(self, error: Exception) -> float:
        """No connection could be made (refused, reset, timed out, cut during
        the handshake). The wait before trying again; raises UnavailableError
        once the backoff's attempts are spent."""
        try:
            return self._next_wait()
        except UnavailableError as spent:
            raise spent from error

    def _next_wait(self) -> float:
        self.failures += 1
        if not self.backoff.may_retry(self.failures):
            raise UnavailableError(
                f"{self.url}: no connection after {self.failures} tries", self.failures
            )
        return self.backoff.delay(self.failures)
