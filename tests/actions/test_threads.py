"""Threads in the write path (chat/actions/threads.py, docs/protocol.md Threads):
replies take the room's next seqs, a reply to a reply joins the root's thread,
the threads' rows and follows are kept in the reply's transaction, followers
hear `thread_updated`, and a bad reply or quote stores nothing."""

import pytest

from chat import actions
from chat.domain.errors import ChatError
from chat.domain.threads import ReplyTo
from chat.storage import queries, threads

from ..conftest import db_state, make_user, room_row, send_as
from .notifies import heard, stored_frames, user_frames


def reply(db, user, text, thread, room="general", **more) -> int:
    return actions.send_message(
        db, room_row(db, room), user, text, None, reply=ReplyTo(thread, **more)
    ).seq


def follows(db, room, root) -> dict[str, tuple[bool, int]]:
    rows = db.execute(
        "SELECT u.username, f.following, f.last_read_seq FROM thread_follows f"
        " JOIN users u ON u.id = f.user_id WHERE f.room_id = %s AND f.root_seq = %s",
        (room.id, root),
    ).fetchall()
    return {r["username"]: (r["following"], r["last_read_seq"]) for r in rows}


@pytest.fixture
def people(db, eren, mikasa):
    levi = make_user(db, "levi")
    room = room_row(db)
    for user in (eren, mikasa, levi):
        actions.join(db, room, user)
    return eren, mikasa, levi


def test_a_reply_to_a_reply_joins_the_roots_thread(db, people):
    eren, mikasa, levi = people
    root = send_as(db, eren, "who takes the release?")
    first = reply(db, mikasa, "me", root)
    second = reply(db, levi, "me too", first)  # a reply to a reply
    room = room_row(db)
    rows = queries.messages_between(db, room.id, 0, room.last_seq + 1, 50, messages_only=True)
    by_seq = {m.seq: m for m in rows}
    assert by_seq[first].thread_seq == root and by_seq[second].thread_seq == root
    assert by_seq[root].thread_seq is None
    assert by_seq[root].replies.count == 2
    assert by_seq[root].replies.last_seq == second
    assert by_seq[root].replies.users == ("levi", "mikasa")  # latest first
    assert [m.seq for m in threads.thread_messages(db, room.id, root, 0, 10)] == [
        root,
        first,
        second,
    ]


def test_followers_are_the_author_the_repliers_and_the_mentioned(db, people):
    eren, mikasa, levi = people
    root = send_as(db, eren, "plan?")
    first = reply(db, mikasa, "ask @levi", root)
    room = room_row(db)
    assert follows(db, room, root) == {
        "eren": (True, 0),  # the root's author: every reply unread
        "mikasa": (True, first),  # the replier has read up to their reply
        "levi": (True, first - 1),  # the mentioned: from that reply on
    }
    assert threads.thread_state(db, eren.id, room.id, root).unread == 1
    state = threads.thread_state(db, levi.id, room.id, root)
    assert (state.unread, state.mentions) == (1, 1)
    # The room's own counts: a reply is not unread in the room, its mention is.
    listing = queries.member_room(db, levi.id, room.id)
    assert listing.unread == 1  # the root only
    assert listing.mentions == 1
    actions.read_thread(db, room, levi, root, first)
    assert queries.member_room(db, levi.id, room.id).mentions == 0


def test_unfollowing_sticks_for_the_author_until_they_reply(db, people):
    eren, mikasa, _ = people
    root = send_as(db, eren, "plan?")
    reply(db, mikasa, "one", root)
    room = room_row(db)
    actions.set_following(db, room, eren, root, False)
    reply(db, mikasa, "two", root)
    assert follows(db, room, root)["eren"][0] is False
    third = reply(db, eren, "fine", root)
    assert follows(db, room, root)["eren"] == (True, third)


def test_followers_hear_thread_updated_and_the_reply_frame_says_its_thread(
    db, database_url, people
):
    eren, mikasa, levi = people
    root = send_as(db, eren, "plan?")
    with heard(database_url) as found:
        seq = reply(db, mikasa, "on it", root, also_in_room=True)
    (frame,) = stored_frames(found)
    assert frame["thread"] == root and frame["also_in_room"] is True and frame["seq"] == seq
    (update,) = user_frames(found, eren)
    assert update == {
        "type": "thread_updated",
        "room": "general",
        "thread": root,
        "following": True,
        "last_read_seq": 0,
        "last_seq": seq,
        "unread": 1,
        "mentions": 0,
    }
    assert user_frames(found, mikasa)[0]["unread"] == 0  # their own reply
    assert user_frames(found, levi) == []  # not a follower


@pytest.mark.parametrize(
    "target",
    ["event", "member_line", "not_taken", "deleted_quote"],
)
def test_a_reply_or_quote_of_no_message_is_refused_and_stores_nothing(db, people, target):
    eren, mikasa, _ = people
    root = send_as(db, eren, "plan?")
    room = room_row(db)
    event = actions.toggle_reaction(db, room, mikasa, root, "👍").seq
    if target == "deleted_quote":
        gone = send_as(db, eren, "oops")
        actions.delete_message(db, room_row(db), eren, gone)
    before = db_state(db)
    seq = {
        "event": event,
        "member_line": 1,  # the joins of the fixture are seqs 1-3
        "not_taken": 10_000,
        "deleted_quote": None,
    }[target]
    how = ReplyTo(quote=gone) if target == "deleted_quote" else ReplyTo(seq)
    with pytest.raises(ChatError) as refused:
        actions.send_message(db, room_row(db), mikasa, "x", None, reply=how)
    assert refused.value.code == "not_found"
    if target == "deleted_quote":  # said in words, not by its seq
        assert refused.value.message == "the message you quote was deleted"
    assert db_state(db) == before


def test_a_quote_shows_the_quoted_message_as_it_is_now(db, people):
    eren, mikasa, _ = people
    quoted = send_as(db, eren, "ship on friday?")
    with_quote = actions.send_message(
        db, room_row(db), mikasa, "yes", None, reply=ReplyTo(quote=quoted)
    ).seq
    room = room_row(db)
    actions.edit_message(db, room, eren, quoted, "ship on monday?")
    (message,) = queries.messages_between(db, room.id, with_quote - 1, with_quote + 1, 5)
    assert (message.quote.seq, message.quote.username) == (quoted, "eren")
    assert message.quote.content == "ship on monday?"
    actions.delete_message(db, room_row(db), eren, quoted)
    (message,) = queries.messages_between(db, room.id, with_quote - 1, with_quote + 1, 5)
    assert message.quote.deleted and message.quote.content == ""


def test_deleting_a_reply_counts_it_out_and_deleting_the_root_keeps_the_thread(db, people):
    eren, mikasa, _ = people
    root = send_as(db, eren, "plan?")
    first = reply(db, mikasa, "one", root)
    reply(db, mikasa, "two", root)
    actions.delete_message(db, room_row(db), mikasa, first)
    actions.delete_message(db, room_row(db), eren, root)
    room = room_row(db)
    rows = threads.thread_messages(db, room.id, root, 0, 10)
    assert rows[0].deleted_at is not None and rows[0].replies.count == 1
    assert [m.content for m in rows[1:]] == ["", "two"]
    assert threads.thread_state(db, eren.id, room.id, root).unread == 1


def test_an_edit_or_delete_of_a_reply_tells_the_followers_their_new_counts(
    db, database_url, people
):
    """Every change of a reply that moves a follower's counts (a deletion of an
    unread reply, an edit that adds or removes a mention) reaches them as
    `thread_updated`; an edit's new mention makes its member follow."""
    eren, mikasa, levi = people
    root = send_as(db, eren, "plan?")
    first = reply(db, mikasa, "one", root)
    room = room_row(db)

    with heard(database_url) as found:
        actions.edit_message(db, room, mikasa, first, "one, @levi?")
    (update,) = user_frames(found, levi)  # followed from the edit on
    assert (update["thread"], update["unread"], update["mentions"]) == (root, 0, 1)
    assert user_frames(found, eren)[-1]["unread"] == 1
    assert threads.thread_state(db, levi.id, room.id, root).mentions == 1

    actions.set_following(db, room, levi, root, False)
    with heard(database_url) as found:  # the mention kept: no follow again
        actions.edit_message(db, room_row(db), mikasa, first, "one, @levi!")
    assert follows(db, room, root)["levi"][0] is False
    assert user_frames(found, levi) == []

    with heard(database_url) as found:
        actions.delete_message(db, room_row(db), mikasa, first)
    (update,) = user_frames(found, eren)
    assert (update["unread"], update["mentions"]) == (0, 0)
    assert threads.thread_state(db, eren.id, room.id, root).unread == 0


def test_deleting_replies_leaves_the_summary_of_those_that_remain(db, people):
    """The faces and the "last reply" time under a root are the remaining
    replies'; the count goes to 0 when none is left."""
    eren, mikasa, levi = people
    root = send_as(db, eren, "plan?")
    first = reply(db, mikasa, "one", root)
    last = reply(db, levi, "two", root)
    summary = "SELECT reply_count, repliers, last_reply_at FROM threads WHERE root_seq = %s"
    before = db.execute(summary, (root,)).fetchone()
    assert before["repliers"] == [levi.id, mikasa.id]

    actions.delete_message(db, room_row(db), levi, last)
    after = db.execute(summary, (root,)).fetchone()
    first_at = db.execute("SELECT created_at FROM messages WHERE seq = %s", (first,)).fetchone()
    assert (after["reply_count"], after["repliers"]) == (1, [mikasa.id])
    assert after["last_reply_at"] == first_at["created_at"]

    actions.delete_message(db, room_row(db), mikasa, first)
    none_left = db.execute(summary, (root,)).fetchone()
    assert (none_left["reply_count"], none_left["repliers"]) == (0, [])


def test_the_batch_writer_places_replies_of_one_batch_in_order(db, database_url, app, people):
    eren, mikasa, levi = people
    root = send_as(db, eren, "plan?")
    sends = [
        actions.Send.of(room_row(db), user, f"r{i}", f"c{i}", reply=ReplyTo(root))
        for i, user in enumerate([mikasa, levi, mikasa, levi, mikasa])
    ]
    outcomes = actions.send_messages(db, sends)
    seqs = [o.seq for o in outcomes]
    assert seqs == sorted(seqs)
    room = room_row(db)
    summary = threads.thread_messages(db, room.id, root, 0, 1)[0].replies
    assert summary.count == 5 and summary.last_seq == seqs[-1]
    assert summary.users == ("mikasa", "levi")
    # the same client_ids again: the first sends, nothing new
    again = actions.send_messages(db, sends)
    assert [o.seq for o in again] == seqs and all(o.duplicate for o in again)
    assert threads.thread_messages(db, room.id, root, 0, 1)[0].replies.count == 5
