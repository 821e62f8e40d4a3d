"""What the composer looks up (chat/web/lookup.py): /emoji.json, the slash commands, a
room's members and people by name; and one renderer behind every surface a message
shows on (the live frame, the JSON API, the history page)."""

import json

import orjson
import psycopg
import pytest

from chat import actions
from chat.domain import shortcodes
from chat.realtime import commands
from chat.storage import bus

from ..conftest import make_token, make_user, room_row


@pytest.fixture
def headers(db, eren) -> dict:
    return {"Authorization": f"Bearer {make_token(db, eren)}"}


# --- /emoji.json ---------------------------------------------------------------------


def test_the_emoji_list_comes_from_the_emoji_package_with_names_to_search(client):
    response = client.get("/emoji.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    entries = response.json["emoji"]
    assert entries == shortcodes.catalogue()
    by_emoji = {entry[0]: entry[1:] for entry in entries}
    assert by_emoji["😄"][:1] == ["smile"]  # the alias people type first
    assert "grinning_face_with_smiling_eyes" in by_emoji["😄"]
    for quick in ["👍", "❤️", "😂", "🎉", "😮", "😢"]:  # static/message_events.js PALETTE
        assert quick in by_emoji, quick
    assert "👍🏽" not in by_emoji  # skin-tone variants: shortcodes, not the picker's grid
    assert len(entries) > 1500
    assert entries[0][0] == "😀"  # faces first


def test_the_emoji_list_is_cacheable_and_revalidated_by_its_etag(client):
    first = client.get("/emoji.json")
    assert "public" in first.headers["Cache-Control"]
    assert "max-age=86400" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    assert etag and client.get("/emoji.json").headers["ETag"] == etag  # built once
    again = client.get("/emoji.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    stale = client.get("/emoji.json", headers={"If-None-Match": '"old"'})
    assert stale.status_code == 200 and stale.json == first.json


# --- /api/commands -------------------------------------------------------------------


def test_commands_are_listed_with_their_help_for_people_logged_in(client, headers):
    assert client.get("/api/commands").status_code == 401
    listed = client.get("/api/commands", headers=headers).json["commands"]
    names = [c["name"] for c in listed]
    assert names == ["me", "stock", "help"]
    for command in listed:
        assert command["usage"].startswith(f"/{command['name']}")
        assert command["help"] and command["help"] in commands.help_text()
        # Each is a command the server knows: parsing it never says "unknown".
        commands_known = {"me": "/me waves", "stock": "/stock AAPL", "help": "/help"}
        commands.parse(commands_known[command["name"]])


# --- /api/rooms/<name>/members -------------------------------------------------------


def test_members_of_a_public_room(client, db, eren, mikasa, headers):
    assert client.get("/api/rooms/general/members").status_code == 401
    general = room_row(db)
    for user in (mikasa, eren):
        actions.join_room(db, general.id, user.id)
    actions.set_display_name(db, mikasa.id, "Mikasa Ackerman")
    response = client.get("/api/rooms/general/members", headers=headers)
    assert response.status_code == 200
    assert response.json == {
        "room": "general",
        "private": False,
        "members": [
            {"username": "eren", "status": "offline", "display_name": None, "avatar": None},
            {
                "username": "mikasa",
                "status": "offline",
                "display_name": "Mikasa Ackerman",
                "avatar": None,
            },
        ],
    }


def test_a_private_rooms_members_are_a_404_to_anyone_else(app, db, eren, mikasa, headers):
    plans = actions.create_room(db, "plans", mikasa.id, is_private=True)
    outsider = app.test_client()
    missing = outsider.get("/api/rooms/nowhere/members", headers=headers)
    hidden = outsider.get("/api/rooms/plans/members", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json["error"]["code"] == missing.json["error"]["code"] == "not_found"

    actions.add_member(db, plans, mikasa, "eren")
    shown = outsider.get("/api/rooms/plans/members", headers=headers)
    assert [m["username"] for m in shown.json["members"]] == ["eren", "mikasa"]


# --- /api/users?prefix= --------------------------------------------------------------


def test_users_by_prefix_in_any_case_enabled_only(client, db, eren, headers):
    for name in ("Erwin", "eren_jr", "levi", "ereh"):
        make_user(db, name)
    actions.disable_user(db, make_user(db, "erenx").id)

    def found(prefix):
        response = client.get("/api/users", query_string={"prefix": prefix}, headers=headers)
        assert response.status_code == 200, response.json
        return response.json["users"]

    assert found("er") == ["ereh", "eren", "eren_jr", "Erwin"]
    assert found("ERE") == ["ereh", "eren", "eren_jr"]
    assert found("eren_") == ["eren_jr"]
    assert found("e_") == []  # `_` is a character, never a wildcard
    assert found("x") == []
    assert found("a%") == found("'") == found("é") == []  # no username starts so


def test_users_by_prefix_are_at_most_twenty(client, db, headers):
    for i in range(25):
        make_user(db, f"user{i:02}")
    response = client.get("/api/users?prefix=user", headers=headers)
    assert response.json["users"] == [f"user{i:02}" for i in range(20)]


HOSTILE_NAME = "<img src=x onerror=alert(1)>"


def test_people_are_found_by_any_word_of_their_display_name(client, db, eren, headers):
    alice, bob, carol = (make_user(db, name) for name in ("alice", "bob", "carol"))
    actions.set_display_name(db, alice.id, "Alice Liddell")
    actions.set_display_name(db, bob.id, "Bob Ölund_x")
    actions.set_display_name(db, carol.id, HOSTILE_NAME)
    actions.disable_user(db, make_user(db, "lidia").id)

    def found(prefix):
        response = client.get("/api/users", query_string={"prefix": prefix}, headers=headers)
        assert response.status_code == 200, response.json
        assert response.json["users"] == [p["username"] for p in response.json["people"]]
        return [(p["username"], p["display_name"]) for p in response.json["people"]]

    assert found("ali") == found("LIDD") == [("alice", "Alice Liddell")]
    assert found("a") == [("alice", "Alice Liddell")]  # by username and by name: once
    assert found("ö") == found("Ölund") == [("bob", "Bob Ölund_x")]
    assert found("lund") == []  # a word's start, not its middle
    assert found("d_x") == found("%") == []  # no wildcards
    assert found("alice liddell") == [("alice", "Alice Liddell")]
    assert found("<img") == [("carol", HOSTILE_NAME)]  # as typed: JSON, never markup
    assert found("e") == [("eren", None)]
    assert found(" ") == []


@pytest.mark.parametrize("query", ["", "?prefix=", "?prefix=" + "e" * 65])
def test_users_needs_a_prefix_that_can_start_a_username(client, headers, query):
    response = client.get(f"/api/users{query}", headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"


def test_users_needs_a_login(client):
    assert client.get("/api/users?prefix=e").status_code == 401


# --- one renderer for every surface -------------------------------------------------

MARKDOWN = (
    "Plan for @mikasa :tada:\n\n"
    "- read https://x.example/docs.\n"
    "- ~~skip~~ `:smile:`\n"
    "1. first\n\n"
    "> quoted **well**"
)


@pytest.fixture
def listener(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {bus.CHANNEL}")
        yield conn


def test_the_live_frame_the_api_and_the_history_page_show_the_same_html(
    client, auth, db, eren, mikasa, headers, listener
):
    sent = client.post(
        "/api/rooms/general/messages", json={"content": MARKDOWN}, headers=headers
    ).json
    [notify] = listener.notifies(timeout=5, stop_after=1)
    [stored] = bus.decode_stored(notify.payload)
    live = orjson.loads(stored.frame)
    assert live["seq"] == sent["seq"]
    html = live["html"]
    for part in ("<ul>", "<ol>", "<blockquote>", "<s>skip</s>", "🎉", "<code>:smile:</code>"):
        assert part in html, part
    assert '<a href="https://x.example/docs" rel="noopener noreferrer">' in html
    assert 'data-user="mikasa"' in html

    api = client.get("/api/rooms/general/messages", headers=headers).json["messages"]
    [from_api] = [m for m in api if m["seq"] == sent["seq"]]
    assert from_api["html"] == html

    # The history page, read by eren: the mention of mikasa is not marked for him.
    auth.login("eren")
    assert html in client.get("/rooms/general/history").text


def test_json_api_frames_are_the_stored_html(client, db, eren, headers):
    """What the API serves is what was stored at send, not rendered again."""
    seq = client.post("/api/rooms/general/messages", json={"content": ":smile:"}, headers=headers)
    stored = db.execute(
        "SELECT html FROM messages WHERE seq = %s AND room_id = %s",
        (seq.json["seq"], room_row(db).id),
    ).fetchone()["html"]
    assert stored == "<p>😄</p>"
    messages = client.get("/api/rooms/general/messages", headers=headers).json["messages"]
    assert json.dumps(messages[-1]["html"]) == json.dumps(stored)
