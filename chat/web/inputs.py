"""HTTP input at the boundary: every string a request carries is checked before any view runs.

A URL path part, a query parameter, a form field or a JSON string holding
U+0000 or a lone surrogate would fail inside PostgreSQL (psycopg's DataError,
a 500) wherever a view passed it to a query. One `before_request` hook
refuses such a request with 400 and a sentence saying why, before any view,
so no route can forget it and nothing is written. WebSocket frames get the
same check in chat/protocol/inbound.py (`parse`), CLI arguments in chat/web/auth.py.

JSON comes in through orjson, which refuses lone surrogates and nesting
deeper than 1,024 levels as malformed JSON (a clear 400, where the standard
library's parser would hit the recursion limit), and goes out with object
keys in the order they were built: documented orders, such as reactions in
the order first given, survive the JSON API as they do the socket.
"""

import functools
import logging
from urllib.parse import unquote_to_bytes

import orjson
from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import UnsupportedMediaType

from chat.domain.errors import ChatError
from chat.domain.text import first_unstorable, unstorable
from chat.protocol.inbound import json_text_error

log = logging.getLogger(__name__)

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON with orjson's strict parser, and keys never sorted."""

    sort_keys = False

    def loads(self, s: str | bytes, **kwargs) -> object:
        return orjson.loads(s)


def init_app(app: Flask) -> None:
    """Install the JSON provider and the checks (after the body deadline hook of
    chat/web/limits.py, which reads the body first; before CSRF and every view)."""
    app.json = JSONProvider(app)
    for check in (refuse_encoded_bodies, refuse_unstorable_text, refuse_json_that_is_not_an_object):
        app.before_request(_routed_only(check))


def _routed_only(check):
    """The check, for requests routing found a view for. Flask runs app-wide
    `before_request` hooks before it raises what routing found: a path nothing
    serves (404) or a method its route does not take (405, with `Allow`) must
    get that answer, not a refusal of a body no view would have read (the API
    description promises 404 or 405 there; schemathesis's unsupported-method
    check found a TRACE with a JSON string body answered 400)."""

    @functools.wraps(check)
    def routed_check() -> None:
        if request.routing_exception is None:
            check()

    return routed_check


def refuse_encoded_bodies() -> None:
    """415 for a compressed body (Content-Encoding: gzip...): it would be read as
    text it is not; no client of ours compresses what it sends."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise UnsupportedMediaType(
            description="Content-Encoding is not supported here: send the body uncompressed."
        )


def refuse_unstorable_text() -> None:
    """Refuse a request any string of which cannot be stored (400; nothing else
    happens): ChatError('bad_frame') for text in a JSON body (what a socket's
    error frame for the same fields says), ChatError('bad_request') otherwise."""
    reason = _first_reason()
    if reason is not None:
        log.info("%s %s refused: %s", request.method, request.url_rule, reason)
        code = "bad_frame" if request.is_json else "bad_request"
        raise ChatError(code, f"The request was refused: {reason}.")


def refuse_json_that_is_not_an_object() -> None:
    """Every JSON body the API takes is an object: any other (a list, a string, a
    number) is refused here (ChatError('bad_request'), 400), so no view meets
    one it did not expect."""
    if request.is_json and request.path.startswith("/api/") and request.get_data():
        body = request.get_json(silent=True)
        if body is not None and not isinstance(body, dict):
            raise ChatError(
                "bad_request", 'The request was refused: send a JSON object, {"...": ...}.'
            )


def _first_reason() -> str | None:
    # Percent-encoded bytes that are not UTF-8 would reach the views as the
    # escapes themselves ("%ED%A0%80": werkzeug keeps what it cannot decode),
    # and be stored or searched for as such: refused, like the same bytes in JSON.
    raw = [request.query_string]
    if request.mimetype == "application/x-www-form-urlencoded":
        raw.append(request.get_data())
    for encoded in raw:
        if encoded and not _percent_decodes(encoded):
            return "text must be valid UTF-8"
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and (reason := unstorable(value)) is not None:
            return reason
    for key, values in request.args.lists():
        if (reason := first_unstorable([key, *values])) is not None:
            return reason
    if request.mimetype in _FORM_TYPES:
        for key, values in request.form.lists():
            if (reason := first_unstorable([key, *values])) is not None:
                return reason
        for key, upload in request.files.items(multi=True):
            if (reason := first_unstorable([key, upload.filename or ""])) is not None:
                return reason
    if request.is_json:
        body = request.get_json(silent=True)
        if body is None and request.get_data():
            return _json_text_reason()
        return first_unstorable(body)
    return None


def _percent_decodes(encoded: bytes) -> bool:
    """Whether a query string or form body decodes to UTF-8 text."""
    try:
        unquote_to_bytes(encoded.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _json_text_reason() -> str | None:
    """Why a JSON body that did not parse failed, if it was its text: a lone
    surrogate escape, or bytes that are not UTF-8. Other malformed JSON is for
    each view to answer (its own 400 says what it expected)."""
    try:
        orjson.loads(request.get_data())
    except orjson.JSONDecodeError as exc:
        return json_text_error(exc)
    return None
