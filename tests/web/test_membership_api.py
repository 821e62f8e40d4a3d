"""The JSON API offers what the pages do for membership (docs/protocol.md, "HTTP JSON
API"): create, join, leave, add, remove, mute, topic and archive, the directory,
direct conversations; every refusal is a clear JSON error that changes nothing."""

import pytest

from chat import actions

from ..conftest import make_token, make_user, room_row


@pytest.fixture
def people(db):
    return {name: make_user(db, name, "correct horse") for name in ("carol", "dave", "bob")}


def auth(db, user) -> dict:
    return {"Authorization": f"Bearer {make_token(db, user)}"}


def my_rooms(client, headers) -> list[str]:
    return [r["name"] for r in client.get("/api/rooms", headers=headers).json["rooms"]]


def test_create_join_leave_through_the_api(client, db, people):
    carol, dave = auth(db, people["carol"]), auth(db, people["dave"])
    created = client.post("/api/rooms", json={"name": "design", "topic": "pixels"}, headers=carol)
    assert created.status_code == 201
    assert created.json["room"]["name"] == "design" and created.json["room"]["topic"] == "pixels"
    directory = client.get("/api/directory", headers=dave).json["rooms"]
    assert {"name": "design", "topic": "pixels", "members": 1, "joined": False} in directory

    joined = client.post("/api/rooms/design/join", headers=dave)
    assert joined.status_code == 201 and joined.json == {"room": "design", "seq": 1, "joined": True}
    again = client.post("/api/rooms/design/join", headers=dave)
    assert again.status_code == 200 and again.json["joined"] is False
    assert my_rooms(client, dave) == ["design"]

    left = client.post("/api/rooms/design/leave", headers=dave)
    assert left.status_code == 200 and left.json["seq"] == 2
    assert my_rooms(client, dave) == []
    assert client.post("/api/rooms/design/leave", headers=dave).status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "Bad Name"}, 400),
        ({"name": "dm-1-2"}, 400),
        ({"name": "x" * 41}, 400),
        ({"name": "ok", "private": "yes"}, 400),
        ({"name": "ok", "topic": 5}, 400),
        ({"name": "general"}, 400),  # taken
    ],
)
def test_creating_a_room_refuses_bad_input_and_changes_nothing(client, db, people, body, status):
    before = db.execute("SELECT count(*) AS n FROM rooms").fetchone()["n"]
    response = client.post("/api/rooms", json=body, headers=auth(db, people["carol"]))
    assert response.status_code == status
    assert response.json["error"]["message"]
    assert db.execute("SELECT count(*) AS n FROM rooms").fetchone()["n"] == before


def test_adding_and_removing_members(client, db, people):
    carol, dave, bob = (auth(db, people[n]) for n in ("carol", "dave", "bob"))
    client.post("/api/rooms", json={"name": "plans", "private": True}, headers=carol)
    # dave cannot see it, so cannot add himself: the same 404 as a missing room.
    assert (
        client.post("/api/rooms/plans/members", json={"username": "dave"}, headers=dave).status_code
        == 404
    )
    added = client.post("/api/rooms/plans/members", json={"username": "DAVE"}, headers=carol)
    assert added.status_code == 201 and added.json == {"room": "plans", "username": "dave"}
    assert (
        client.post("/api/rooms/plans/members", json={"username": "dave"}, headers=carol).json[
            "error"
        ]["code"]
        == "taken"
    )
    assert client.post("/api/rooms/plans/members", json={}, headers=carol).status_code == 400
    # Only the creator removes others; anyone removes themselves.
    client.post("/api/rooms/plans/members", json={"username": "bob"}, headers=carol)
    assert client.delete("/api/rooms/plans/members/bob", headers=dave).status_code == 403
    assert client.delete("/api/rooms/plans/members/bob", headers=carol).status_code == 200
    assert client.delete("/api/rooms/plans/members/dave", headers=dave).status_code == 200
    assert client.get("/api/rooms/plans/messages", headers=dave).status_code == 404


def test_mute_topic_and_archive(client, db, people):
    carol, dave = auth(db, people["carol"]), auth(db, people["dave"])
    client.post("/api/rooms", json={"name": "design"}, headers=carol)
    client.post("/api/rooms/design/join", headers=dave)
    muted = client.patch("/api/rooms/design", json={"muted": True}, headers=dave)
    assert muted.status_code == 200 and muted.json["room"]["muted"] is True
    # The topic and the archive are the creator's.
    refused = client.patch("/api/rooms/design", json={"topic": "mine"}, headers=dave)
    assert refused.status_code == 403
    assert room_row(db, "design").topic == ""
    for body in ({}, {"colour": "red"}, {"muted": "yes"}, {"topic": 3}):
        assert client.patch("/api/rooms/design", json=body, headers=carol).status_code == 400
    archived = client.patch("/api/rooms/design", json={"archived": True}, headers=carol)
    assert archived.status_code == 200 and archived.json["room"]["archived"] is True
    sent = client.post("/api/rooms/design/messages", json={"content": "hello?"}, headers=dave)
    assert sent.status_code == 403 and "archived" in sent.json["error"]["message"]
    assert "design" not in [
        r["name"] for r in client.get("/api/directory", headers=dave).json["rooms"]
    ]


def test_a_send_mentioning_a_non_member_says_so(client, db, people):
    bob = auth(db, people["bob"])
    sent = client.post(
        "/api/rooms/general/messages", json={"content": "hi @dave @ghost"}, headers=bob
    )
    assert sent.status_code == 201 and sent.json["not_members"] == ["dave"]
    actions.add_member(db, room_row(db), people["bob"], "dave")
    sent = client.post("/api/rooms/general/messages", json={"content": "hi @dave"}, headers=bob)
    assert "not_members" not in sent.json


def test_direct_conversations_through_the_api(client, db, people):
    carol = auth(db, people["carol"])
    opened = client.post("/api/direct", json={"username": "dave"}, headers=carol)
    assert opened.status_code == 200 and opened.json["room"].startswith("dm-")
    (listing,) = client.get("/api/rooms", headers=auth(db, people["dave"])).json["rooms"]
    assert listing["direct"] is True and listing["title"] == "@carol"
    assert client.post("/api/direct", json={"username": "nobody"}, headers=carol).status_code == 404
    assert client.post("/api/direct", json={"username": 7}, headers=carol).status_code == 400
    assert client.post(f"/api/rooms/{opened.json['room']}/leave", headers=carol).status_code == 403
