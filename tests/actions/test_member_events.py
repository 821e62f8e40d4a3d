"""Membership (DESIGN §9, docs/protocol.md "Membership and your rooms").

Joining, leaving, adding and removing are events in the room's gapless
sequence, each telling the person it concerns on the per-user channel;
posting in a public room joins silently; a mention records something only for
members, and the sender learns who was left out; counts and read state live
with membership and reach every socket of the user.
"""

import contextlib

import psycopg
import pytest

from chat import actions
from chat.domain import kinds
from chat.domain.errors import ChatError
from chat.protocol import outbound
from chat.realtime import commands
from chat.storage import bus, migrate, queries

from ..conftest import make_user, room_row, send_as
from ..schema import database_at
from .notifies import heard, member_row, rows_of_kind, stored_frames, user_frames


@pytest.fixture
def people(db):
    return {name: make_user(db, name) for name in ("alice", "bob", "carol", "dave")}


@pytest.fixture
def design(db, people):
    """A public room carol made (so carol is its only member)."""
    return actions.create_room(db, "design", people["carol"].id)


@pytest.fixture
def plans(db, people):
    """A private room carol made."""
    return actions.create_room(db, "plans", people["carol"].id, is_private=True)


def test_joining_is_an_event_that_tells_the_joiner(db, database_url, people, design):
    dave = people["dave"]
    send_as(db, people["carol"], "first", room="design")
    with heard(database_url) as found:
        seq = actions.join(db, design, dave)
    assert seq == 2
    assert rows_of_kind(db, design, kinds.KIND_JOIN) == [
        {"seq": 2, "user_id": dave.id, "content": ""}
    ]
    assert member_row(db, design, dave)["last_read_seq"] == 2  # nothing before is news
    (frame,) = stored_frames(found)
    assert frame | {"ts": None} == {
        "type": "member",
        "room": "design",
        "seq": 2,
        "event": "join",
        "username": "dave",
        "member": "dave",
        "ts": None,
    }
    (added,) = user_frames(found, dave)
    assert added["type"] == "room_added"
    assert added["room"]["name"] == "design" and added["room"]["unread"] == 0
    assert user_frames(found, people["carol"]) == []


def test_joining_twice_changes_nothing(db, database_url, people, design):
    actions.join(db, design, people["dave"])
    before = room_row(db, "design").last_seq
    with heard(database_url) as found:
        assert actions.join(db, design, people["dave"]) is None
    assert room_row(db, "design").last_seq == before
    assert found == []


@pytest.mark.parametrize("archive", [False, True])
def test_a_private_or_archived_room_cannot_be_joined(db, people, plans, design, archive):
    room = design if archive else plans
    if archive:
        actions.update_room(db, design, people["carol"], archived=True)
        room = room_row(db, "design")
    before = room_row(db, room.name).last_seq
    with pytest.raises(ChatError) as refused:
        actions.join(db, room, people["dave"])
    assert refused.value.code == "forbidden"
    assert member_row(db, room, people["dave"]) is None
    assert room_row(db, room.name).last_seq == before


def test_leaving_is_an_event_and_takes_the_room_off_the_sidebar(db, database_url, people, design):
    dave = people["dave"]
    actions.join(db, design, dave)
    with heard(database_url) as found:
        seq = actions.leave(db, design, dave)
    assert rows_of_kind(db, design, kinds.KIND_LEAVE)[0]["seq"] == seq
    assert member_row(db, design, dave) is None
    assert [f["type"] for f in user_frames(found, dave)] == ["room_removed"]
    # A public room: nobody's sockets are closed for it.
    assert not [p for c, p in found if c == bus.CONTROL_CHANNEL]
    assert [r.name for r in queries.member_rooms(db, dave.id)] == []


def test_leaving_a_room_one_is_not_in_or_a_direct_room_is_refused(db, people, design):
    with pytest.raises(ChatError) as refused:
        actions.leave(db, design, people["dave"])
    assert refused.value.code == "not_found"
    name = actions.open_direct(db, people["alice"], "bob")
    with pytest.raises(ChatError) as refused:
        actions.leave(db, room_row(db, name), people["alice"])
    assert refused.value.code == "forbidden"


def test_a_member_adds_someone_and_they_hear_it_live(db, database_url, people, plans):
    carol, bob = people["carol"], people["bob"]
    with heard(database_url) as found:
        assert actions.add_member(db, plans, carol, "BOB") == "bob"
    (event,) = rows_of_kind(db, plans, kinds.KIND_ADD)
    assert event["user_id"] == carol.id and event["content"] == "bob"
    assert stored_frames(found)[0]["event"] == "add"
    assert stored_frames(found)[0]["member"] == "bob"
    (added,) = user_frames(found, bob)
    assert added["room"] | {"last_seq": 0} == {
        "name": "plans",
        "title": "#plans",
        "private": True,
        "direct": False,
        "partner": None,
        "partner_status": None,
        "partner_display_name": None,
        "topic": "",
        "archived": False,
        "muted": False,
        "last_seq": 0,
        "last_read_seq": event["seq"],
        "unread": 0,
        "mentions": 0,
    }


@pytest.mark.parametrize(
    ("actor", "username", "code"),
    [
        ("dave", "bob", "forbidden"),  # not a member himself
        ("carol", "carol", "taken"),
        ("carol", "nobody", "not_found"),
    ],
)
def test_adding_is_refused_with_a_reason(db, people, plans, actor, username, code):
    before = room_row(db, "plans").last_seq
    with pytest.raises(ChatError) as refused:
        actions.add_member(db, plans, people[actor], username)
    assert refused.value.code == code
    assert room_row(db, "plans").last_seq == before


def test_the_creator_removes_someone_whose_sockets_stop_following(db, database_url, people, plans):
    carol, bob = people["carol"], people["bob"]
    actions.add_member(db, plans, carol, "bob")
    with heard(database_url) as found:
        actions.remove_member(db, plans, carol, "bob")
    (event,) = rows_of_kind(db, plans, kinds.KIND_REMOVE)
    assert event["user_id"] == carol.id and event["content"] == "bob"
    assert [f["type"] for f in user_frames(found, bob)] == ["room_removed"]
    controls = [p for c, p in found if c == bus.CONTROL_CHANNEL]
    assert controls == [f"{bus.REVOKE_MEMBER} {plans.id}:{bob.id}"]


def test_only_the_creator_removes_others(db, people, plans):
    actions.add_member(db, plans, people["carol"], "bob")
    actions.add_member(db, plans, people["carol"], "alice")
    with pytest.raises(ChatError) as refused:
        actions.remove_member(db, plans, people["bob"], "alice")
    assert refused.value.code == "forbidden"
    assert member_row(db, plans, people["alice"]) is not None


def test_posting_in_a_public_room_joins_silently(db, database_url, people):
    alice = people["alice"]
    general = room_row(db)
    with heard(database_url) as found:
        seq = send_as(db, alice, "hello")
        again = send_as(db, alice, "again")
    assert (seq, again) == (1, 2)  # no join row takes a seq
    assert rows_of_kind(db, general, kinds.KIND_JOIN) == []
    assert member_row(db, general, alice)["last_read_seq"] == seq
    added = user_frames(found, alice)
    assert [f["type"] for f in added] == ["room_added"]  # the first post only
    assert added[0]["room"]["name"] == "general"


def test_the_batch_writer_joins_each_new_sender_once(db, people):
    general = room_row(db)
    sends = [
        actions.Send.of(general, people[name], f"{name} {i}", None)
        for i in range(3)
        for name in ("alice", "bob")
    ]
    outcomes = actions.send_messages(db, sends)
    assert [o.seq for o in outcomes] == [1, 2, 3, 4, 5, 6]
    rows = db.execute(
        "SELECT user_id, last_read_seq FROM room_members WHERE room_id = %s ORDER BY user_id",
        (general.id,),
    ).fetchall()
    assert rows == [
        {"user_id": people["alice"].id, "last_read_seq": 1},
        {"user_id": people["bob"].id, "last_read_seq": 2},
    ]


def test_posting_in_a_private_room_never_makes_members(db, people, plans):
    # A bot answering in a private room is not made a member by it.
    send_as(db, people["dave"], "a bot's answer", room="plans")
    assert member_row(db, plans, people["dave"]) is None


def test_a_mention_of_someone_outside_the_room_is_reported_not_recorded(db, people):
    """The dave scenario: dave never joined #general; bob mentions him."""
    bob, dave = people["bob"], people["dave"]
    general = room_row(db)
    outcome = commands.dispatch(
        commands.parse("hello @dave and @nobody"), general, bob, "c-1", lambda: _same(db)
    )
    assert outcome.absent == ("dave",)
    assert db.execute("SELECT count(*) AS n FROM mentions").fetchone()["n"] == 0
    # Added with one click, the next mention counts, and survives any reload.
    actions.add_member(db, room_row(db), bob, "dave")
    outcome = commands.dispatch(
        commands.parse("welcome @dave"), room_row(db), bob, "c-2", lambda: _same(db)
    )
    assert outcome.absent == ()
    (listing,) = queries.member_rooms(db, dave.id)
    assert (listing.unread, listing.mentions) == (1, 1)


def test_a_repeated_send_reports_nobody(db, people):
    general = room_row(db)
    command = commands.parse("hello @dave")
    commands.dispatch(command, general, people["bob"], "c-1", lambda: _same(db))
    again = commands.dispatch(command, general, people["bob"], "c-1", lambda: _same(db))
    assert again.duplicate and again.absent == ()


@contextlib.contextmanager
def _same(conn):
    yield conn


def test_reading_tells_every_socket_of_the_reader(db, database_url, people):
    alice, bob = people["alice"], people["bob"]
    send_as(db, alice, "mine")
    for i in range(3):
        send_as(db, bob, f"hi @alice {i}")
    general = room_row(db)
    with heard(database_url) as found:
        assert actions.mark_read(db, general.id, alice.id, 3) == 3
        assert actions.mark_read(db, general.id, alice.id, 2) == 3  # never backwards: silent
    (read,) = user_frames(found, alice)
    assert read == {
        "type": "read",
        "room": "general",
        "last_read_seq": 3,
        "last_seq": 4,
        "unread": 1,
        "mentions": 1,
    }


def test_a_watcher_reading_records_and_tells_nothing(db, database_url, people):
    send_as(db, people["bob"], "hi")
    with heard(database_url) as found:
        assert actions.mark_read(db, room_row(db).id, people["dave"].id, 1) is None
    assert found == []


def test_muting_is_the_members_own_and_tells_their_sockets(db, database_url, people, design):
    carol = people["carol"]
    with heard(database_url) as found:
        actions.set_muted(db, design, carol, True)
    assert member_row(db, design, carol)["muted"] is True
    (updated,) = user_frames(found, carol)
    assert updated["type"] == "room_updated" and updated["room"]["muted"] is True
    with pytest.raises(ChatError) as refused:
        actions.set_muted(db, design, people["dave"], True)
    assert refused.value.code == "not_found"


def test_topic_and_archive_are_the_creators_and_reach_every_member(
    db, database_url, people, design
):
    carol, dave = people["carol"], people["dave"]
    actions.join(db, design, dave)
    with heard(database_url) as found:
        actions.update_room(db, design, carol, topic="  pixels   and\tfonts ", archived=True)
    for person in (carol, dave):
        (updated,) = user_frames(found, person)
        assert updated["room"]["topic"] == "pixels and fonts"
        assert updated["room"]["archived"] is True
    assert [r.name for r, _, _ in queries.directory(db, dave.id)] == ["general"]
    with pytest.raises(ChatError) as refused:
        actions.update_room(db, design, dave, topic="mine now")
    assert refused.value.code == "forbidden"
    with pytest.raises(ChatError) as refused:
        actions.update_room(db, design, carol, topic="x" * 251)
    assert refused.value.code == "bad_request"
    for hostile in ("a\u202eb", "line\x00", "\u0007bell"):
        with pytest.raises(ChatError):
            actions.update_room(db, design, carol, topic=hostile)
    assert room_row(db, "design").topic == "pixels and fonts"
    actions.update_room(db, design, carol, topic="\ufeff\u200b ")  # shows nothing: no topic
    assert room_row(db, "design").topic == ""
    # Archived: read-only for everyone.
    with pytest.raises(ChatError) as refused:
        commands.dispatch(
            commands.parse("still here?"), room_row(db, "design"), carol, None, lambda: _same(db)
        )
    assert refused.value.code == "forbidden"


def test_an_archived_room_is_read_only_but_can_be_left(db, people, design):
    carol, dave = people["carol"], people["dave"]
    actions.join(db, design, dave)
    seq = send_as(db, dave, "before the archive", room="design")
    actions.update_room(db, design, carol, archived=True)
    archived = room_row(db, "design")
    before = archived.last_seq
    for change in (
        lambda: actions.edit_message(db, archived, dave, seq, "after"),
        lambda: actions.toggle_reaction(db, archived, dave, seq, "🎉"),
        lambda: actions.delete_message(db, archived, dave, seq),
        lambda: actions.send_message(db, archived, dave, "hello?", None),
        lambda: actions.add_member(db, archived, carol, "bob"),
    ):
        with pytest.raises(ChatError) as refused:
            change()
        assert refused.value.code == "forbidden"
    assert room_row(db, "design").last_seq == before
    actions.leave(db, archived, dave)  # leaving stays possible
    assert member_row(db, archived, dave) is None


def test_a_creator_who_left_no_longer_changes_the_room(db, people, design):
    carol = people["carol"]
    actions.join(db, design, people["dave"])
    actions.leave(db, design, carol)
    with pytest.raises(ChatError) as refused:
        actions.update_room(db, design, carol, topic="from outside")
    assert refused.value.code == "forbidden"
    assert room_row(db, "design").topic == ""


def test_a_new_direct_room_appears_for_both_people(db, database_url, people):
    alice, carol = people["alice"], people["carol"]
    with heard(database_url) as found:
        name = actions.open_direct(db, carol, "alice")
    for person, partner in ((alice, "carol"), (carol, "alice")):
        (added,) = user_frames(found, person)
        assert added["room"]["name"] == name and added["room"]["partner"] == partner
        assert added["room"]["title"] == f"@{partner}"
    with heard(database_url) as found:
        assert actions.open_direct(db, carol, "alice") == name
    assert found == []  # opened again: nothing new


def test_the_directory_counts_members_and_says_whether_you_are_one(db, people, design, plans):
    actions.join(db, design, people["dave"])
    listed = {
        room.name: (count, joined)
        for room, count, joined in queries.directory(db, people["dave"].id)
    }
    assert listed == {"general": (0, False), "design": (2, True)}


def test_catch_up_replays_member_events_as_member_frames(db, people, design):
    actions.join(db, design, people["dave"])
    actions.add_member(db, design, people["dave"], "alice")
    rows = queries.messages_between(db, design.id, 0, 100, 10)
    frames = [outbound.row_message("design", row) for row in rows]
    assert [(f["type"], f["event"], f["username"], f["member"]) for f in frames] == [
        ("member", "join", "dave", "dave"),
        ("member", "add", "dave", "alice"),
    ]


def test_the_migration_makes_every_poster_a_member(pg_server):
    with database_at(pg_server, "0012_link_hrefs") as conninfo:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO users (username, password_hash) VALUES ('old', 'x'), ('quiet', 'x')"
            )
            conn.execute("UPDATE rooms SET last_seq = 2 WHERE name = 'general'")
            conn.execute(
                "INSERT INTO messages (room_id, seq, user_id, content)"
                " SELECT r.id, s, u.id, 'hi' FROM rooms r, users u, generate_series(1, 2) s"
                " WHERE r.name = 'general' AND u.username = 'old'"
            )
        migrate.migrate(conninfo)
        with psycopg.connect(conninfo, row_factory=psycopg.rows.dict_row) as conn:
            rows = conn.execute(
                "SELECT u.username, m.last_read_seq, m.muted FROM room_members m"
                " JOIN users u ON u.id = m.user_id"
            ).fetchall()
    assert rows == [{"username": "old", "last_read_seq": 2, "muted": False}]
