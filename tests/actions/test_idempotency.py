"""A client_id is one operation: repeated for the same operation it returns the first
result; used for anything else it is refused (bad_frame) and changes nothing.

Every pair of operations a client_id can name, on every path that writes:
the lone send, the batch writer, edits, deletions, reactions and bot
requests (chat/actions), and the HTTP API on top of them.
"""

import pytest

from chat import actions
from chat.domain.errors import ChatError

from ..conftest import make_token, room_row, send_as

KEY = "k-1"


def _send(db, room, user):
    return actions.send_message(db, room, user, "a new message", KEY).seq


def _batch_send(db, room, user):
    send = actions.Send(room, user, "a batched message", KEY, "<p>a batched message</p>")
    (outcome,) = actions.send_messages(db, [send])
    if isinstance(outcome, ChatError):
        raise outcome
    return outcome.seq


def _edit(target):
    return lambda db, room, user: actions.edit_message(db, room, user, target, "new", KEY).seq


def _delete(target):
    return lambda db, room, user: actions.delete_message(db, room, user, target, KEY).seq


def _react(target, emoji):
    return lambda db, room, user: actions.toggle_reaction(db, room, user, target, emoji, KEY).seq


def _ask_bot(argument):
    def ask(db, room, user):
        return actions.enqueue_job(db, room, user, "stock", argument, KEY).job_id

    return ask


# name -> (operation, what makes it the same operation as another)
OPERATIONS = {
    "send": (_send, "send"),
    "batch_send": (_batch_send, "send"),
    "edit_1": (_edit(1), "edit 1"),
    "edit_2": (_edit(2), "edit 2"),
    "delete_1": (_delete(1), "delete 1"),
    "react_1_thumbs": (_react(1, "👍"), "react 1 👍"),
    "react_1_party": (_react(1, "🎉"), "react 1 🎉"),
    "react_2_thumbs": (_react(2, "👍"), "react 2 👍"),
    "bot_aapl": (_ask_bot("AAPL.US"), "bot AAPL.US"),
    "bot_msft": (_ask_bot("MSFT.US"), "bot MSFT.US"),
}
PAIRS = [(a, b) for a in OPERATIONS for b in OPERATIONS]


def state(db) -> tuple:
    """Everything a refused operation must leave as it was."""
    return (
        db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"],
        db.execute("SELECT last_seq FROM rooms WHERE name = 'general'").fetchone()["last_seq"],
        db.execute("SELECT count(*) AS n FROM bot_jobs").fetchone()["n"],
        db.execute("SELECT count(*) AS n FROM reactions").fetchone()["n"],
        db.execute(
            "SELECT string_agg(content, '|' ORDER BY seq) AS texts FROM messages"
        ).fetchone()["texts"],
    )


@pytest.mark.parametrize("first, second", PAIRS, ids=[f"{a}-then-{b}" for a, b in PAIRS])
def test_client_id_is_scoped_to_its_operation(db, eren, first, second):
    send_as(db, eren, "target one")  # seq 1
    send_as(db, eren, "target two")  # seq 2
    do_first, what_first = OPERATIONS[first]
    do_second, what_second = OPERATIONS[second]
    result = do_first(db, room_row(db), eren)
    before = state(db)

    if what_first == what_second:
        assert do_second(db, room_row(db), eren) == result  # the first result, again
    else:
        with pytest.raises(ChatError) as refused:
            do_second(db, room_row(db), eren)
        assert refused.value.code == "bad_frame"
    assert state(db) == before


def test_a_key_is_per_user_and_room(db, eren, mikasa):
    """Another person, or another room, may use the same client_id for anything."""
    actions.create_room(db, "second", eren.id)
    send_as(db, eren, "target")
    actions.edit_message(db, room_row(db), eren, 1, "edited", KEY)

    assert not actions.send_message(db, room_row(db), mikasa, "hers", KEY).duplicate
    assert not actions.send_message(db, room_row(db, "second"), eren, "elsewhere", KEY).duplicate


@pytest.fixture
def headers(db, eren):
    return {"Authorization": f"Bearer {make_token(db, eren)}"}


def test_the_api_refuses_a_reaction_key_for_a_new_message(client, db, eren, headers):
    """The reported case over HTTP: a reaction's client_id reused for a new message."""
    send_as(db, eren, "target")
    reacted = client.post(
        "/api/rooms/general/messages/1/reactions",
        json={"emoji": "👍", "client_id": "r-1"},
        headers=headers,
    )
    assert reacted.status_code == 200
    before = state(db)

    sent = client.post(
        "/api/rooms/general/messages",
        json={"content": "a new message", "client_id": "r-1"},
        headers=headers,
    )

    assert sent.status_code == 400
    assert sent.json["error"]["code"] == "bad_frame"
    assert state(db) == before


@pytest.mark.parametrize(
    "path, method, body",
    [
        ("/api/rooms/general/messages/1", "patch", {"content": "edited", "client_id": "m-1"}),
        ("/api/rooms/general/messages/2", "delete", {"client_id": "m-1"}),
        ("/api/rooms/general/messages/1/reactions", "post", {"emoji": "👍", "client_id": "m-1"}),
        ("/api/rooms/general/messages", "post", {"content": "/stock=AAPL", "client_id": "m-1"}),
    ],
    ids=["edit", "delete", "react", "bot"],
)
def test_the_api_refuses_a_send_key_for_anything_else(
    client, db, eren, headers, path, method, body
):
    send_as(db, eren, "target")
    first = client.post(
        "/api/rooms/general/messages",
        json={"content": "sent with m-1", "client_id": "m-1"},
        headers=headers,
    )
    assert first.status_code == 201
    before = state(db)

    answer = getattr(client, method)(path, json=body, headers=headers)

    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "bad_frame"
    assert state(db) == before
