"""What the log knows about the request being served: its id, the logged-in
user and the room, as fields of every line logged while it is served
(LOG_FORMAT=json shows them; chat/serverlog.py). A WebSocket's lines carry
them for as long as the socket is open: it is served inside its request."""

import re
import secrets

from flask import Flask, g, request

from chat import serverlog

# nginx's $request_id (32 hex digits) or a load balancer's; anything else is
# replaced, so a client cannot write arbitrary text into the log's field.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")


def init_app(app: Flask) -> None:
    # First of the before_request hooks, so the lines of the others carry it too.
    app.before_request_funcs.setdefault(None, []).insert(0, _bind)
    app.teardown_request(_unbind)


def _bind() -> None:
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _REQUEST_ID.match(given) else secrets.token_hex(16)
    args = request.view_args or {}
    room = args.get("name") or args.get("room_name")
    g.log_context = serverlog.bind(request_id=request_id, room=room)


def _unbind(exc: BaseException | None) -> None:
    token = g.pop("log_context", None)
    if token is not None:
        serverlog.unbind(token)


def note_user(username: str) -> None:
    """The request's user is known (chat/web/auth.py's loaders)."""
    serverlog.note(user=username)
