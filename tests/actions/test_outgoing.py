"""Outgoing webhooks' writes (chat/actions/outgoing.py, triggers.py): made with a bot
member and a secret, deleted, and every send path queueing exactly the deliveries
of the messages that match, in the transaction that stores them."""

import pytest

from chat import actions
from chat.actions.jobs import NO_PASSWORD
from chat.domain.errors import ChatError
from chat.domain.threads import ReplyTo
from chat.storage import queries

from ..conftest import make_token, make_user, room_row, send_as
from ..servers import Client

URL = "https://hooks.example.com/chat"


def make_hook(db, user, name="deploybot", triggers=("!deploy",), room="general"):
    return actions.create_webhook(db, room_row(db, room), user, name, URL, tuple(triggers))


def jobs(db) -> list[dict]:
    return db.execute(
        "SELECT webhook_id, room_id, seq, trigger_word, state FROM work_jobs"
        " WHERE kind = 'webhook' ORDER BY id"
    ).fetchall()


@pytest.fixture
def member(db, eren):
    actions.join(db, room_row(db), eren)
    return eren


# --- making and deleting ---------------------------------------------------------------


def test_a_webhook_has_its_own_bot_member_and_a_secret(db, member):
    made = make_hook(db, member)
    assert len(made.secret) == 64 and int(made.secret, 16) >= 0
    bot = db.execute(
        "SELECT id, is_bot, password_hash FROM users WHERE username = 'deploybot'"
    ).fetchone()
    assert bot["is_bot"] and bot["password_hash"] == NO_PASSWORD
    room = room_row(db)
    assert queries.is_member(db, room.id, bot["id"])
    event = db.execute(
        "SELECT kind, content, user_id FROM messages WHERE room_id = %s AND seq = %s",
        (room.id, room.last_seq),
    ).fetchone()
    assert (event["kind"], event["content"], event["user_id"]) == ("add", "deploybot", member.id)
    stored = db.execute("SELECT secret, url FROM outgoing_webhooks").fetchone()
    assert (stored["secret"], stored["url"]) == (made.secret, URL)
    assert made.secret != make_hook(db, member, "otherbot").secret


def test_a_taken_name_or_a_non_member_changes_nothing(db, member, mikasa):
    make_user(db, "levi")
    before = db.execute("SELECT count(*) AS n FROM users").fetchone()["n"]
    with pytest.raises(ChatError) as taken:
        make_hook(db, member, "LEVI")
    assert taken.value.code == "taken"
    with pytest.raises(ChatError) as outsider:
        make_hook(db, mikasa)  # not a member of #general
    assert outsider.value.code == "forbidden"
    assert db.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == before
    assert db.execute("SELECT count(*) AS n FROM outgoing_webhooks").fetchone()["n"] == 0


def live_count(db) -> tuple[int, int]:
    """#general's count of live webhooks (migration 0023), and its live rows."""
    counted = db.execute("SELECT outgoing_webhooks FROM rooms WHERE name = 'general'").fetchone()
    rows = db.execute(
        "SELECT count(*) AS n FROM outgoing_webhooks w JOIN rooms r ON r.id = w.room_id"
        " WHERE r.name = 'general' AND w.deleted_at IS NULL"
    ).fetchone()
    return counted["outgoing_webhooks"], rows["n"]


def test_the_rooms_count_of_live_webhooks_follows_every_make_and_delete(db, member):
    """The send path reads a room's webhooks only when this count says it has some."""
    assert live_count(db) == (0, 0)
    made = [make_hook(db, member, f"bot{i}") for i in range(3)]
    assert live_count(db) == (3, 3)
    actions.delete_webhook(db, room_row(db), member, made[1].id)
    with pytest.raises(ChatError):
        actions.delete_webhook(db, room_row(db), member, made[1].id)  # deleted already
    with pytest.raises(ChatError):
        make_hook(db, member, "bot0")  # a taken name: nothing made
    assert live_count(db) == (2, 2)
    for hook in (made[0], made[2]):
        actions.delete_webhook(db, room_row(db), member, hook.id)
    assert live_count(db) == (0, 0)
    send_as(db, member, "!deploy web")
    assert jobs(db) == []
    make_hook(db, member, "again")
    send_as(db, member, "!deploy web")
    assert len(jobs(db)) == 1


def test_a_deleted_webhook_matches_nothing_and_its_bot_leaves(db, member):
    made = make_hook(db, member)
    room = room_row(db)
    assert actions.delete_webhook(db, room, member, made.id) == "deploybot"
    bot = db.execute("SELECT id, disabled_at FROM users WHERE username = 'deploybot'").fetchone()
    assert bot["disabled_at"] is not None and not queries.is_member(db, room.id, bot["id"])
    send_as(db, member, "!deploy web")
    assert jobs(db) == []
    with pytest.raises(ChatError) as again:
        actions.delete_webhook(db, room, member, made.id)
    assert again.value.code == "not_found"


# --- what is queued ---------------------------------------------------------------------


def test_a_room_without_webhooks_queues_nothing(db, member):
    send_as(db, member, "!deploy web")
    send_as(db, member, "@deploybot hi")
    assert jobs(db) == []


def test_a_trigger_word_and_a_mention_each_queue_one_delivery(db, member):
    made = make_hook(db, member)
    room = room_row(db)
    first = send_as(db, member, "!deploy web")
    send_as(db, member, "deploy without the bang")
    second = send_as(db, member, "what do you say, @deploybot?")
    assert jobs(db) == [
        {"webhook_id": made.id, "room_id": room.id, "seq": first, "trigger_word": "!deploy",
         "state": "pending"},
        {"webhook_id": made.id, "room_id": room.id, "seq": second, "trigger_word": None,
         "state": "pending"},
    ]  # fmt: skip


def test_only_the_matching_webhooks_of_the_room_get_it(db, member):
    deploy = make_hook(db, member)
    make_hook(db, member, "statusbot", ["!status"])
    actions.create_room(db, "other", member.id)
    make_hook(db, member, "otherbot", ["!deploy"], room="other")
    seq = send_as(db, member, "!Deploy now")
    assert [(j["webhook_id"], j["seq"]) for j in jobs(db)] == [(deploy.id, seq)]


def test_bots_never_trigger_a_webhook(db, member):
    """Not the webhook's own bot (its replies), nor any other bot (a loop between two)."""
    make_hook(db, member, "deploybot", ["!deploy"])
    room = room_row(db)
    own = queries.user_by_name(db, "deploybot")
    other = actions.ensure_bot_user(db, "helperbot")
    actions.send_message(db, room, own, "!deploy @deploybot", None, joins=False)
    actions.send_message(db, room, other, "!deploy @deploybot", None, joins=False)
    assert jobs(db) == []


def test_actions_and_repeats_queue_nothing_more(db, member):
    make_hook(db, member)
    room = room_row(db)
    actions.send_message(db, room, member, "!deploy web", "c-1")
    actions.send_message(db, room, member, "!deploy web", "c-1")  # the same send, repeated
    actions.send_message(db, room, member, "!deploy web", None, kind="action")  # /me
    assert len(jobs(db)) == 1


def test_a_reply_in_a_thread_triggers_and_an_edit_keeps_the_delivery(db, member):
    made = make_hook(db, member)
    room = room_row(db)
    root = send_as(db, member, "a plan")
    reply = actions.send_message(
        db, room, member, "!deploy it", None, reply=ReplyTo(thread=root)
    ).seq
    actions.edit_message(db, room, member, reply, "!deploy it now https://example.com/x")
    assert [(j["webhook_id"], j["seq"], j["state"]) for j in jobs(db)] == [
        (made.id, reply, "pending")
    ]


def test_a_batch_queues_the_deliveries_of_its_matching_sends(db, member, mikasa):
    make_hook(db, member)
    room = room_row(db)
    sends = [
        actions.Send.of(room, member, "!deploy a", None),
        actions.Send.of(room, member, "nothing", None),
        actions.Send.of(room, mikasa, "@deploybot b", None),
    ]
    outcomes = actions.send_messages(db, sends)
    assert [j["seq"] for j in jobs(db)] == [outcomes[0].seq, outcomes[2].seq]


def test_a_send_that_rolls_back_queues_nothing(db, member):
    make_hook(db, member)
    room = room_row(db)
    with pytest.raises(RuntimeError), db.transaction():
        send_as(db, member, "!deploy web")
        raise RuntimeError("the caller's transaction fails after the send")
    assert jobs(db) == [] and room_row(db).last_seq == room.last_seq


# --- every send path ----------------------------------------------------------------------


def test_a_message_sent_over_the_http_api_queues_one_delivery(db, client, member):
    make_hook(db, member)
    headers = {"Authorization": f"Bearer {make_token(db, member)}"}
    for _ in range(2):  # the second is a repeat of the first
        answer = client.post(
            "/api/rooms/general/messages",
            json={"content": "!deploy web", "client_id": "c-9"},
            headers=headers,
        )
        assert answer.status_code in (200, 201)
    client.post("/api/rooms/general/messages", json={"content": "hello"}, headers=headers)
    assert [j["seq"] for j in jobs(db)] == [answer.get_json()["seq"]]


def test_a_message_sent_over_the_http_api_in_a_room_without_webhooks_queues_none(
    db, client, member
):
    headers = {"Authorization": f"Bearer {make_token(db, member)}"}
    answer = client.post(
        "/api/rooms/general/messages", json={"content": "!deploy web"}, headers=headers
    )
    assert answer.status_code == 201 and jobs(db) == []


@pytest.mark.e2e
def test_a_message_sent_over_a_websocket_queues_one_delivery(start_server, db, member):
    """Through a real gunicorn worker and its batching writer (chat/realtime/writer.py)."""
    made = make_hook(db, member)
    server = start_server(workers=1)
    client = Client.open(server, "general", make_token(db, member))
    try:
        client.until("ready")
        for text, client_id in [("!deploy web", "w-1"), ("!deploy web", "w-1"), ("hi", "w-2")]:
            client.send(
                {"type": "chat", "room": "general", "content": text, "client_id": client_id}
            )
            _, ack = client.until("ack")
            if client_id == "w-1":
                seq = ack["seq"]
    finally:
        client.close()
    assert [(j["webhook_id"], j["seq"]) for j in jobs(db)] == [(made.id, seq)]
