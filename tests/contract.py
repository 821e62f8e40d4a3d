"""The API contract, checked on every answer the tests receive (issue 19).

Every Flask test client of the suite is a ContractClient (tests/conftest.py
installs it for the session): each answer to an `/api/` request is checked
against the OpenAPI description the app serves (chat/web/openapi.yaml) with
openapi-core, status included (a status the description does not list for the
operation is a mismatch, as is a body or a header that breaks its schema). A
request to a path or method the description does not have must get the JSON
error body with 404 or 405. Mismatches fail the test that received them.

The description is parsed once per session: a check costs a schema
validation, not a parse.
"""

from functools import cache

from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_schema_validator import OAS31Validator

from chat.web import reference

# Every mismatch seen in this session, so one a test swallowed still fails it.
mismatches: list[str] = []


@cache
def _openapi() -> OpenAPI:
    return OpenAPI.from_dict(reference.description())


@cache
def _error_validator() -> OAS31Validator:
    spec = reference.description()
    return OAS31Validator(spec["components"]["schemas"]["Error"])


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


# What openapi-core is given for a body left unread (any string keeps a
# `type: string` schema; an empty one would be "missing").
UNREAD = b"(a body that is not JSON, not read by the check)"
# Routes the tests add to the app for themselves (tests/web/test_error_pages.py):
# not the product's, so not in the description; their answers must still be the
# JSON error body.
TEST_ONLY = "/api/test-only/"


def mismatch(response) -> str | None:
    """Why the answer to an /api/ request breaks the description; None if it keeps it."""
    request = response.request
    if not request.path.startswith("/api/"):
        return None
    try:
        _openapi().validate_response(_Asked(request), _Answer(response))
    except (PathNotFound, OperationNotFound) as exc:
        return _unrouted(response, exc)
    except Exception as exc:  # every openapi-core validation error
        return _explain(exc)
    return None


def _unrouted(response, exc: Exception) -> str | None:
    """A path (404) or method (405) the description does not have: the JSON error body."""
    expected = 404 if isinstance(exc, PathNotFound) else 405
    if response.request.path.startswith(TEST_ONLY):
        if response.status_code < 400:
            return None
    elif response.status_code not in (404, expected):
        return f"{type(exc).__name__}, answered {response.status_code}"
    errors = [e.message for e in _error_validator().iter_errors(response.get_json(silent=True))]
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


class ContractClient(FlaskClient):
    """A Flask test client that checks every /api/ answer against the description."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        for answer in [*response.history, response]:
            found = mismatch(answer)
            if found is not None:
                request = answer.request
                message = (
                    f"{request.method} {request.full_path.rstrip('?')} -> {answer.status_code}"
                    f" breaks the API description (chat/web/openapi.yaml):\n{found}\n"
                    f"body: {answer.get_data()[:500]!r}"
                )
                mismatches.append(message)
                raise AssertionError(message)
        return response
