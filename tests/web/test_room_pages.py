"""The pages' membership and room settings without JavaScript (issue 16, items 1
and 7): Join and Leave buttons, the directory, mute, and the creator's topic,
archive and removal; bad or foreign requests change nothing."""

import pytest

from chat import actions
from chat.storage import queries

from ..conftest import csrf_token, make_user, room_row


def post_form(client, page: str, url: str, **fields):
    token = csrf_token(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **fields})


@pytest.fixture
def carols_room(db):
    """#design, a public room carol made; dave is a member."""
    carol, dave = make_user(db, "carol"), make_user(db, "dave")
    room = actions.create_room(db, "design", carol.id)
    actions.join(db, room, dave)
    return room


def member(db, room: str, username: str):
    return db.execute(
        "SELECT m.muted FROM room_members m JOIN rooms r ON r.id = m.room_id"
        " JOIN users u ON u.id = m.user_id WHERE r.name = %s AND u.username = %s",
        (room, username),
    ).fetchone()


def test_a_new_account_starts_in_general_and_the_directory_offers_the_rest(
    client, auth, db, carols_room
):
    auth.register("eren")
    page = client.get("/rooms").text
    assert 'data-room="general"' in page.split('id="directory-heading"')[0]  # his sidebar
    directory = page.split('id="directory-heading"')[1]
    assert 'aria-label="Join #design"' in directory and "2 members" in directory
    joined = post_form(client, "/rooms/design", "/rooms/design/join")
    assert joined.status_code == 303
    assert member(db, "design", "eren") is not None
    assert "You joined #design" not in client.get("/rooms/design").text  # lines are the script's
    left = post_form(client, "/rooms/design", "/rooms/design/leave")
    assert left.status_code == 303 and left.headers["Location"].endswith("/rooms")
    assert member(db, "design", "eren") is None


def test_a_page_of_a_room_one_only_views_offers_to_join(client, auth, db, carols_room):
    auth.register("eren")
    page = client.get("/rooms/design").text
    assert 'id="join-banner"' in page and 'id="leave-form" hidden' in page
    assert 'id="mute-toggle"' not in page  # nothing to mute yet


def test_mute_is_a_members_own(client, auth, db, carols_room):
    auth.register("eren")
    actions.join(db, room_row(db, "design"), queries.user_by_name(db, "eren"))
    muted = post_form(client, "/rooms/design", "/rooms/design/mute", muted="true")
    assert muted.status_code == 303
    assert member(db, "design", "eren") == {"muted": True}
    assert member(db, "design", "dave") == {"muted": False}
    assert "Unmute #design" in client.get("/rooms/design").text
    assert (
        post_form(client, "/rooms/design", "/rooms/design/mute", muted="maybe").status_code == 400
    )
    assert member(db, "design", "eren") == {"muted": True}


def test_the_creator_sets_the_topic_archives_and_removes(client, auth, db):
    auth.register("carol")
    carol = queries.user_by_name(db, "carol")
    actions.create_room(db, "design", carol.id)
    actions.join(db, room_row(db, "design"), make_user(db, "dave"))
    topic = post_form(client, "/rooms/design", "/rooms/design/settings", topic="pixels  & fonts")
    assert topic.status_code == 303
    assert room_row(db, "design").topic == "pixels & fonts"
    assert "pixels &amp; fonts" in client.get("/rooms/design").text
    archived = post_form(client, "/rooms/design", "/rooms/design/settings", archived="true")
    assert archived.status_code == 303 and room_row(db, "design").archived
    # The banner is always drawn (hidden while open, for the script); the box is
    # closed by the server only while archived.
    page = client.get("/rooms/design").text
    assert 'id="archived-banner" role="status">' in page and 'data-closed="archived"' in page
    post_form(client, "/rooms/design", "/rooms/design/settings", archived="false")
    assert not room_row(db, "design").archived
    page = client.get("/rooms/design").text
    assert 'id="archived-banner" role="status" hidden>' in page
    assert 'data-closed="archived"' not in page
    removed = post_form(client, "/rooms/design", "/rooms/design/remove", username="dave")
    assert removed.status_code == 302
    assert member(db, "design", "dave") is None
    for fields in ({}, {"archived": "soon"}):
        answer = post_form(client, "/rooms/design", "/rooms/design/settings", **fields)
        assert answer.status_code == 400


def test_only_the_creator_changes_the_room(client, auth, db, carols_room):
    auth.register("eren")
    actions.join(db, room_row(db, "design"), queries.user_by_name(db, "eren"))
    page = client.get("/rooms/design").text
    assert 'id="room-topic"' not in page and 'id="archive-toggle"' not in page
    refused = post_form(client, "/rooms/design", "/rooms/design/settings", topic="mine")
    assert refused.status_code == 303  # back to the room, with the reason
    assert "only the room" in client.get("/rooms/design").text
    assert room_row(db, "design").topic == ""
