"""Limits on HTTP requests: a deadline for request bodies, and the per-user send
budget shared by every worker (kept in PostgreSQL by chat/actions/limits.py)."""

import functools
import logging
import math

from flask import Flask, abort, current_app, request
from flask_login import current_user

from chat import actions
from chat.domain.errors import ChatError
from chat.web import worker

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Register before any hook that reads the body (Flask-WTF's CSRF check does)."""
    app.before_request(read_body_in_time)


# Routes whose bodies may be larger than MAX_CONTENT_LENGTH, and the setting
# that bounds them instead: an avatar is a photo (docs/files.md "Avatars").
LARGE_BODIES = {"settings.avatar": "UPLOAD_MAX_BYTES"}


def read_body_in_time():
    """A request body must arrive whole within REQUEST_BODY_TIMEOUT seconds.

    A client that sends a few bytes of its body now and then (a slow POST)
    would otherwise hold a greenlet and a socket for as long as it likes.
    The head of the request is already bounded by gunicorn's `keepalive`.
    The body is read here once and cached; form parsing reads the cache.
    """
    view = current_app.view_functions.get(request.endpoint)
    limit_key = getattr(view, "streams_body", None)
    if limit_key is not None:
        open_stream(current_app.config[limit_key])
        return
    if not request.content_length and "chunked" not in request.headers.get("Transfer-Encoding", ""):
        return
    import gevent

    seconds = current_app.config["REQUEST_BODY_TIMEOUT"]
    if request.endpoint in LARGE_BODIES:
        request.max_content_length = current_app.config[LARGE_BODIES[request.endpoint]]
    try:
        with gevent.Timeout(seconds):
            data = request.get_data(cache=True)
            limit = request.max_content_length
            # A chunked body has no Content-Length to refuse up front: werkzeug
            # stops reading at the limit without a word, so a byte more is a 413.
            if limit is not None and len(data) >= limit and request.content_length is None:
                if request.environ["wsgi.input"].read(1):
                    abort(413)
    except gevent.Timeout:
        log.warning(
            "%s %s from %s: body not received within %s s, refused",
            request.method,
            request.path,
            request.remote_addr,
            seconds,
        )
        abort(408, description=f"the request body did not arrive within {seconds:g} seconds")


def streams_body(limit_key: str):
    """Mark a view that reads its request body itself, as a stream (an upload):
    the body is neither read here nor parsed by anything before the view, and
    may be as large as the config value `limit_key` (instead of
    MAX_CONTENT_LENGTH). The view bounds the time of each read itself."""

    def mark(view):
        view.streams_body = limit_key
        return view

    return mark


def open_stream(limit: int) -> None:
    """Before a streaming view: a Content-Length over `limit` is refused now,
    before a byte of the body is read (413 too_large); the body is opaque
    bytes whatever its Content-Type claims (no form parsing, no JSON: curl's
    --data-binary says application/x-www-form-urlencoded); werkzeug's own cut
    is one byte past `limit`, so the view's count, which says more, comes first."""
    length = request.content_length
    if length is not None and length > limit:
        abort(413, description=too_large(limit))
    request.environ["CONTENT_TYPE"] = "application/octet-stream"
    request.max_content_length = limit + 1


def too_large(limit: int) -> str:
    """What a 413 for a body over `limit` bytes says."""
    return f"the file is larger than this server's limit of {limit:,} bytes ({limit / 2**20:g} MiB)"


def take_send_token(user_id: int | None = None) -> None:
    """Count one HTTP write to a room against the user's send budget, shared by
    every worker and host: RATE_LIMIT_PER_SEC with bursts of RATE_LIMIT_BURST,
    one bucket per user for every HTTP path that writes to a room (sends, the
    HTML form, edits, deletions, reactions, an incoming webhook's posts on its
    bot's `user_id`; None: the current user's). Over it, nothing is done: raises
    ChatError('rate_limited') with the seconds to wait (429 with Retry-After)."""
    config = current_app.config
    rate = config["RATE_LIMIT_PER_SEC"]
    if user_id is None and current_user.is_authenticated:
        user_id = current_user.id
    if rate > 0 and user_id is not None:
        with worker.connection() as conn:
            wait = actions.take_token(conn, f"send:{user_id}", rate, config["RATE_LIMIT_BURST"])
        if wait is not None:
            raise ChatError(
                "rate_limited",
                "Too many messages at once: slow down and try again.",
                retry_after=max(1, math.ceil(wait)),
            )


def send_limited(view):
    """The view, counted against the user's send budget first (take_send_token)."""

    @functools.wraps(view)
    def limited(*args, **kwargs):
        take_send_token()
        return view(*args, **kwargs)

    return limited
