"""The synchronous client: the JSON API over HTTP (requests), and the live stream.

HTTP goes through `requests` rather than urllib: one Session keeps the
connection alive between calls (a bot answering a busy room sends many), it
reads proxies and CA bundles from the environment as other tools do, and its
exceptions tell "no connection" from "connection dropped" from "timed out",
each of which is retried here (every call is safe to repeat: retry.py).
"""

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

import requests

from chatclient.errors import UnavailableError, refusal
from chatclient.models import Frame, Me, Room, Sent
from chatclient.resume import STORED, FrameFilter, socket_url
from chatclient.retry import Backoff, retry_after, wait_before_retry
from chatclient.stream import Stream

# Long enough for a loaded server, short enough that a dead connection is
# noticed and retried well before a person would give up.
DEFAULT_TIMEOUT = 15.0
# The API's largest page (chat/web/api.py MAX_LIMIT): fewest round trips.
PAGE_SIZE = 200


def new_client_id() -> str:
    """A fresh client_id: `py-` and 32 hex digits (the server takes 1 to 64
    characters), unique enough never to meet another operation's."""
    return f"py-{uuid.uuid4().hex}"


class Client:
    """A client of one chat server, as the user a Bearer API token belongs to.

    `base_url` is the site's address (`https://chat.example.com`, or with a
    path prefix it is served under); `token` an API token (`flask --app app
    create-token NAME`, the settings page, or `POST /api/tokens`). `timeout`
    is seconds per HTTP try; `retry` bounds the retries of every HTTP call;
    `trust_env` reads proxy settings from the environment (HTTP_PROXY...) for
    HTTP and the socket alike. Use it as a context manager, or call close().
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: Backoff | None = None,
        trust_env: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retry = retry or Backoff()
        self.trust_env = trust_env
        self._http = requests.Session()
        self._http.trust_env = trust_env
        self._http.headers["Authorization"] = f"Bearer {token}"
        self._http.headers["Accept"] = "application/json"

    # --- the JSON API ---------------------------------------------------------

    def me(self) -> Me:
        """The token's user (`GET /api/me`). AuthError for a bad token."""
        data = self._call("GET", "/api/me")
        return Me(username=data["username"], display_name=data.get("display_name"))

    def rooms(self) -> list[Room]:
        """The rooms the token's user is a member of, by name (`GET /api/rooms`).
        A public room one only reads is not listed: `history`, `send` and
        `stream` take any room the user can see."""
        data = self._call("GET", "/api/rooms")
        return [Room.from_json(room) for room in data["rooms"]]

    def history(
        self,
        room: str,
        *,
        before: int | None = None,
        after: int | None = None,
        only: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Frame]:
        """Every frame of the room's stored history, fetched a page at a time
        (`GET /api/rooms/<room>/messages`) as the iteration needs them.

        Without `after`, it goes back: newest first, from just below `before`
        (or the room's last seq) down to seq 1. With `after`, it goes forward:
        oldest first, from `after + 1` up to the room's last seq as of each
        page (messages stored meanwhile are read too). Frames are messages in
        their current state (`chat`, with `edited`, `deleted`, `reactions`) and
        events (`chat_edit`, `reaction`, `member`...); `only="messages"` leaves
        the events out, `only="main"` also the thread replies not sent to the
        room. `page_size` is 1 to 200. NotFoundError if the room is not there
        or not visible to the user.
        """
        for page in self.history_pages(
            room, before=before, after=after, only=only, page_size=page_size
        ):
            yield from page

    def history_pages(
        self,
        room: str,
        *,
        before: int | None = None,
        after: int | None = None,
        only: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[list[Frame]]:
        """`history` a page at a time (one request each; no page is empty),
        each page in the order `history` yields it."""
        params: dict[str, Any] = {"limit": page_size}
        if only is not None:
            params["only"] = only
        if after is not None:
            return self._pages_forward(room, after, before, params)
        return self._pages_back(room, before, params)

    def _pages_forward(
        self, room: str, after: int, before: int | None, params: dict[str, Any]
    ) -> Iterator[list[Frame]]:
        if before is not None:
            params["before"] = before
        while True:
            page = self._messages(room, {**params, "after": after})
            frames = [Frame.from_json(m) for m in page["messages"]]
            if frames:
                yield frames
            # Done when a page is empty or reaches the room's last seq (or the
            # bound): no extra round trip for a short page at the end.
            end = page["last_seq"] if before is None else min(page["last_seq"], before - 1)
            if not frames or frames[-1].seq is None or frames[-1].seq >= end:
                return
            after = frames[-1].seq

    def _pages_back(
        self, room: str, before: int | None, params: dict[str, Any]
    ) -> Iterator[list[Frame]]:
        while before is None or before > 1:
            query = dict(params) if before is None else {**params, "before": before}
            frames = [Frame.from_json(m) for m in self._messages(room, query)["messages"]]
            if not frames or frames[0].seq is None:
                return
            yield frames[::-1]
            before = frames[0].seq

    def _messages(self, room: str, params: Mapping[str, Any]) -> dict[str, Any]:
        path = f"/api/rooms/{_path(room)}/messages"
        page: dict[str, Any] = self._call("GET", path, params=params)
        return page

    def send(
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
        """Send `text` to the room (`POST /api/rooms/<room>/messages`); the
        stored message's seq in the answer.

        The send carries a `client_id` (a fresh one unless given), and every
        retry of it the same one: when an answer is lost (the connection
        dropped, a 5xx after the commit) the retry is answered with the first
        message's seq and `duplicate=True`, never a second message. A 429 is
        waited out as its Retry-After says. `thread` makes it a reply (the
        root's seq), `also_in_room` shows that reply in the room too, `quote`
        quotes a message, `files` are upload ids. Raises RefusedError (and its
        kinds) for a refusal, e.g. code `too_large`, `unknown_command`;
        UnavailableError once the retries are spent.
        """
        client_id = client_id or new_client_id()
        body: dict[str, Any] = {"content": text, "client_id": client_id}
        if thread is not None:
            body["thread"] = thread
            if also_in_room:
                body["also_in_room"] = True
        if quote is not None:
            body["quote"] = quote
        files = list(files)
        if files:
            body["files"] = files
        data = self._call("POST", f"/api/rooms/{_path(room)}/messages", json=body)
        return Sent.from_json(data, client_id)

    # --- the live stream ------------------------------------------------------

    def stream(
        self,
        room: str,
        *,
        after: int | None = None,
        types: FrameFilter = STORED,
        backoff: Backoff | None = None,
    ) -> Stream:
        """Follow the room live over its WebSocket (`/ws/<room>`); iterate the
        result for frames. See Stream for what is delivered and how it
        reconnects. `after`: the seq to resume after (0: from the room's
        first message; None: from now on). `types`: STORED (the default,
        stored frames only), ALL, or a set of frame type names. `backoff`:
        waits between reconnects (default: from 0.25 s up to 15 s, forever).
        """
        return Stream(
            socket_url(self.base_url, room),
            self.token,
            room,
            after=after,
            types=types,
            backoff=backoff or Backoff(maximum=15.0, attempts=None),
            trust_env=self.trust_env,
        )

    # --- plumbing -------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """One API call, retried as retry.py says; the answer's JSON body."""
        failures = 0
        while True:
            try:
                answer = self._http.request(
                    method, self.base_url + path, params=params, json=json, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                failures += 1
                wait = wait_before_retry(self.retry, failures, None, None)
                if wait is None:
                    raise UnavailableError(
                        f"{method} {path}: no answer after {failures} tries: {exc}", failures
                    ) from exc
                time.sleep(wait)
                continue
            if answer.status_code < 400:
                return answer.json() if answer.content else None
            failures += 1
            asked = retry_after(answer.headers)
            wait = wait_before_retry(self.retry, failures, answer.status_code, asked)
            if wait is None:
                raise self._refused(method, path, answer, asked, failures)
            time.sleep(wait)

    @staticmethod
    def _refused(
        method: str, path: str, answer: requests.Response, asked: float | None, tries: int
    ) -> Exception:
        """The exception for a final error answer: the server's code and message
        from its JSON body (docs/protocol.md, HTTP JSON API), else the status's."""
        code, message = None, answer.reason or ""
        try:
            error = answer.json().get("error") or {}
            code, message = error.get("code"), error.get("message") or message
        except (ValueError, AttributeError):
            pass  # not JSON: a proxy's page, gunicorn's own 414/431
        status = answer.status_code
        if status >= 500:
            return UnavailableError(f"{method} {path}: {status} {code}: {message}", tries)
        return refusal(status, code, message, asked)

    def close(self) -> None:
        """Close the HTTP connections (open streams are closed by their own close())."""
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _path(room: str) -> str:
    """A room name as one path segment."""
    return quote(room, safe="")
