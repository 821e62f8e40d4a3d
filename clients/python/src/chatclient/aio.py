"""The asyncio client: the same calls as Client, awaited.

Nothing of the protocol is written twice. The HTTP calls are the sync
Client's, run in a worker thread (asyncio.to_thread): its retries, backoff
and client_id handling are the ones tested, and their waits never block the
event loop. The stream is native asyncio (websockets.asyncio.client), moved
by the same resume.Resume as the sync Stream, which decides every cursor
move, repeat, reconnect and refusal; this module only moves the bytes.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from chatclient.client import DEFAULT_TIMEOUT, PAGE_SIZE, Client
from chatclient.models import Frame, Me, Room, Sent
from chatclient.resume import STORED, FrameFilter, Resume, socket_url
from chatclient.retry import Backoff
from chatclient.stream import MAX_FRAME_BYTES, OPEN_TIMEOUT


class AsyncClient:
    """Client's calls as coroutines (`await chat.send(...)`), `history` and
    `stream` as async iterators. Arguments, answers and exceptions are
    Client's; see there. Use `async with`, or await aclose()."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: Backoff | None = None,
        trust_env: bool = True,
    ) -> None:
        self.sync = Client(base_url, token, timeout=timeout, retry=retry, trust_env=trust_env)

    async def me(self) -> Me:
        """Client.me."""
        return await asyncio.to_thread(self.sync.me)

    async def rooms(self) -> list[Room]:
        """Client.rooms."""
        return await asyncio.to_thread(self.sync.rooms)

    async def history(
        self,
        room: str,
        *,
        before: int | None = None,
        after: int | None = None,
        only: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[Frame]:
        """Client.history: a page is fetched (in a worker thread) when the
        iteration needs it."""
        pages = self.sync.history_pages(
            room, before=before, after=after, only=only, page_size=page_size
        )
        while (page := await asyncio.to_thread(next, pages, None)) is not None:
            for frame in page:
                yield frame

    async def send(
        self,
        room: str,
        text: str,
        *,
        client_id: str | None = None,
        thread: int | None = None,
        also_in_room: bool = False,
        quote: int | None = None,
        files: Iterable[str] = (),
    ) -> Sent:
        """Client.send."""
        return await asyncio.to_thread(
            lambda: self.sync.send(
                room,
                text,
                client_id=client_id,
                thread=thread,
                also_in_room=also_in_room,
                quote=quote,
                files=files,
            )
        )

    def stream(
        self,
        room: str,
        *,
        after: int | None = None,
        types: FrameFilter = STORED,
        backoff: Backoff | None = None,
    ) -> "AsyncStream":
        """Client.stream, iterated with `async for`."""
        return AsyncStream(
            socket_url(self.sync.base_url, room),
            self.sync.token,
            room,
            after=after,
            types=types,
            backoff=backoff or Backoff(maximum=15.0, attempts=None),
            trust_env=self.sync.trust_env,
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        self.sync.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncStream:
    """chatclient.Stream for asyncio: the same frames, guarantees and
    exceptions (see there), `async for frame in stream`. aclose() ends the
    iteration, also from another task and in the middle of a backoff wait."""

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
        self._closing = asyncio.Event()
        self._ws: ClientConnection | None = None

    @property
    def last_seq(self) -> int | None:
        """Stream.last_seq."""
        return self._resume.last_seq

    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self) -> Frame:
        while True:
            ws = self._ws or await self._connect()
            if ws is None:
                raise StopAsyncIteration
            try:
                text = await ws.recv()
            except ConnectionClosed as closed:
                await self._disconnect()
                if self._closing.is_set():
                    raise StopAsyncIteration from None
                code, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, "")
                await self._wait(self._resume.closed, code, reason)
                continue
            frame = self._resume.accept(json.loads(text))
            if frame is not None:
                return frame

    async def _connect(self) -> ClientConnection | None:
        """A new connection, resuming after the last seq; None once closed."""
        while not self._closing.is_set():
            try:
                ws = await connect(
                    self._resume.connect_url(),
                    additional_headers=self._headers,
                    compression=None,  # the server never negotiates it
                    open_timeout=OPEN_TIMEOUT,
                    max_size=MAX_FRAME_BYTES,
                    proxy=True if self._trust_env else None,
                )
            except InvalidStatus as refused:
                await self._wait(self._resume.refused_with, refused.response)
                continue
            except (OSError, InvalidHandshake) as error:  # TimeoutError is an OSError
                await self._wait(self._resume.unreachable, error)
                continue
            if self._closing.is_set():
                await ws.close()
                return None
            self._ws = ws
            return ws
        return None

    async def _wait(self, decide: Callable[..., float], *args: object) -> None:
        """Stream._wait: raise what `decide` raises (closed first), else wait
        its delay unless aclose() comes first."""
        try:
            delay = decide(*args)
        except BaseException:
            await self.aclose()
            raise
        try:
            await asyncio.wait_for(self._closing.wait(), delay)
        except TimeoutError:
            pass

    async def _disconnect(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def aclose(self) -> None:
        """End the stream: the connection is closed (1000) and iteration stops."""
        self._closing.set()
        await self._disconnect()

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
