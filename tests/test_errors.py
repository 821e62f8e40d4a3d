"""The one error type (chat/domain/errors.py) and the registry of its codes: every
code raised anywhere has an answer on each surface it can reach, and the
protocol's documentation lists it."""

import ast
import pickle
import re
from pathlib import Path

import pytest

from chat.domain.errors import ChatError
from chat.protocol import outbound
from chat.realtime.closes import CLOSE_CODES
from chat.web.errors import HTTP_STATUS, SOCKET_ONLY, as_http

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL_DOC = (ROOT / "docs" / "protocol.md").read_text()


def raised_codes() -> dict[str, list[str]]:
    """Every code written as a literal `ChatError("code", ...)` in chat/, with where."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "chat").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "ChatError"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.setdefault(node.args[0].value, []).append(where)
    return found


RAISED = raised_codes()


def test_the_scan_finds_the_codes_of_every_layer():
    """A guard on the scan itself: codes from the domain, the protocol, actions,
    commands, sessions and the HTTP surface are all seen."""
    for code in ("bad_frame", "too_large", "unknown_type", "taken", "unknown_command",
                 "not_joined", "bad_request", "rate_limited"):  # fmt: skip
        assert code in RAISED


@pytest.mark.parametrize("code", sorted(RAISED))
def test_every_code_raised_has_an_answer(code):
    """An HTTP status, or it is one only a socket can meet (an error frame's, or a close's)."""
    assert code in HTTP_STATUS or code in SOCKET_ONLY or code in CLOSE_CODES, RAISED[code]


def test_every_code_in_the_tables_is_raised_somewhere():
    for code in [*HTTP_STATUS, *SOCKET_ONLY, *CLOSE_CODES]:
        assert code in RAISED, f"{code} is in a table but nothing raises it"


def test_a_code_is_either_http_or_socket_only():
    assert not set(HTTP_STATUS) & SOCKET_ONLY


@pytest.mark.parametrize("code", sorted({*HTTP_STATUS, *SOCKET_ONLY}))
def test_the_protocol_documentation_lists_every_code(code):
    """Clients see these codes (in error frames or JSON errors): docs/protocol.md says
    what each means. (Close reasons are not codes clients see: their close codes are.)"""
    assert f"`{code}`" in PROTOCOL_DOC


@pytest.mark.parametrize("close", sorted(set(CLOSE_CODES.values())))
def test_the_protocol_documentation_lists_every_close_code(close):
    assert re.search(rf"^\| {close} \|", PROTOCOL_DOC, re.MULTILINE)


def test_an_error_is_a_value():
    err = ChatError("not_found", "no room named 'x'")
    assert (err.code, err.message, str(err), err.retry_after) == (
        "not_found",
        "no room named 'x'",
        "no room named 'x'",
        None,
    )
    for field in ("code", "message", "retry_after"):
        with pytest.raises(AttributeError):
            setattr(err, field, "changed")
        with pytest.raises(AttributeError):
            delattr(err, field)
    copy = pickle.loads(pickle.dumps(ChatError("rate_limited", "slow down", retry_after=3)))
    assert (copy.code, copy.message, copy.retry_after) == ("rate_limited", "slow down", 3)


def test_an_error_passes_through_context_managers():
    """contextlib sets __traceback__ on what it re-raises (psycopg's pool and
    transactions are context managers): only the error's own fields are fixed."""
    from contextlib import contextmanager

    @contextmanager
    def managed():
        yield

    with pytest.raises(ChatError) as raised, managed():
        raise ChatError("forbidden", "no")
    assert raised.value.code == "forbidden"


@pytest.mark.parametrize(
    "client_id, room, expected",
    [
        (None, None, {"type": "error", "code": "too_large", "message": "too long"}),
        (
            "c-17",
            "general",
            {
                "type": "error",
                "code": "too_large",
                "message": "too long",
                "client_id": "c-17",
                "room": "general",
            },
        ),
    ],
)
def test_the_error_frame_echoes_what_its_builder_gives(client_id, room, expected):
    err = ChatError("too_large", "too long")
    assert outbound.error_frame(err, client_id, room) == outbound.encode(expected)


@pytest.mark.parametrize("code", sorted(HTTP_STATUS))
def test_an_http_answer_has_the_status_of_its_code(code):
    answer = as_http(ChatError(code, "why"))
    assert (answer.code, answer.description, answer.error_code) == (HTTP_STATUS[code], "why", code)


def test_an_http_answer_says_how_long_to_wait_when_the_error_does():
    answer = as_http(ChatError("rate_limited", "slow down", retry_after=7))
    assert ("Retry-After", "7") in answer.get_headers()
