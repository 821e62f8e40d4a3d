"""Renaming a room over HTTP (issue 16, item 7: "rename (old links still
work)"): the creator renames from the room page or PATCH /api/rooms/<name>;
every page at an old name redirects to the same page at the current one, the
JSON API answers at an old name with the current one, and a private room's
old name hides it exactly as a missing room's does."""

import pytest

from chat import actions
from chat.storage import queries

from ..conftest import csrf_token, make_token, make_user, room_row, send_as


def post_form(client, page: str, url: str, **fields):
    token = csrf_token(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **fields})


def bearer(db, user) -> dict:
    return {"Authorization": f"Bearer {make_token(db, user)}"}


@pytest.fixture
def renamed(db):
    """#design, carol's public room with a message of dave's, renamed #pixels."""
    carol, dave = make_user(db, "carol"), make_user(db, "dave")
    room = actions.create_room(db, "design", carol.id)
    actions.join(db, room, dave)
    send_as(db, dave, "hello from before", room="design")
    actions.update_room(db, room, carol, name="pixels")
    return room_row(db, "pixels")


def test_the_creator_renames_from_the_room_page(client, auth, db):
    auth.register("carol")
    carol = queries.user_by_name(db, "carol")
    actions.create_room(db, "design", carol.id)
    page = client.get("/rooms/design").text
    assert 'id="room-name"' in page
    answer = post_form(client, "/rooms/design", "/rooms/design/settings", name=" pixels ")
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/rooms/pixels")
    assert "links to #design lead here" in client.get("/rooms/pixels").text
    refused = post_form(client, "/rooms/pixels", "/rooms/pixels/settings", name="Not A Name")
    assert refused.status_code == 303 and room_row(db, "pixels") is not None
    assert "lowercase letters" in client.get("/rooms/pixels").text


def test_a_member_who_did_not_make_the_room_cannot_rename_it(client, auth, db, renamed):
    auth.register("eren")
    actions.join(db, renamed, queries.user_by_name(db, "eren"))
    assert 'id="room-name"' not in client.get("/rooms/pixels").text
    post_form(client, "/rooms/pixels", "/rooms/pixels/settings", name="mine")
    assert room_row(db, "pixels") is not None and room_row(db, "mine") is None


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/rooms/design", "/rooms/pixels"),
        ("/rooms/design/history?before=5", "/rooms/pixels/history?before=5"),
        ("/rooms/design/export.jsonl", "/rooms/pixels/export.jsonl"),
        ("/search?q=hello&room=design", None),  # a query argument, not a path: found as is
        ("/rooms/Pixels", "/rooms/pixels"),  # names are lower case: any case finds them
        ("/rooms/DESIGN/history", "/rooms/pixels/history"),
    ],
)
def test_old_links_lead_to_the_room(client, auth, db, renamed, old, new):
    auth.register("eren")
    answer = client.get(old)
    if new is None:
        assert answer.status_code == 200
        return
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(new)
    assert client.get(new).status_code != 404  # the room's own answer (export: members only)


def test_the_api_answers_at_an_old_name_with_the_current_one(client, db, renamed):
    dave = bearer(db, queries.user_by_name(db, "dave"))
    listing = client.get("/api/rooms/design/messages", headers=dave)
    assert listing.status_code == 200
    frames = listing.json["messages"]
    assert {f["room"] for f in frames} == {"pixels"}
    assert frames[-1]["type"] == "room_renamed" and frames[-1]["previous"] == "design"
    sent = client.post(
        "/api/rooms/design/messages", json={"content": "by the old name"}, headers=dave
    )
    assert sent.status_code == 201 and sent.json["room"] == "pixels"


def test_renaming_through_the_api(client, db, renamed):
    carol = bearer(db, queries.user_by_name(db, "carol"))
    answer = client.patch("/api/rooms/design", json={"name": "type"}, headers=carol)
    assert answer.status_code == 200 and answer.json["room"]["name"] == "type"
    for bad, status in (({"name": 5}, 400), ({"name": "Type"}, 400), ({"name": "general"}, 400)):
        refused = client.patch("/api/rooms/type", json=bad, headers=carol)
        assert refused.status_code == status, bad
        assert refused.json["error"]["message"]
    assert room_row(db, "type").id == renamed.id
    dave = bearer(db, queries.user_by_name(db, "dave"))
    assert client.patch("/api/rooms/type", json={"name": "mine"}, headers=dave).status_code == 403


def test_a_private_room_s_old_name_is_as_missing_as_any(client, db):
    carol, eren = make_user(db, "carol"), make_user(db, "eren")
    plans = actions.create_room(db, "plans", carol.id, is_private=True)
    actions.update_room(db, plans, carol, name="secret")
    outsider = bearer(db, eren)
    for path in ("/api/rooms/plans/messages", "/api/rooms/secret/messages"):
        hidden = client.get(path, headers=outsider)
        missing = client.get("/api/rooms/nothing-here/messages", headers=outsider)
        assert (hidden.status_code, hidden.json) == (missing.status_code, missing.json)
    assert client.get("/api/rooms/plans/messages", headers=bearer(db, carol)).status_code == 200
