"""Renaming a room (docs/protocol.md "Renaming a room", migration 0016).

A rename keeps the room (id, seqs, members, history) and its old names: a
name the room had finds it on every lookup, and no other room may take it. The
rename is an event in the room's sequence; every worker re-keys its sockets
(bus.RENAME_ROOM) before the event's frame arrives, and every frame written
after the rename carries the new name, whatever name the writer was handed.
"""

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import actions
from chat.domain import kinds
from chat.domain.errors import ChatError
from chat.domain.validate import ROOM_NAME_RE
from chat.protocol import outbound
from chat.storage import bus, queries

from ..conftest import make_user, room_row, send_as
from .notifies import heard, rows_of_kind, stored_frames, user_frames


@pytest.fixture
def people(db):
    return {name: make_user(db, name) for name in ("alice", "bob", "carol", "dave")}


@pytest.fixture
def design(db, people):
    """A public room carol made, with dave as a second member."""
    room = actions.create_room(db, "design", people["carol"].id)
    actions.join(db, room, people["dave"])
    return room_row(db, "design")


def controls(found) -> list[bus.Control]:
    return [
        bus.decode_control(payload) for channel, payload in found if channel == bus.CONTROL_CHANNEL
    ]


def test_a_rename_is_an_event_told_to_every_worker_and_member(db, database_url, people, design):
    carol, dave = people["carol"], people["dave"]
    with heard(database_url) as found:
        assert actions.update_room(db, design, carol, name="pixels") == "pixels"
    # Every worker re-keys first; then the event, in the room's sequence.
    order = [channel for channel, _ in found]
    assert order.index(bus.CONTROL_CHANNEL) < order.index(bus.CHANNEL)
    assert controls(found) == [bus.Control(bus.RENAME_ROOM, f"{design.id} pixels")]
    (frame,) = stored_frames(found)
    assert frame == {
        "type": "room_renamed",
        "room": "pixels",
        "seq": design.last_seq + 1,
        "username": "carol",
        "previous": "design",
        "name": "pixels",
        "ts": frame["ts"],
    }
    (row,) = rows_of_kind(db, design, kinds.KIND_RENAME)
    assert (row["user_id"], row["content"]) == (carol.id, "design pixels")
    for person in (carol, dave):
        (updated,) = user_frames(found, person)
        assert updated["type"] == "room_updated" and updated["previous"] == "design"
        assert updated["room"]["name"] == "pixels"


def test_every_lookup_finds_the_room_by_an_old_name(db, people, design):
    carol, dave, alice = people["carol"], people["dave"], people["alice"]
    seq = send_as(db, dave, "before", room="design")
    actions.update_room(db, design, carol, name="pixels")
    actions.update_room(db, room_row(db, "pixels"), carol, name="type")
    for name in ("design", "pixels", "type"):
        found = queries.visible_room(db, name, alice.id)
        assert (found.id, found.name) == (design.id, "type")
    # History and members stay with the room.
    assert seq in [m.seq for m in queries.messages_between(db, design.id, 0, 100, 100)]
    assert [r.name for r in queries.member_rooms(db, dave.id)] == ["type"]


def test_a_private_room_stays_hidden_under_its_old_name(db, people):
    carol, alice = people["carol"], people["alice"]
    plans = actions.create_room(db, "plans", carol.id, is_private=True)
    actions.update_room(db, plans, carol, name="secret-plans")
    assert queries.visible_room(db, "plans", alice.id) is None
    assert queries.visible_room(db, "plans", carol.id).name == "secret-plans"


def test_an_old_name_is_kept_for_its_room(db, people, design):
    carol, alice = people["carol"], people["alice"]
    actions.update_room(db, design, carol, name="pixels")
    with pytest.raises(ChatError) as refused:
        actions.create_room(db, "design", alice.id)
    assert refused.value.code == "taken"
    other = actions.create_room(db, "other", alice.id)
    for taken in ("design", "pixels", "general"):
        with pytest.raises(ChatError) as refused:
            actions.update_room(db, other, alice, name=taken)
        assert refused.value.code == "taken"
    # The room itself may take an old name back; the name it leaves becomes the alias.
    actions.update_room(db, room_row(db, "pixels"), carol, name="design")
    assert room_row(db, "design").id == design.id
    assert queries.visible_room(db, "pixels", alice.id).name == "design"
    assert db.execute("SELECT name FROM room_aliases ORDER BY name").fetchall() == [
        {"name": "pixels"}
    ]


def test_renaming_to_the_same_name_changes_nothing(db, database_url, people, design):
    with heard(database_url) as found:
        actions.update_room(db, design, people["carol"], name="design")
    assert stored_frames(found) == [] and controls(found) == []
    assert room_row(db, "design").last_seq == design.last_seq


@pytest.mark.parametrize(
    ("actor", "name", "code"),
    [
        ("dave", "mine", "forbidden"),  # a member, not the creator
        ("carol", "Design", "bad_request"),
        ("carol", "dm-1-2", "bad_request"),
        ("carol", "", "bad_request"),
        ("carol", "a" * 41, "bad_request"),
        ("carol", "new\n", "bad_request"),
    ],
)
def test_a_rename_is_refused_with_a_reason(db, people, design, actor, name, code):
    with pytest.raises(ChatError) as refused:
        actions.update_room(db, design, people[actor], name=name)
    assert refused.value.code == code
    assert room_row(db, "design").last_seq == design.last_seq


def test_an_archived_room_is_not_renamed_unless_reopened_in_the_same_change(db, people, design):
    carol = people["carol"]
    actions.update_room(db, design, carol, archived=True)
    with pytest.raises(ChatError) as refused:
        actions.update_room(db, design, carol, name="pixels")
    assert refused.value.code == "forbidden"
    assert actions.update_room(db, design, carol, name="pixels", archived=False) == "pixels"


def test_a_direct_room_has_no_name_to_change(db, people):
    name = actions.open_direct(db, people["carol"], "alice")
    with pytest.raises(ChatError) as refused:
        actions.update_room(db, room_row(db, name), people["carol"], name="us")
    assert refused.value.code == "forbidden"


def test_frames_written_after_a_rename_carry_the_new_name(db, database_url, people, design):
    """Sends, events and membership changes handed the Room as read before the
    rename (a socket's) still go out under the name as of their lock."""
    carol, dave = people["carol"], people["dave"]
    seq = send_as(db, dave, "hello", room="design")
    stale = design  # read before the rename
    actions.update_room(db, design, carol, name="pixels")
    with heard(database_url) as found:
        actions.send_message(db, stale, dave, "after", None)
        actions.edit_message(db, stale, dave, seq, "hello again")
        actions.toggle_reaction(db, stale, carol, seq, "🎉")
        actions.add_member(db, stale, carol, "alice")
    frames = stored_frames(found)
    assert [f["type"] for f in frames] == ["chat", "chat_edit", "reaction", "member"]
    assert {f["room"] for f in frames} == {"pixels"}


def test_catch_up_replays_a_rename_under_the_current_name(db, people, design):
    carol = people["carol"]
    actions.update_room(db, design, carol, name="pixels")
    actions.update_room(db, room_row(db, "pixels"), carol, name="type")
    rows = queries.messages_between(db, design.id, design.last_seq, 100, 10)
    frames = [orjson.loads(outbound.row_frame("type", row)) for row in rows]
    assert [(f["type"], f["room"], f["previous"], f["name"]) for f in frames] == [
        ("room_renamed", "type", "design", "pixels"),
        ("room_renamed", "type", "pixels", "type"),
    ]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.one_of(st.text(max_size=45), st.from_regex(ROOM_NAME_RE)))
def test_any_text_as_a_new_name_is_taken_or_refused_cleanly(db, people, design, name):
    """Whatever the text: a valid name renames, anything else is a refusal
    that changes nothing (never a database error). The examples rename one
    room again and again."""
    carol = people["carol"]
    row = db.execute("SELECT name FROM rooms WHERE id = %s", (design.id,)).fetchone()
    before = room_row(db, row["name"])
    try:
        renamed = actions.update_room(db, before, carol, name=name)
    except ChatError as err:
        assert err.code in ("bad_request", "taken", "forbidden")
        assert room_row(db, before.name).last_seq == before.last_seq
    else:
        assert ROOM_NAME_RE.fullmatch(name) and not name.startswith("dm-")
        assert renamed == name and queries.visible_room(db, before.name, carol.id).name == name
