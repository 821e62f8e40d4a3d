"""Display names wherever people appear, without JavaScript and in the JSON API:
the room page's people panel, the history pages' authors, a direct conversation's
title, and a person's own sockets told of a change (the `profile` frame). Every
name is plain text: escaped in HTML, as typed in JSON."""

import orjson
import psycopg
import pytest
from markupsafe import escape

from chat import actions
from chat.domain.errors import ChatError
from chat.domain.validate import validate_display_name
from chat.storage import bus, queries

from ..conftest import make_token, make_user, room_row
from ..hostile_text import SPECIAL

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
# Display names that must come back as text: markup, quotes that would end an
# attribute, entities, and the characters that have broken chat servers
# (tests/hostile_text.py; those the display-name rule lets into a name).
NAMES = [
    HOSTILE_NAME,
    "\"><script>alert('x')</script>",
    "Tom & Jerry &amp; co",
    "Alice Liddell",
    "Eren Jäger",
]


def valid_names() -> list[str]:
    found = []
    for value in [*NAMES, *(f"a{char}b" for char in SPECIAL)]:
        try:
            name = validate_display_name(value)
        except ChatError:
            continue
        if name not in found:
            found.append(name)
    return found


@pytest.fixture
def bob(db):
    """bob, a member of #general with a hostile display name, who wrote in it."""
    bob = make_user(db, "bob")
    actions.join_room(db, room_row(db).id, bob.id)
    return bob


def api(client, db, user) -> dict:
    return {"Authorization": f"Bearer {make_token(db, user)}"}


def author_line(page: str, seq: int) -> str:
    item = page.split(f'id="m{seq}"', 1)[1]
    return item.split('class="meta', 1)[1].split("</div>", 1)[0]


@pytest.mark.parametrize("name", valid_names())
def test_the_people_panel_shows_a_display_name_as_text(client, auth, db, bob, name):
    actions.set_display_name(db, bob.id, name)
    auth.register("alice")
    page = client.get("/rooms/general").text
    panel = page.split('id="members"', 1)[1].split("</ul>", 1)[0]
    escaped = str(escape(name))
    assert f'data-name="{escaped}"' in panel
    assert f'<span class="person-name">{escaped}</span>' in panel
    assert '<span class="handle">@bob</span>' in panel
    assert "<img" not in panel and "<script" not in panel
    # alice has no display name: her username alone, no handle under it.
    alice = panel.split('data-user="alice"', 1)[1].split("</li>", 1)[0]
    assert '<span class="person-name">alice</span>' in alice and "handle" not in alice


@pytest.mark.parametrize("name", valid_names())
def test_the_history_page_shows_the_authors_display_name_as_text(client, auth, db, bob, name):
    actions.set_display_name(db, bob.id, name)
    seq = actions.send_message(db, room_row(db), bob, "hello from bob", None).seq
    auth.register("alice")
    page = client.get("/rooms/general/history").text
    meta = author_line(page, seq)
    escaped = str(escape(name))
    assert f'<strong class="author" title="@bob">{escaped}</strong>' in meta
    assert '<span class="handle">@bob</span>' in meta
    assert "<img" not in page.split('class="messages', 1)[1]


def test_history_avatars_take_the_initials_of_the_name_shown(client, auth, db, bob):
    general = room_row(db)
    actions.set_display_name(db, bob.id, "Zoë van Dam")
    first = actions.send_message(db, general, bob, "one", None).seq
    auth.register("alice")
    alice_seq = actions.send_message(db, general, make_user(db, "carol.jones"), "two", None).seq
    page = client.get("/rooms/general/history").text
    avatar = page.split(f'id="m{first}"', 1)[1].split("</span>", 1)[0]
    assert avatar.endswith(">ZV")  # colour: bob's username; letters: his name
    plain = page.split(f'id="m{alice_seq}"', 1)[1].split("</span>", 1)[0]
    assert plain.endswith(">CJ")
    assert 'class="author" title="@carol.jones">carol.jones</strong>' in author_line(
        page, alice_seq
    )


def test_the_message_frames_carry_no_display_name(client, db, bob):
    actions.set_display_name(db, bob.id, "Bob Builder")
    actions.send_message(db, room_row(db), bob, "hello", None)
    frames = client.get("/api/rooms/general/messages", headers=api(client, db, bob)).json
    (frame,) = [f for f in frames["messages"] if f.get("type") == "chat"]
    assert frame["username"] == "bob" and "display_name" not in frame


def test_a_direct_conversation_is_titled_with_the_partners_display_name(app, client, auth, db, bob):
    auth.register("alice")
    alice = queries.user_by_name(db, "alice")
    name = actions.open_direct(db, alice, "bob")
    actions.set_display_name(db, bob.id, HOSTILE_NAME)

    rooms = client.get("/api/rooms").json["rooms"]  # alice's session
    (direct,) = [r for r in rooms if r["direct"]]
    assert direct["partner"] == "bob"
    assert direct["partner_display_name"] == direct["title"] == HOSTILE_NAME

    page = client.get("/rooms").text
    link = page.split(f'href="/rooms/{name}"', 1)[1].split("</a>", 1)[0]
    assert link == ">" + str(escape(HOSTILE_NAME))
    room_page = client.get(f"/rooms/{name}").text
    assert f'<h1 id="room-title">{str(escape(HOSTILE_NAME))}</h1>' in room_page
    assert "<img" not in room_page

    # bob sees alice by her username: she has no display name.
    bobs = app.test_client().get("/api/rooms", headers=api(client, db, bob)).json["rooms"]
    (mine,) = [r for r in bobs if r["direct"]]
    assert (mine["title"], mine["partner_display_name"]) == ("@alice", None)


def test_a_change_of_name_is_told_to_the_persons_own_sockets(client, db, database_url, bob):
    found = []
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {bus.USER_CHANNEL}")
        response = client.patch(
            "/api/me", json={"display_name": HOSTILE_NAME}, headers=api(client, db, bob)
        )
        assert response.status_code == 200
        client.patch("/api/me", json={"display_name": None}, headers=api(client, db, bob))
        for notify in listener.notifies(timeout=10, stop_after=2):
            found.append(bus.decode_user(notify.payload))
    assert [event.user_id for event in found] == [bob.id, bob.id]
    assert [orjson.loads(event.frame) for event in found] == [
        {"type": "profile", "username": "bob", "display_name": HOSTILE_NAME},
        {"type": "profile", "username": "bob", "display_name": None},
    ]
