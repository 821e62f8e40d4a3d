"""Edits, deletions and reactions (chat/actions/events.py): events in the room's gapless
sequence, the target's state, versions, authorisation, idempotency, the frames (live
and read back from the table), and parsing the client frames."""

import threading

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row

from chat import actions
from chat.domain import kinds
from chat.domain.errors import ChatError
from chat.protocol import inbound, outbound
from chat.storage import bus, queries

from ..conftest import room_row


@pytest.fixture
def room(db):
    return room_row(db)


@pytest.fixture
def listener(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {bus.CHANNEL}")
        yield conn


def send(db, room, user, content="hi", client_id=None):
    return actions.send_message(db, room, user, content, client_id).seq


def row(db, seq: int, room_id: int = 1) -> dict:
    return db.execute(
        "SELECT seq, user_id, kind, content, html, target_seq, edited_at, deleted_at, deleted_by "
        "FROM messages WHERE room_id = %s AND seq = %s",
        (room_id, seq),
    ).fetchone()


def versions(db, seq: int) -> list[tuple[int, str]]:
    rows = db.execute(
        "SELECT version, content FROM message_versions WHERE seq = %s ORDER BY version", (seq,)
    ).fetchall()
    return [(r["version"], r["content"]) for r in rows]


def frames_from_table(db, room, after: int = 0) -> list[dict]:
    """What a client resuming with `after` is sent (hub catch-up, API)."""
    return [
        outbound.row_message(room.name, r)
        for r in queries.messages_between(db, room.id, after, 2**62, 200)
    ]


def notified_frames(listener, count: int) -> list[dict]:
    frames = []
    for notify in listener.notifies(timeout=5, stop_after=count):
        frames.append(orjson.loads(notify.payload.split(" ", 3)[3]))
    assert len(frames) == count
    return frames


def refused(code: str, call, *args) -> None:
    with pytest.raises(ChatError) as refusal:
        call(*args)
    assert refusal.value.code == code


# --- the sequence -------------------------------------------------------------------


def test_sends_and_events_share_one_gapless_sequence(db, room, eren, mikasa):
    first = send(db, room, eren, "one")
    edit = actions.edit_message(db, room, eren, first, "one, edited")
    second = send(db, room, mikasa, "two")
    react = actions.toggle_reaction(db, room, mikasa, first, "👍")
    delete = actions.delete_message(db, room, mikasa, second)
    third = send(db, room, eren, "three")
    assert [first, edit.seq, second, react.seq, delete.seq, third] == [1, 2, 3, 4, 5, 6]
    assert (edit.target_seq, react.target_seq, delete.target_seq) == (1, 1, 3)
    assert room_row(db).last_seq == 6
    kinds = db.execute("SELECT seq, kind, target_seq FROM messages ORDER BY seq").fetchall()
    assert [(k["kind"], k["target_seq"]) for k in kinds] == [
        ("chat", None),
        ("edit", 1),
        ("chat", None),
        ("reaction_add", 1),
        ("delete", 3),
        ("chat", None),
    ]


def test_concurrent_events_and_sends_get_distinct_gapless_seqs(database_url, db, room, eren):
    target = send(db, room, eren, "react to me")
    got, lock = [], threading.Lock()

    def worker(n: int) -> None:
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            for i in range(10):
                if n % 2:
                    seq = actions.toggle_reaction(conn, room, eren, target, f"e{n}-{i}"[:32]).seq
                else:
                    seq = actions.send_message(conn, room, eren, f"{n}-{i}", None).seq
                with lock:
                    got.append(seq)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == list(range(2, 42))
    assert room_row(db).last_seq == 41


# --- edits --------------------------------------------------------------------------


def test_an_edit_updates_the_message_and_keeps_every_earlier_version(db, room, eren):
    seq = send(db, room, eren, "frist")
    first = actions.edit_message(db, room, eren, seq, "first")
    second = actions.edit_message(db, room, eren, seq, "**first**")
    message = row(db, seq)
    assert message["content"] == "**first**"
    assert message["html"] == "<p><strong>first</strong></p>"
    assert message["edited_at"] == second.created_at > first.created_at
    assert versions(db, seq) == [(1, "frist"), (2, "first")]
    edits = [row(db, first.seq), row(db, second.seq)]
    assert [(e["kind"], e["content"], e["target_seq"]) for e in edits] == [
        ("edit", "first", seq),
        ("edit", "**first**", seq),
    ]


def test_an_edit_is_announced_as_a_chat_edit_frame(db, room, eren, listener):
    seq = send(db, room, eren, "helo")
    edit = actions.edit_message(db, room, eren, seq, "hello *you*", "e-1")
    sent, edited = notified_frames(listener, 2)
    assert sent["type"] == "chat"
    assert edited == {
        "type": "chat_edit",
        "room": "general",
        "seq": edit.seq,
        "target_seq": seq,
        "username": "eren",
        "content": "hello *you*",
        "html": "<p>hello <em>you</em></p>",
        "ts": outbound.timestamp(edit.created_at),
        "client_id": "e-1",
    }
    # The same frame, read back from the table by a resuming client.
    assert frames_from_table(db, room, after=seq) == [edited]


def test_only_the_author_edits(db, room, eren, mikasa):
    seq = send(db, room, eren, "mine")
    refused("forbidden", actions.edit_message, db, room, mikasa, seq, "yours now")
    assert row(db, seq)["content"] == "mine"
    assert room_row(db).last_seq == seq  # the refused event took no seq


def test_a_room_owner_cannot_edit_others_messages_either(db, eren, mikasa):
    actions.create_room(db, "owned", mikasa.id)
    owned = room_row(db, "owned")
    seq = send(db, owned, eren, "mine")
    refused("forbidden", actions.edit_message, db, owned, mikasa, seq, "the owner's words")


# --- deletions ----------------------------------------------------------------------


def test_a_delete_empties_the_message_its_edits_and_versions(db, room, eren, mikasa):
    seq = send(db, room, eren, "secret v1")
    edit = actions.edit_message(db, room, eren, seq, "secret v2")
    actions.toggle_reaction(db, room, mikasa, seq, "😮")
    delete = actions.delete_message(db, room, eren, seq)
    message = row(db, seq)
    assert (message["content"], message["html"]) == ("", "")
    assert message["deleted_at"] == delete.created_at
    assert message["deleted_by"] == eren.id
    assert (row(db, edit.seq)["content"], row(db, edit.seq)["html"]) == ("", "")
    assert versions(db, seq) == []
    assert db.execute("SELECT count(*) AS n FROM reactions").fetchone()["n"] == 0
    texts = db.execute("SELECT content FROM messages WHERE content LIKE '%secret%'").fetchall()
    assert texts == []
    assert row(db, delete.seq)["kind"] == "delete"


def test_a_deleted_message_reads_back_as_a_placeholder(db, room, eren):
    seq = send(db, room, eren, "soon gone", "c-1")
    delete = actions.delete_message(db, room, eren, seq)
    message, event = frames_from_table(db, room)
    assert message["deleted"] is True
    assert (message["content"], message["html"]) == ("", "")
    assert "reactions" not in message
    assert event == {
        "type": "chat_delete",
        "room": "general",
        "seq": delete.seq,
        "target_seq": seq,
        "username": "eren",
        "ts": outbound.timestamp(delete.created_at),
    }


def test_the_room_owner_deletes_anyones_message(db, eren, mikasa, listener):
    actions.create_room(db, "owned", mikasa.id)
    owned = room_row(db, "owned")
    seq = send(db, owned, eren, "spam")
    delete = actions.delete_message(db, owned, mikasa, seq)
    assert row(db, seq, owned.id)["deleted_by"] == mikasa.id
    frame = notified_frames(listener, 2)[1]
    assert (frame["type"], frame["username"], frame["seq"]) == ("chat_delete", "mikasa", delete.seq)


def test_others_cannot_delete(db, room, eren, mikasa):
    seq = send(db, room, eren, "mine")  # general has no owner
    refused("forbidden", actions.delete_message, db, room, mikasa, seq)
    assert row(db, seq)["deleted_at"] is None


def test_the_opener_of_a_direct_room_is_not_its_owner(db, eren, mikasa):
    name = actions.open_direct(db, eren, "mikasa")
    direct = room_row(db, name)
    seq = send(db, direct, mikasa, "between us")
    refused("forbidden", actions.delete_message, db, direct, eren, seq)


# --- reactions ----------------------------------------------------------------------


def test_a_reaction_toggles_on_and_off_and_the_frames_say_so(db, room, eren, mikasa, listener):
    seq = send(db, room, eren, "nice")
    on = actions.toggle_reaction(db, room, mikasa, seq, "🎉")
    also = actions.toggle_reaction(db, room, eren, seq, "🎉")
    off = actions.toggle_reaction(db, room, mikasa, seq, "🎉")
    assert (on.on, also.on, off.on) == (True, True, False)
    frames = notified_frames(listener, 4)[1:]
    assert [(f["type"], f["username"], f["emoji"], f["on"]) for f in frames] == [
        ("reaction", "mikasa", "🎉", True),
        ("reaction", "eren", "🎉", True),
        ("reaction", "mikasa", "🎉", False),
    ]
    assert [f["target_seq"] for f in frames] == [seq] * 3
    assert [row(db, f["seq"])["kind"] for f in frames] == [
        "reaction_add",
        "reaction_add",
        "reaction_remove",
    ]
    message = frames_from_table(db, room)[0]
    assert message["reactions"] == {"🎉": ["eren"]}
    assert frames_from_table(db, room, after=seq) == frames


def test_reactions_read_back_grouped_by_emoji_in_order(db, room, eren, mikasa):
    seq = send(db, room, eren, "vote")
    actions.toggle_reaction(db, room, mikasa, seq, "👍")
    actions.toggle_reaction(db, room, eren, seq, "❤️")
    actions.toggle_reaction(db, room, eren, seq, "👍")
    message = frames_from_table(db, room)[0]
    assert list(message["reactions"].items()) == [("👍", ["mikasa", "eren"]), ("❤️", ["eren"])]


def test_one_person_has_a_bounded_number_of_reactions_per_message(db, room, eren):
    seq = send(db, room, eren, "so many feelings")
    for i in range(actions.MAX_REACTIONS_PER_USER):
        actions.toggle_reaction(db, room, eren, seq, f"e{i}")
    refused("too_many_reactions", actions.toggle_reaction, db, room, eren, seq, "one more")
    actions.toggle_reaction(db, room, eren, seq, "e0")  # taking one away still works


# --- targets that are not live messages ---------------------------------------------


@pytest.mark.parametrize("verb", ["edit", "delete", "react"])
def test_a_missing_event_or_deleted_target_is_not_found(db, room, eren, verb):
    def act(seq):
        if verb == "edit":
            return actions.edit_message(db, room, eren, seq, "new text")
        if verb == "delete":
            return actions.delete_message(db, room, eren, seq)
        return actions.toggle_reaction(db, room, eren, seq, "👍")

    kept = send(db, room, eren, "kept")
    event = actions.toggle_reaction(db, room, eren, kept, "👀").seq
    gone = send(db, room, eren, "gone")
    actions.delete_message(db, room, eren, gone)
    last = room_row(db).last_seq
    for target in (0, 99, event, gone):
        refused("not_found", act, target)
    assert room_row(db).last_seq == last  # nothing refused took a seq
    actions.create_room(db, "other", eren.id)
    other = room_row(db, "other")
    with pytest.raises(ChatError) as refusal:
        # seq 1 of general exists, but not in "other"
        actions.delete_message(db, other, eren, kept)
    assert refusal.value.code == "not_found"


# --- idempotency ----------------------------------------------------------------------


def test_a_repeated_client_id_is_the_same_event(db, room, eren):
    seq = send(db, room, eren, "x")
    first = actions.toggle_reaction(db, room, eren, seq, "👍", "r-1")
    again = actions.toggle_reaction(db, room, eren, seq, "👍", "r-1")
    assert not first.duplicate and again.duplicate
    assert (again.seq, again.on) == (first.seq, True)  # not toggled back off
    edit = actions.edit_message(db, room, eren, seq, "y", "e-1")
    assert actions.edit_message(db, room, eren, seq, "y", "e-1").seq == edit.seq
    assert room_row(db).last_seq == 3
    assert versions(db, seq) == [(1, "x")]


def test_a_client_id_used_for_something_else_is_refused(db, room, eren):
    seq = send(db, room, eren, "x", "c-1")
    refused("bad_frame", actions.edit_message, db, room, eren, seq, "y", "c-1")
    assert row(db, seq)["content"] == "x"


# --- frames -----------------------------------------------------------------------------


def test_an_edited_message_reads_back_with_its_current_text_and_edit_time(db, room, eren):
    seq = send(db, room, eren, "old", "c-1")
    edit = actions.edit_message(db, room, eren, seq, "new")
    message = frames_from_table(db, room)[0]
    assert message["content"] == "new"
    assert message["html"] == "<p>new</p>"
    assert message["edited"] == outbound.timestamp(edit.created_at)
    assert message["client_id"] == "c-1"
    assert "deleted" not in message


def test_a_new_message_frame_is_the_same_live_and_from_the_table(db, room, eren, listener):
    actions.send_message(db, room, eren, "/me is here", "c-1", kinds.KIND_ACTION)
    live = notified_frames(listener, 1)[0]
    assert frames_from_table(db, room) == [live]


@pytest.mark.parametrize(
    "data, expected",
    [
        (
            '{"type":"edit","room":"general","seq":3,"content":"new","client_id":"c"}',
            inbound.EditIn("general", 3, "new", "c"),
        ),
        ('{"type":"delete","room":"general","seq":3}', inbound.DeleteIn("general", 3, None)),
        (
            '{"type":"react","room":"general","seq":3,"emoji":"👨‍👩‍👧"}',
            inbound.ReactIn("general", 3, "👨‍👩‍👧", None),
        ),
        (
            '{"type":"react","room":"r","seq":1,"emoji":":+1:"}',
            inbound.ReactIn("r", 1, ":+1:", None),
        ),
    ],
)
def test_parse_event_frames(data, expected):
    assert inbound.parse(data, 4000, plain_text=False) == expected


@pytest.mark.parametrize(
    "frame, code",
    [
        ({"type": "edit", "room": "general", "content": "x"}, "bad_frame"),  # no seq
        ({"type": "edit", "room": "general", "seq": "3", "content": "x"}, "bad_frame"),
        ({"type": "edit", "room": "general", "seq": 3, "content": "  "}, "bad_frame"),
        ({"type": "edit", "room": "general", "seq": 3, "content": "x" * 4001}, "too_large"),
        ({"type": "delete", "room": "general", "seq": -1}, "bad_frame"),
        ({"type": "delete", "seq": 1}, "bad_frame"),  # /ws: the room is required
        ({"type": "react", "room": "general", "seq": 1}, "bad_frame"),
        ({"type": "react", "room": "general", "seq": 1, "emoji": ""}, "bad_frame"),
        ({"type": "react", "room": "general", "seq": 1, "emoji": "x" * 33}, "bad_frame"),
        ({"type": "react", "room": "general", "seq": 1, "emoji": "a b"}, "bad_frame"),
        ({"type": "react", "room": "general", "seq": 1, "emoji": "👍\n"}, "bad_frame"),
        ({"type": "react", "room": "general", "seq": 1, "emoji": "\u202eab"}, "bad_frame"),
        ({"type": "react", "room": "general", "seq": 1, "emoji": 1}, "bad_frame"),
    ],
)
def test_parse_refuses_bad_event_frames(frame, code):
    with pytest.raises(ChatError) as refusal:
        inbound.parse(orjson.dumps(frame).decode(), 4000, plain_text=False)
    assert refusal.value.code == code


def test_an_event_on_a_one_room_socket_may_leave_out_the_room():
    parsed = inbound.parse('{"type":"delete","seq":4}', 4000, plain_text=True)
    assert parsed == inbound.DeleteIn(None, 4, None)


def test_events_are_counted_once_for_metrics(db, room, eren):
    from chat import metrics

    seq = send(db, room, eren, "x")
    before = metrics.EVENTS._value.get()
    actions.toggle_reaction(db, room, eren, seq, "👍", "r-1")
    actions.toggle_reaction(db, room, eren, seq, "👍", "r-1")  # a repeat
    with pytest.raises(ChatError):
        actions.edit_message(db, room, eren, 99, "refused")
    assert metrics.EVENTS._value.get() == before + 1
