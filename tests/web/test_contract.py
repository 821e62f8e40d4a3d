"""The check every /api/ answer of the suite goes through (tests/contract.py),
from Flask test clients and the end-to-end tests' requests sessions alike:
it passes the answers the description allows and catches each kind of
mismatch, so a green suite means the description holds."""

import orjson
import pytest
import requests
from flask import Flask, Response, jsonify
from flask.testing import FlaskClient

from ..contract import ContractClient, mismatch

ROOM = {
    "name": "general",
    "title": "#general",
    "private": False,
    "direct": False,
    "partner": None,
    "partner_status": None,
    "partner_display_name": None,
    "topic": None,
    "archived": False,
    "muted": False,
    "last_seq": 3,
    "last_read_seq": 1,
    "unread": 2,
    "mentions": 0,
}
NOT_FOUND = {"error": {"code": "not_found", "message": "no room by that name"}}


def answering(path: str, body, status: int = 200, methods=("GET",)):
    """A bare app (no database) whose one route answers `body` with `status`."""
    app = Flask(__name__)

    def view(**_):
        if isinstance(body, Response):
            return body, status
        return jsonify(body), status

    app.add_url_rule(path, "view", view, methods=list(methods))
    return app


KEPT = [
    ("/api/rooms", {"rooms": [ROOM]}, 200, "GET", "/api/rooms"),
    ("/api/rooms/<name>/members", NOT_FOUND, 404, "GET", "/api/rooms/nope/members"),
    ("/api/no-such-route", NOT_FOUND, 404, "GET", "/api/no-such-route"),
    ("/api/rooms", {"error": {"code": "method_not_allowed", "message": "no"}}, 405, "PUT", None),
]


@pytest.mark.parametrize("rule, body, status, method, path", KEPT)
def test_answers_the_description_allows_pass(rule, body, status, method, path):
    client = answering(rule, body, status, methods=(method,)).test_client()
    response = client.open(path or rule, method=method)
    assert response.status_code == status
    assert mismatch(response) is None


BROKEN = {
    "a-field-of-the-wrong-type": ("/api/rooms", {"rooms": [{**ROOM, "unread": "2"}]}, 200),
    "a-field-missing": (
        "/api/rooms",
        {"rooms": [{k: v for k, v in ROOM.items() if k != "muted"}]},
        200,
    ),
    "a-field-not-described": ("/api/rooms", {"rooms": [{**ROOM, "colour": "red"}]}, 200),
    "a-status-not-described": ("/api/rooms", {"rooms": []}, 202),
    "an-error-that-is-not-the-error-body": ("/api/rooms", {"message": "oops"}, 503),
    "a-route-not-described-answering": ("/api/secret-route", {"ok": True}, 200),
    "an-unknown-route-with-a-bad-error-body": ("/api/secret-route", {"oops": 1}, 404),
}


@pytest.mark.parametrize("case", BROKEN)
def test_each_kind_of_mismatch_is_caught(case):
    rule, body, status = BROKEN[case]
    app = answering(rule, body, status)
    response = FlaskClient(app, app.response_class).get(rule)  # one that does not raise
    assert mismatch(response) is not None


def test_the_suites_clients_raise_on_a_mismatch():
    app = answering("/api/rooms", {"rooms": 1})
    assert isinstance(app.test_client(), ContractClient)
    with pytest.raises(AssertionError, match="breaks the API description"):
        app.test_client().get("/api/rooms")
    from .. import contract

    contract.mismatches.pop()  # this one was meant: not a failure of this test


def test_answers_outside_the_api_are_not_checked():
    response = answering("/rooms", {"anything": "goes"}, 418).test_client().get("/rooms")
    assert mismatch(response) is None


def over_http(path: str, body, status: int, method: str = "GET") -> requests.Response:
    """The answer a requests session (tests/servers.py `http()`) would receive."""
    response = requests.Response()
    response.status_code = status
    response._content = orjson.dumps(body)
    response.headers["Content-Type"] = "application/json"
    response.request = requests.Request(method, f"http://127.0.0.1:8000{path}").prepare()
    response.url = response.request.url
    return response


@pytest.mark.parametrize("rule, body, status, method, path", KEPT)
def test_answers_over_http_the_description_allows_pass(rule, body, status, method, path):
    assert mismatch(over_http(path or rule, body, status, method)) is None


@pytest.mark.parametrize("case", BROKEN)
def test_each_kind_of_mismatch_over_http_is_caught(case):
    rule, body, status = BROKEN[case]
    assert mismatch(over_http(rule, body, status)) is not None


def test_the_e2e_sessions_raise_on_a_mismatch():
    from .. import contract
    from ..servers import http

    assert contract.check_answer in http().hooks["response"]
    with pytest.raises(AssertionError, match="GET /api/rooms -> 200 breaks the API description"):
        contract.check_answer(over_http("/api/rooms", {"rooms": 1}, 200))
    contract.mismatches.pop()  # this one was meant: not a failure of this test
