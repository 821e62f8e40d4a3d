"""The API and its description agree on requests, both ways.

tests/contract.py checks every answer against the OpenAPI description; this
checks requests, for the kinds schemathesis found them disagreeing
(tests/e2e/test_api_fuzz_e2e.py, its negative-data check): what the server
takes, the description must allow (a client generated from the description,
or one validating what it sends, must be able to send it; each is sent, must
succeed, and is validated with openapi-core), and what the description calls
invalid, the server must refuse.
"""

import orjson
import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from werkzeug.test import EnvironBuilder

from chat import actions
from chat.web import reference

from ..conftest import db_state, make_token, room_row, send_as

# (method, path, body, content type, the status it gets)
TAKEN = [
    # null is the same as leaving a field out (docs/protocol.md, Threads).
    (
        "POST",
        "/api/rooms/general/messages",
        {"content": "hi", "files": None, "thread": None, "also_in_room": None, "quote": None},
        "application/json",
        201,
    ),
    # An upload's body is the file's bytes, whatever they look like.
    ("POST", "/api/files?name=data.json", {"a": 1}, "application/json", 201),
    ("POST", "/api/files?name=notes.txt", "plain words", "text/plain", 201),
    ("POST", "/api/files?name=blob", b"\x00\xff", "application/octet-stream", 201),
    # An empty query parameter is the same as leaving it out.
    ("GET", "/api/rooms/general/messages?only=&after=&before=&limit=", b"", "text/plain", 200),
]


@pytest.mark.parametrize(
    "method, path, body, content_type, status",
    TAKEN,
    ids=["send-with-nulls", "upload-json", "upload-text", "upload-bytes", "empty-query"],
)
def test_every_request_the_api_takes_is_valid_by_its_description(
    app, client, db, eren, method, path, body, content_type, status
):
    actions.join_room(db, room_row(db).id, eren.id)
    if isinstance(body, (dict, list)):
        data = orjson.dumps(body)
    else:
        data = body.encode() if isinstance(body, str) else body
    headers = {"Authorization": f"Bearer {make_token(db, eren)}", "Content-Type": content_type}
    answer = client.open(path, method=method, data=data, headers=headers)
    assert answer.status_code == status, answer.get_data(as_text=True)
    request = EnvironBuilder(path=path, method=method, data=data, headers=headers).get_request()
    OpenAPI.from_dict(reference.description()).validate_request(WerkzeugOpenAPIRequest(request))


OPTIONAL_BODIES = ["/api/rooms/general/messages/{seq}", "/api/rooms/general/messages/{seq}/preview"]


@pytest.mark.parametrize("path", OPTIONAL_BODIES, ids=["delete", "remove-preview"])
@pytest.mark.parametrize(
    "data, content_type",
    [(b"\x00", "application/json"), (b"{", "application/json"), (b"client", "text/plain")],
    ids=["nul", "cut-short", "text"],
)
def test_an_optional_body_that_is_not_a_json_object_is_refused_not_ignored(
    client, db, eren, path, data, content_type
):
    """A DELETE whose body is optional: no body, or a JSON object. A body that
    does not parse may have carried the client_id that makes a resend safe:
    400, and nothing is deleted (schemathesis found a DELETE with a body of
    one NUL byte deleting the message)."""
    actions.join_room(db, room_row(db).id, eren.id)
    seq = send_as(db, eren, "see https://example.com")
    headers = {"Authorization": f"Bearer {make_token(db, eren)}", "Content-Type": content_type}
    before = db_state(db)
    answer = client.delete(path.format(seq=seq), data=data, headers=headers)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.json["error"]["code"] == "bad_request"
    assert db_state(db) == before
    answer = client.delete(
        path.format(seq=seq), headers={"Authorization": headers["Authorization"]}
    )
    assert answer.status_code in (200, 404)  # no body at all is still fine
