"""Requests the API takes are requests its description allows.

tests/contract.py checks every answer against the OpenAPI description; this
checks the other direction for the requests schemathesis found the server
taking while the description called them invalid (tests/e2e/test_api_fuzz_e2e.py,
its negative-data check): a client generated from the description, or one
validating what it sends, must be able to send what the server documents in
prose. Each is sent (it must succeed) and validated against the description
with openapi-core.
"""

import orjson
import pytest
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from werkzeug.test import EnvironBuilder

from chat import actions
from chat.web import reference

from ..conftest import make_token, room_row

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
]


@pytest.mark.parametrize(
    "method, path, body, content_type, status",
    TAKEN,
    ids=["send-with-nulls", "upload-json", "upload-text", "upload-bytes"],
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
