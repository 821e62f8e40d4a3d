"""The API contract, checked on every answer and frame the tests receive (issue 19).

HTTP: every Flask test client of the suite is a ContractClient (tests/conftest.py
installs it for the session), and every requests session the end-to-end tests
use against real gunicorn and nginx (tests/servers.py `http()`) has `check_answer`
as a response hook. Each answer to an `/api/` request is checked against the
OpenAPI description the app serves (chat/web/openapi.yaml) with openapi-core,
status included (a status the description does not list for the operation is
a mismatch, as is a body or a header that breaks its schema). A request to a
path or method the description does not have must get the JSON error body with
404 or 405. Both kinds of client go through one check (`mismatch`): only the
adapters that show an answer to openapi-core differ.

WebSocket: every frame a test receives from a server is checked against the
frame schemas (chat/protocol/frames.schema.yaml, `#/$defs/ServerFrame`):
the websockets clients of the session (tests/conftest.py wraps their `recv`),
the hand-written one's text frames (tests/raw_ws.py) and the in-process
sockets a ClientSession writes to (tests/conftest.py `ScriptedSocket`). What
clients send is not checked here: tests send broken frames on purpose
(tests/protocol/test_frame_schemas.py holds the parser and `#/$defs/ClientFrame`
to each other instead).

Mismatches fail the test that received them: the check raises where the test
reads, and `mismatches` keeps every one, so one a test swallowed (or one seen
by a server thread writing to an in-process socket) still fails it
(tests/conftest.py `_no_contract_mismatch`).

The descriptions are parsed once per session: a check costs a schema
validation, not a parse.
"""

from collections.abc import Iterable
from functools import cache
from urllib.parse import urlsplit

import orjson
import requests
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, ValidationError
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_schema_validator import OAS31Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from chat.web import reference

# Every mismatch seen in this session, so one a test swallowed still fails it.
mismatches: list[str] = []

# Where the two documents are served (chat/web/reference.py): the frame schemas'
# `openapi.json#/...` references resolve next to them, as for a client reading
# them from a server. The host is never asked: the registry holds both.
SERVED_AT = "http://chat.invalid/api/"
FRAMES_URL = SERVED_AT + "frames.schema.json"
SCHEMA_FILE = "chat/protocol/frames.schema.yaml"


@cache
def _openapi() -> OpenAPI:
    return OpenAPI.from_dict(reference.description())


@cache
def _error_validator() -> OAS31Validator:
    spec = reference.description()
    return OAS31Validator(spec["components"]["schemas"]["Error"])


# --- HTTP answers ------------------------------------------------------------------


class _Asked(WerkzeugOpenAPIRequest):
    """The request as openapi-core reads it to find the operation: its body was
    read by the app already, and only the answer is checked here."""

    @property
    def body(self) -> bytes:
        return b""


class _Answer(WerkzeugOpenAPIResponse):
    """An answer as openapi-core reads it; a body that is not JSON (a file, an
    export) is left unread: reading it here would end a stream a test means to
    hold open (an export's slot), and its schema says only "bytes". Its status
    and media type are still checked."""

    @property
    def data(self) -> bytes:
        return super().data if self.response.is_json else UNREAD


class _AskedOverHTTP(RequestsOpenAPIRequest):
    """A requests request as openapi-core reads it; its body is not checked (as _Asked)."""

    @property
    def body(self) -> bytes:
        return b""


class _AnswerOverHTTP(RequestsOpenAPIResponse):
    """A requests answer as openapi-core reads it; a body that is not JSON is left
    unread (as _Answer: a streamed export stays a stream)."""

    @property
    def data(self) -> bytes:
        return super().data if _is_json(self.content_type) else UNREAD


# What openapi-core is given for a body left unread (any string keeps a
# `type: string` schema; an empty one would be "missing").
UNREAD = b"(a body that is not JSON, not read by the check)"
# Routes the tests add to the app for themselves (tests/web/test_error_pages.py):
# not the product's, so not in the description; their answers must still be the
# JSON error body.
TEST_ONLY = "/api/test-only/"


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class _Exchange:
    """One answer and its request, from a Flask test client or a requests
    session: what the check needs of it, whichever client got it."""

    def __init__(self, response):
        if isinstance(response, requests.Response):
            parts = urlsplit(response.request.url)
            self.method = response.request.method
            self.path = parts.path
            self.shown = parts.path + (f"?{parts.query}" if parts.query else "")
            self.status = response.status_code
            self.is_json = _is_json(response.headers.get("Content-Type", ""))
            self.asked = _AskedOverHTTP(response.request)
            self.answer = _AnswerOverHTTP(response)
            self._body = lambda: response.content
        else:
            request = response.request
            self.method = request.method
            self.path = request.path
            self.shown = request.full_path.rstrip("?")
            self.status = response.status_code
            self.is_json = response.is_json
            self.asked = _Asked(request)
            self.answer = _Answer(response)
            self._body = response.get_data

    def body(self) -> bytes:
        """The body as received (read only for JSON answers and reports)."""
        return self._body()

    def json(self) -> object:
        if not self.is_json:
            return None
        try:
            return orjson.loads(self.body())
        except orjson.JSONDecodeError:
            return None


def mismatch(response) -> str | None:
    """Why the answer to an /api/ request breaks the description; None if it keeps
    it. `response` is a Flask test client's answer or a requests Response."""
    exchange = _Exchange(response)
    if not exchange.path.startswith("/api/"):
        return None
    try:
        _openapi().validate_response(exchange.asked, exchange.answer)
    except (PathNotFound, OperationNotFound) as exc:
        return _unrouted(exchange, exc)
    except Exception as exc:  # every openapi-core validation error
        return _explain(exc)
    return None


def _unrouted(exchange: _Exchange, exc: Exception) -> str | None:
    """A path (404) or method (405) the description does not have: the JSON error body."""
    expected = 404 if isinstance(exc, PathNotFound) else 405
    if expected == 405 and exchange.method == "OPTIONS" and exchange.status in (200, 204):
        return None  # Flask answers OPTIONS on every route with its Allow header (RFC 9110)
    if exchange.path.startswith(TEST_ONLY):
        if exchange.status < 400:
            return None
    elif exchange.status not in (404, expected):
        return f"{type(exc).__name__}, answered {exchange.status}"
    errors = [e.message for e in _error_validator().iter_errors(exchange.json())]
    return f"not the error body: {errors}" if errors else None


def _explain(exc: Exception) -> str:
    """The exception and its causes' schema errors, as one line each."""
    lines = [f"{type(exc).__name__}: {exc}"]
    for detail in getattr(exc, "schema_errors", None) or []:
        lines.append(f"  {list(detail.absolute_path)}: {detail.message}")
    cause = exc.__cause__
    while cause is not None:
        lines.append(f"  caused by {type(cause).__name__}: {cause}")
        for detail in getattr(cause, "schema_errors", None) or []:
            lines.append(f"    {list(detail.absolute_path)}: {detail.message}")
        cause = cause.__cause__
    return "\n".join(lines)


def _check(response) -> None:
    """Record and raise the mismatch of one answer, if it has one."""
    found = mismatch(response)
    if found is None:
        return
    exchange = _Exchange(response)
    message = (
        f"{exchange.method} {exchange.shown} -> {exchange.status}"
        f" breaks the API description (chat/web/openapi.yaml):\n{found}\n"
        f"body: {exchange.body()[:500]!r}"
    )
    mismatches.append(message)
    raise AssertionError(message)


class ContractClient(FlaskClient):
    """A Flask test client that checks every /api/ answer against the description."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        for answer in [*response.history, response]:
            _check(answer)
        return response


def check_answer(response: requests.Response, *args, **kwargs) -> requests.Response:
    """A requests response hook (tests/servers.py `http()`): raises AssertionError
    for an /api/ answer that breaks the description. Redirects each pass
    through it (requests calls the hook for every answer it receives)."""
    _check(response)
    return response


# --- WebSocket frames --------------------------------------------------------------


@cache
def _frame_validator(entry: str) -> Draft202012Validator:
    """The validator of `#/$defs/<entry>` of the frame schemas, its references to
    the API description resolved as a client reading both from a server would."""
    registry = Registry().with_resources(
        [
            (SERVED_AT + "openapi.json", DRAFT202012.create_resource(reference.description())),
            (FRAMES_URL, DRAFT202012.create_resource(reference.frames_schema())),
        ]
    )
    return Draft202012Validator({"$ref": f"{FRAMES_URL}#/$defs/{entry}"}, registry=registry)


def frame_mismatch(frame: object, entry: str = "ServerFrame") -> str | None:
    """Why `frame` (decoded JSON) breaks `#/$defs/<entry>` of the frame schemas
    (ServerFrame or ClientFrame), one line per reason with the frame's path and
    the schema's; None if it keeps it."""
    errors = list(_frame_validator(entry).iter_errors(frame))
    if not errors:
        return None
    return "\n".join(_frame_reasons(errors, frame, f"#/$defs/{entry}"))


def _frame_reasons(errors: Iterable[ValidationError], frame: object, where: str = "") -> list[str]:
    """The reasons of a failed `oneOf` on `type` told by the branch of the frame's
    own type (not by every other type's const), else that no type matched.
    `where` names the schema the errors' paths start from."""
    reasons = []
    for error in errors:
        if error.validator != "oneOf" or not error.context:
            reasons.append(_reason(error, where))
            continue
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        typed = [
            index
            for index, subs in branches.items()
            if not any(list(s.relative_path) == ["type"] and s.validator == "const" for s in subs)
        ]
        if len(typed) == 1:
            branch = error.schema["oneOf"][typed[0]]
            inner = branch.get("$ref", f"{where}/oneOf/{typed[0]}")
            reasons += _frame_reasons(branches[typed[0]], frame, inner)
        elif isinstance(frame, dict) and "type" in frame and not typed:
            reasons.append(f"$.type: {frame['type']!r} is not a frame type of this direction")
        else:
            reasons.append(_reason(error, where))
    return reasons


def _reason(error: ValidationError, where: str) -> str:
    """One error: where in the frame, why, and where in the schema (`where` and
    the keywords after it)."""
    path = list(error.relative_schema_path)
    if where and path and isinstance(path[0], int):
        path = path[1:]  # the branch's index: `where` names the branch
    keywords = "/".join(str(part) for part in path)
    return f"{error.json_path}: {error.message} (schema: {where} {keywords})"


def check_server_frame(text: str | bytes, received_by: str, raise_: bool = True) -> None:
    """Check one text frame a server sent; record (and with raise_, raise
    AssertionError for) a frame that is not JSON or breaks `#/$defs/ServerFrame`.
    `received_by` says which client got it. A writer on a server's own thread
    (an in-process socket) passes raise_=False: the test fails at its end."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        found = f"not JSON ({exc})"
    else:
        found = frame_mismatch(frame)
    if found is None:
        return
    shown = text if isinstance(text, str) else text.decode("utf-8", "replace")
    message = (
        f"a frame {received_by} received breaks the frame schemas ({SCHEMA_FILE},"
        f" #/$defs/ServerFrame):\n{found}\nframe: {shown[:500]}"
    )
    mismatches.append(message)
    if raise_:
        raise AssertionError(message)


# --- client frames: the parser and the schema ---------------------------------------


@cache
def client_fields() -> dict[str, frozenset[str]]:
    """Each client frame type and the fields its schema lists (`#/$defs/ClientFrame`)."""
    defs = reference.frames_schema()["$defs"]
    found = {}
    for branch in defs["ClientFrame"]["oneOf"]:
        schema = defs[branch["$ref"].rsplit("/", 1)[1]]
        found[schema["properties"]["type"]["const"]] = frozenset(schema["properties"])
    return found


def inbound_disagreement(data: str, max_chars: int, plain_text: bool = True) -> str | None:
    """Where the parser (chat/protocol/inbound.py) and `#/$defs/ClientFrame` judge
    the client frame `data` differently, beyond what the schema leaves to the
    server by design; None where they agree. Text that is not a JSON object is
    not a frame the schema describes (a chat line on /ws/<room>): None.

    By design the schema refuses a field no frame type has (the server ignores
    it), and accepts what only the server can tell: text over `max_chars` (a
    setting), blank text and reactions that show nothing (Unicode's rules), text
    PostgreSQL cannot store, and a frame without `room` on /ws (the schema does
    not know the endpoint)."""
    from chat.domain.errors import ChatError
    from chat.domain.text import first_unstorable, is_blank
    from chat.domain.validate import validate_emoji
    from chat.protocol import inbound

    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(frame, dict):
        return None
    try:
        inbound.parse(data, max_chars, plain_text)
        refusal = None
    except ChatError as exc:
        refusal = exc
    found = frame_mismatch(frame, "ClientFrame")
    if refusal is None and found is not None:
        known = client_fields().get(frame.get("type"), frozenset())
        if (
            set(frame) - known
            and frame_mismatch({k: frame[k] for k in known & set(frame)}, "ClientFrame") is None
        ):
            return None  # only fields no frame of its type has
        return f"the parser accepts it, the schema refuses it:\n{found}"
    if refusal is not None and found is None:
        content, emoji = frame.get("content"), frame.get("emoji")
        left_to_server = (
            refusal.code == "too_large"
            or first_unstorable(frame) is not None
            or (isinstance(content, str) and is_blank(content))
            or (not plain_text and frame.get("room") is None)
        )
        if isinstance(emoji, str) and not left_to_server:
            try:
                validate_emoji(emoji)
            except ChatError:
                left_to_server = True
        if not left_to_server:
            return (
                f"the parser refuses it ({refusal.code}: {refusal.message}), the schema accepts it"
            )
    return None
