"""chat/domain/entities.py: built from rows, immutable, compared by value."""

import dataclasses
from datetime import UTC, datetime

import pytest

from chat.domain.entities import Message, Room, RoomListing, User
from chat.domain.kinds import KIND_CHAT, KIND_EDIT

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)

ROOM_ROW = {
    "id": 7,
    "name": "plans",
    "is_private": True,
    "is_direct": False,
    "created_by": 3,
    "last_seq": 42,
}
MESSAGE_ROW = {
    "seq": 5,
    "username": "eren",
    "content": "hi",
    "client_id": "c-1",
    "created_at": NOW,
    "html": "<p>hi</p>",
    "kind": KIND_CHAT,
    "target_seq": None,
    "edited_at": None,
    "deleted_at": None,
    "reactions": {"👍": ["mikasa"]},
}


def test_a_user_from_a_row_leaves_other_columns():
    user = User.from_row({"id": 1, "username": "Eren", "password_hash": "secret"})
    assert user == User(1, "Eren")
    assert not hasattr(user, "password_hash")


def test_a_room_from_a_full_row():
    assert Room.from_row(ROOM_ROW) == Room(7, "plans", True, False, 3, 42)
    assert Room.from_row(ROOM_ROW).last_seq == 42


def test_a_room_from_a_row_with_only_id_and_name_takes_the_defaults():
    room = Room.from_row({"id": 1, "name": "general"})
    assert (room.is_private, room.is_direct, room.created_by, room.last_seq) == (
        False,
        False,
        None,
        0,
    )


def test_a_message_from_a_row():
    message = Message.from_row(MESSAGE_ROW)
    assert (message.seq, message.username, message.html, message.client_id) == (
        5,
        "eren",
        "<p>hi</p>",
        "c-1",
    )
    assert message.reactions == {"👍": ["mikasa"]}


def test_an_event_from_a_row_names_its_target():
    event = Message.from_row({**MESSAGE_ROW, "seq": 6, "kind": KIND_EDIT, "target_seq": 5})
    assert (event.kind, event.target_seq) == (KIND_EDIT, 5)


def test_a_listing_reads_like_its_room_and_has_a_title():
    listing = RoomListing.from_row({**ROOM_ROW, "unread": 3, "mentions": 1, "partner": None})
    assert listing.room == Room.from_row(ROOM_ROW)
    assert (listing.id, listing.name, listing.is_private, listing.last_seq) == (
        7,
        "plans",
        True,
        42,
    )
    assert (listing.unread, listing.mentions, listing.title) == (3, 1, "#plans")


@pytest.mark.parametrize(
    "is_direct, partner, title",
    [(False, None, "#dm-1-2"), (True, "levi", "@levi"), (True, None, "#dm-1-2")],
)
def test_a_direct_room_is_titled_by_the_other_person(is_direct, partner, title):
    room = Room(1, "dm-1-2", is_private=True, is_direct=is_direct)
    assert RoomListing(room, partner=partner).title == title


@pytest.mark.parametrize(
    "entity, field",
    [
        (User(1, "eren"), "username"),
        (Room(1, "general"), "name"),
        (Room(1, "general"), "last_seq"),
        (Message.from_row(MESSAGE_ROW), "content"),
        (RoomListing(Room(1, "general")), "unread"),
    ],
)
def test_entities_are_immutable(entity, field):
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(entity, field, None)


@pytest.mark.parametrize("entity", [User(1, "eren"), Room(1, "general")])
def test_entities_take_no_new_attributes(entity):
    with pytest.raises((AttributeError, TypeError)):
        entity.extra = 1  # slots: no __dict__


def test_equal_values_are_equal_and_hash_alike():
    assert User(1, "eren") == User(1, "eren") != User(2, "eren")
    assert {User(1, "eren"), User(1, "eren")} == {User(1, "eren")}
    assert Room(1, "general") != Room(2, "general")
    assert User(1, "general") != Room(1, "general")


def test_a_rooms_last_seq_is_not_part_of_its_identity():
    """Two reads of one room at different moments are the same room."""
    earlier, later = Room.from_row(ROOM_ROW), Room.from_row({**ROOM_ROW, "last_seq": 50})
    assert earlier == later and hash(earlier) == hash(later)
    assert later.last_seq == 50


def test_a_message_with_reactions_hashes():
    """reactions is a dict (as frames carry it); the message still hashes."""
    message = Message.from_row(MESSAGE_ROW)
    assert hash(message) == hash(Message.from_row({**MESSAGE_ROW, "reactions": None}))
    assert message != Message.from_row({**MESSAGE_ROW, "reactions": None})
