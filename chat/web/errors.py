"""How the app answers every error: one table of statuses, three forms of answer.

- Pages: a page in the site's layout saying what happened and what to do, with
  a way back (the rooms list, or the login page for someone logged out).
- `/api/`: JSON `{"error": {"code": ..., "message": ...}}`.
- The WebSocket routes: a short plain-text line (a refusal before the upgrade,
  read by websocat and scripts, never by a browser tab).

Two kinds of error get here. A refusal (chat/domain/errors.py ChatError, from
a validator, an action, a slash command, the search, the request checks)
answers with the status HTTP_STATUS gives its code, and its code in JSON. An
HTTPException (abort(), Werkzeug's own: 401, 404, 405...) answers with its
status, and under /api/ the code API_CODES gives that status.

Status, headers (Retry-After, Allow, WWW-Authenticate) and the description the
code gave abort() are kept in all three. An unhandled exception is logged once,
with its traceback, by Flask (`handle_exception`) and reaches `answer` as a 500
that shows nothing of it; a database that does not answer is a 503.
"""

import logging
from dataclasses import dataclass

import psycopg
from flask import Flask, Response, current_app, g, jsonify, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException, ServiceUnavailable, default_exceptions

from chat.domain.errors import ChatError
from chat.web.auth import login_manager

log = logging.getLogger(__name__)

# The HTTP status of every ChatError code (docs/protocol.md, "HTTP JSON API"):
# the JSON API, pages and search answer a refusal with it. A code no HTTP
# request can meet is in SOCKET_ONLY instead (tests/test_errors.py checks
# that every code raised anywhere is in one of the two).
HTTP_STATUS = {
    "bad_request": 400,
    "bad_frame": 400,
    # Text over MAX_MESSAGE_CHARS is a field refused, as a socket refuses it;
    # 413 is for a request body over MAX_CONTENT_LENGTH.
    "too_large": 400,
    "bad_command": 400,
    "unknown_command": 400,
    "too_many_reactions": 400,
    # Over MAX_TOKENS_PER_USER: revoke one first (waiting does not help: not a 429).
    "too_many_tokens": 400,
    # Over MAX_INCOMING_PER_ROOM: revoke one first.
    "too_many_webhooks": 400,
    # A username or room name in use (the forms, which say so next to the field).
    "taken": 400,
    # An upload over UPLOAD_QUOTA_BYTES (the person's files in all): delete some first.
    "quota_exceeded": 413,
    # An image whose header cannot be read, or over IMAGE_MAX_PIXELS (docs/files.md).
    "bad_image": 422,
    "forbidden": 403,
    "not_found": 404,
    "rate_limited": 429,
    "too_many_requests": 429,
    "unavailable": 503,
}
# Codes only a socket's error frame carries: refusals of frames no HTTP route takes.
SOCKET_ONLY = frozenset({"not_joined", "too_many_rooms", "unknown_type"})

# The `code` of an /api/ error body for an HTTPException's status
# (docs/protocol.md, "HTTP JSON API"): one for every error status Werkzeug has
# (tests/web/test_error_pages.py checks each), so a script can tell them apart
# without reading the message. Statuses nothing here raises today are listed
# too: a library (Werkzeug's request parsing, an extension) may raise them.
# A few statuses never reach the app: gunicorn answers them itself, in its own
# HTML, while reading the request (GUNICORN_OWN_ERRORS).
API_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "timeout",
    409: "conflict",
    410: "gone",
    411: "length_required",
    412: "precondition_failed",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported",
    416: "range_not_satisfiable",
    417: "expectation_failed",
    418: "teapot",
    421: "misdirected",
    422: "unprocessable",
    423: "locked",
    424: "failed_dependency",
    428: "precondition_required",
    429: "too_many_requests",
    431: "headers_too_large",
    451: "unavailable_for_legal_reasons",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "unavailable",
    504: "gateway_timeout",
    505: "http_version_not_supported",
}
# Answered by gunicorn before the app sees the request (gunicorn.conf.py's
# limit_request_* settings), as a short HTML page whatever the path, /api/ too:
# a request line over limit_request_line (414), more or larger header fields
# than limit_request_fields / limit_request_field_size (431), a request line or
# header gunicorn cannot parse (400). docs/protocol.md says so.
GUNICORN_OWN_ERRORS = (400, 414, 431)
# What a script that hit a database outage is told (it may resend: sends are
# idempotent by client_id).
API_DATABASE_DOWN = "the database is unavailable; retry (same client_id)"
# Retry-After while the database does not answer: a PostgreSQL restart or a
# failover takes seconds, and retrying sooner only adds load to the recovery.
DATABASE_RETRY_AFTER = 5


@dataclass(frozen=True)
class Page:
    """What a person reads for one status: a title, what happened, what to do."""

    title: str
    happened: str
    todo: str


# The pages. `{...}` fields are filled from the request (see _page).
PAGES = {
    400: Page(
        "That request was not understood",
        "Something in the address or the form you sent could not be read.",
        "Check the address, or go back and try again.",
    ),
    401: Page(
        "Please log in",
        "You need to be logged in to see this.",
        "Log in, and you will be brought back here.",
    ),
    403: Page(
        "Not allowed",
        "Your account may not do this.",
        "Go back to the rooms you can see.",
    ),
    404: Page(
        "Nothing here",
        "There is no page at this address that you can see: the address may be mistyped, "
        "or the room may not exist or be open only to its members.",
        "Check the address, or pick a room from your list.",
    ),
    405: Page(
        "Not available this way",
        "This address does not take that kind of request: it is not a page to open, "
        "or not a form to send.",
        "Use the links and buttons on the site's pages.",
    ),
    408: Page(
        "That took too long",
        "Your browser took too long to send its request, so the server stopped waiting.",
        "Check your connection and try again.",
    ),
    413: Page(
        "Too large",
        "What you sent is larger than the {limit} this server accepts.",
        "Go back and send something smaller.",
    ),
    414: Page(
        "That address is too long",
        "The address you opened is longer than this server reads.",
        "Check the link, or go back and try a shorter search.",
    ),
    431: Page(
        "Too much in the request",
        "Your browser sent more in its request headers (often cookies) than this server reads.",
        "Clear this site's cookies, log in again and try once more.",
    ),
    415: Page(
        "Not in a form this server reads",
        "What you sent was encoded in a way this server does not take.",
        "Send it again as it is, without compressing it.",
    ),
    429: Page(
        "Too many requests",
        "You sent too many requests in a short time.",
        "Wait {retry_after} and try again.",
    ),
    500: Page(
        "Something went wrong",
        "The server ran into a problem it did not expect; it has been recorded.",
        "Try again in a moment. If it keeps happening, tell whoever runs this chat.",
    ),
    503: Page(
        "Temporarily unavailable",
        "The chat cannot answer right now: it is restarting, or cannot reach its database.",
        "Try again in {retry_after}.",
    ),
}
# Forms that stayed open too long (or came from another site) fail their CSRF check.
CSRF_PAGE = Page(
    "This form has expired",
    "The form was sent without a valid security token, usually because it stayed "
    "open for a long time.",
    "Go back, reload the page and send the form again.",
)
OTHER_PAGE = Page(
    "That did not work",
    "The server could not complete this request.",
    "Go back and try again.",
)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, answer)
    app.register_error_handler(ChatError, refused)
    app.register_error_handler(psycopg.OperationalError, database_down)


def refused(err: ChatError):
    """A refusal no view answered itself (nothing was changed): the status
    HTTP_STATUS gives its code, answered like any HTTP error (see answer),
    with its code and message; Retry-After when it says how long to wait."""
    return answer(as_http(err))


def as_http(err: ChatError) -> HTTPException:
    """`err` as the HTTPException of its status (400 for a code missing from
    HTTP_STATUS), its message as the description, its code as `error_code`."""
    exc = default_exceptions[HTTP_STATUS.get(err.code, 400)](description=err.message)
    exc.error_code = err.code
    if err.retry_after is not None:
        exc.retry_after = err.retry_after  # TooManyRequests, ServiceUnavailable: a header
    return exc


def retry_after(err: ChatError) -> list[tuple[str, str]]:
    """The Retry-After header of a refusal that says how long to wait, else none."""
    return [] if err.retry_after is None else [("Retry-After", str(err.retry_after))]


def database_down(exc: psycopg.OperationalError):
    """PostgreSQL is restarting or unreachable (a PoolTimeout too): 503, retry later."""
    current_app.logger.warning("%s %s: database unavailable: %s", request.method, request.path, exc)
    # The page's header must not ask the database who is logged in (it would
    # wait out the pool's timeout again): whoever it is, the page is the same.
    g.database_down = True
    description = API_DATABASE_DOWN if _is_api() else None
    return answer(ServiceUnavailable(description, retry_after=DATABASE_RETRY_AFTER))


def answer(exc: HTTPException):
    """Every HTTP error: JSON under /api/, plain text on sockets, else a page."""
    if exc.code is None or exc.code < 400 or exc.response is not None:
        return exc  # not an error (a redirect), or already a whole response
    if _is_api():
        # A refusal (as_http) keeps its own code: the one a socket would send.
        code = getattr(exc, "error_code", None) or API_CODES.get(exc.code, _fallback(exc.code))
        body = jsonify(error={"code": code, "message": exc.description})
    elif _is_socket():
        body = Response(f"{exc.code} {exc.name}: {exc.description}\n", mimetype="text/plain")
    else:
        body = Response(_page_html(exc), mimetype="text/html")
    for name, value in exc.get_headers():  # Retry-After, WWW-Authenticate, Allow ...
        if name.lower() != "content-type":
            body.headers[name] = value
    body.status_code = exc.code
    return body


def _fallback(status: int) -> str:
    """The code of a status missing from API_CODES (one a newer Werkzeug adds):
    by its class, never a bare "error"."""
    return "internal_error" if status >= 500 else "bad_request"


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _is_socket() -> bool:
    return request.path == "/ws" or request.path.startswith("/ws/")


def _page_html(exc: HTTPException) -> str:
    """The error page in the site's layout; a bare page if even that fails."""
    page = _page(exc)
    detail = _detail(exc)
    try:
        back_href, back_label = _way_back(exc.code)
        return render_template(
            "error.html",
            status=exc.code,
            page=page,
            detail=detail,
            back_href=back_href,
            back_label=back_label,
        )
    except Exception:  # a page for a failure must not fail: say it plainly instead
        log.exception("the %d page could not be rendered", exc.code)
        return (
            f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(page.title)}</title>"
            f"<h1>{escape(page.title)}</h1><p>{escape(page.happened)}</p>"
            f'<p>{escape(page.todo)}</p><p><a href="/rooms">Back to the rooms</a></p>'
        )


def _page(exc: HTTPException) -> Page:
    page = CSRF_PAGE if isinstance(exc, CSRFError) else PAGES.get(exc.code, OTHER_PAGE)
    fields = {
        "limit": _size(current_app.config.get("MAX_CONTENT_LENGTH")),
        "retry_after": _wait(_header(exc, "Retry-After")),
    }
    return Page(page.title, page.happened.format(**fields), page.todo.format(**fields))


def _detail(exc: HTTPException) -> str | None:
    """What the code told abort(), when it said more than Werkzeug's stock text
    (which the page's own sentences replace)."""
    description = exc.description
    if not description or description == type(exc).description or exc.code >= 500:
        return None  # a 5xx description may name internals; the page says enough
    return description if description[-1] in ".!?" else description + "."


def _way_back(status: int) -> tuple[str, str]:
    """The page's main link: the rooms list, or the login page for someone logged out."""
    signed_in = _signed_in()  # first: the header of the page needs to know too
    if status == 401:  # whoever is logged in, it was not enough
        return url_for("auth.login", next=request.full_path.rstrip("?")), "Log in"
    if signed_in:
        return url_for("rooms.index"), "Back to your rooms"
    return url_for("auth.login"), "Log in"


def _signed_in() -> bool:
    """Whether the page's header may show the account, without failing the page.

    The base template reads current_user, which may ask the database. When the
    database is what failed, or fails now, the page is shown as to someone
    logged out (flask-login keeps the loaded user in g._login_user).
    """
    if g.get("database_down") and "_login_user" not in g:
        g._login_user = login_manager.anonymous_user()
    try:
        return bool(current_user.is_authenticated)
    except psycopg.Error as exc:
        log.warning("error page for %s: who is logged in is unknown (%s)", request.path, exc)
        g._login_user = login_manager.anonymous_user()
        return False


def _header(exc: HTTPException, name: str) -> str | None:
    return next((v for k, v in exc.get_headers() if k.lower() == name.lower()), None)


def _wait(retry_after: str | None) -> str:
    """Retry-After in words: "30 seconds", "2 minutes"; "a few minutes" if unknown."""
    if retry_after is None or not retry_after.isdigit():
        return "a few minutes"
    seconds = int(retry_after)
    if seconds <= 90:
        return "a moment" if seconds <= 1 else f"{seconds} seconds"
    minutes = round(seconds / 60)
    return f"{minutes} minutes"


def _size(limit: int | None) -> str:
    if not limit:
        return "size"
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MiB"
    return f"{limit // 1024} KiB" if limit >= 1024 else f"{limit} bytes"
