"""The reads behind display names (chat/storage/people.py, chat/storage/queries.py):
people found by username or by a word of their display name, a room's members
with theirs, a direct room's partner's, and the history pages' authors'."""

import pytest

from chat import actions
from chat.storage import people, queries

from ..conftest import make_user, room_row


@pytest.fixture
def team(db):
    """alice (Alice Liddell), bob (no display name), carol (disabled, Alice Carol)."""
    alice, bob, carol = (make_user(db, name) for name in ("alice", "bob", "carol"))
    actions.set_display_name(db, alice.id, "Alice Liddell")
    actions.set_display_name(db, carol.id, "Alice Carol")
    actions.disable_user(db, carol.id)
    return {"alice": alice, "bob": bob, "carol": carol}


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("al", [("alice", "Alice Liddell")]),
        ("LIDD", [("alice", "Alice Liddell")]),
        ("alice l", [("alice", "Alice Liddell")]),
        ("b", [("bob", None)]),
        ("iddell", []),  # a word's start only
        ("_", []),  # characters, never wildcards
        ("%", []),
    ],
)
def test_people_by_prefix_match_usernames_and_words_of_display_names(db, team, prefix, expected):
    assert people.people_by_prefix(db, prefix, 20) == expected


def test_people_by_prefix_are_by_username_and_limited(db, team):
    make_user(db, "lidia")
    assert people.people_by_prefix(db, "li", 20) == [("alice", "Alice Liddell"), ("lidia", None)]
    assert people.people_by_prefix(db, "li", 1) == [("alice", "Alice Liddell")]


def test_members_come_with_their_display_names(db, team):
    general = room_row(db)
    for user in (team["bob"], team["alice"]):
        actions.join_room(db, general.id, user.id)
    members = queries.members_with_status(db, general.id)
    assert [(m.username, m.display_name, m.name) for m in members] == [
        ("alice", "Alice Liddell", "Alice Liddell"),
        ("bob", None, "bob"),
    ]


def test_a_direct_rooms_listing_has_its_partners_display_name(db, team):
    alice, bob = team["alice"], team["bob"]
    name = actions.open_direct(db, bob, "alice")
    (listing,) = [r for r in queries.member_rooms(db, bob.id) if r.name == name]
    assert (listing.partner, listing.partner_display_name, listing.title) == (
        "alice",
        "Alice Liddell",
        "Alice Liddell",
    )
    (theirs,) = [r for r in queries.member_rooms(db, alice.id) if r.name == name]
    assert (theirs.partner_display_name, theirs.title) == (None, "@bob")


def test_only_the_history_read_carries_the_authors_display_name(db, team):
    general = room_row(db)
    for user in (team["alice"], team["bob"]):
        actions.send_message(db, general, user, f"hi from {user.username}", None)
    history = queries.history_before(db, general.id, 100, 50)
    shown = [(m.username, m.display_name, m.author_name) for m in history]
    assert shown == [("alice", "Alice Liddell", "Alice Liddell"), ("bob", None, "bob")]
    # What frames are built from (catch-up, the JSON API) reads no names.
    frames = queries.messages_before(db, general.id, 100, 50, messages_only=True)
    assert [m.display_name for m in frames] == [None, None]
    assert frames == history  # the same messages: a name is not part of one
