"""The write path: gapless seqs, idempotent client_id, NOTIFY in the same transaction."""

import threading
import time

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row

from chat import actions
from chat.domain.errors import ChatError
from chat.domain.render import render
from chat.protocol import outbound
from chat.storage import bus

from ..conftest import make_user, room_row


def send(conn, room, user, content="hi", client_id=None):
    return actions.send_message(conn, room, user, content, client_id)


def count_messages(db) -> int:
    return db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"]


def test_seqs_are_assigned_one_after_another(db):
    user = make_user(db)
    room = room_row(db)
    seqs = [send(db, room, user, f"m{i}").seq for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert room_row(db).last_seq == 5


def test_concurrent_senders_get_gapless_distinct_seqs(database_url, db):
    user = make_user(db)
    room = room_row(db)
    got: list[int] = []
    lock = threading.Lock()

    def sender(n: int) -> None:
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            for i in range(25):
                seq = send(conn, room, user, f"{n}-{i}").seq
                with lock:
                    got.append(seq)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == list(range(1, 201))
    assert room_row(db).last_seq == 200


def test_repeated_client_id_returns_the_first_seq_and_stores_nothing(db):
    user = make_user(db)
    room = room_row(db)
    first = send(db, room, user, "hello", "c-1")
    send(db, room, user, "other", "c-2")
    again = send(db, room, user, "hello (retry)", "c-1")
    assert not first.duplicate and again.duplicate
    assert again.seq == first.seq == 1
    assert again.created_at == first.created_at
    assert count_messages(db) == 2
    assert room_row(db).last_seq == 2  # the retry's seq bump was rolled back


def test_client_id_is_scoped_to_user_and_room(db):
    eren, mikasa = make_user(db, "eren"), make_user(db, "mikasa")
    general = room_row(db)
    actions.create_room(db, "random", eren.id)
    other = room_row(db, "random")
    sends = [
        send(db, general, eren, client_id="same"),
        send(db, general, mikasa, client_id="same"),
        send(db, other, eren, client_id="same"),
    ]
    assert [s.duplicate for s in sends] == [False, False, False]
    assert count_messages(db) == 3


def test_concurrent_repeats_of_one_client_id_store_one_message(database_url, db):
    user = make_user(db)
    room = room_row(db)
    results = []
    barrier = threading.Barrier(6)

    def sender() -> None:
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            barrier.wait()
            results.append(send(conn, room, user, "once", "race"))

    threads = [threading.Thread(target=sender) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert {r.seq for r in results} == {1}
    assert sum(not r.duplicate for r in results) == 1
    assert count_messages(db) == 1
    assert room_row(db).last_seq == 1


@pytest.fixture
def listener(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {bus.CHANNEL}")
        yield conn


def test_the_notification_carries_the_encoded_frame(db, listener):
    user = make_user(db)
    room = room_row(db)
    sent = send(db, room, user, "hi <b>there</b>", "c-9")
    before_ms = time.time() * 1000
    notify = next(listener.notifies(timeout=5))
    room_id, seq, sent_ms, frame = notify.payload.split(" ", 3)
    assert (int(room_id), int(seq)) == (room.id, sent.seq)
    assert before_ms - 5000 <= int(sent_ms) <= time.time() * 1000  # the sender's clock
    text = "hi <b>there</b>"
    assert frame == outbound.chat_frame(
        "general", sent.seq, "eren", text, sent.created_at, "c-9", render(text)
    )
    assert orjson.loads(frame)["type"] == "chat"


def test_a_frame_too_big_for_notify_is_announced_by_reference(db, listener):
    user = make_user(db)
    room = room_row(db)
    content = "🦜" * 4000  # 16,000 bytes in UTF-8: more than NOTIFY allows
    sent = send(db, room, user, content)
    notify = next(listener.notifies(timeout=5))
    room_id, seq, sent_ms = notify.payload.split(" ")
    assert (int(room_id), int(seq)) == (room.id, sent.seq)
    assert sent_ms.isdigit()
    stored = db.execute("SELECT content FROM messages WHERE seq = %s", (sent.seq,)).fetchone()
    assert stored["content"] == content


def test_nothing_is_announced_when_the_transaction_rolls_back(database_url, db, listener):
    user = make_user(db)
    room = room_row(db)
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        with pytest.raises(RuntimeError), conn.transaction():
            send(conn, room, user, "never")  # a savepoint inside the outer transaction
            raise RuntimeError("the caller's transaction fails after the send")
    assert list(listener.notifies(timeout=0.5)) == []
    assert count_messages(db) == 0
    assert room_row(db).last_seq == 0


def test_usernames_are_unique_whatever_the_case(db):
    make_user(db, "Eren")
    with pytest.raises(ChatError) as taken:
        make_user(db, "eREN")
    assert taken.value.code == "taken"


def test_room_names_are_unique_and_the_creator_is_a_member(db):
    user = make_user(db)
    room = actions.create_room(db, "plans", user.id)
    assert (room.name, room.is_private, room.created_by) == ("plans", False, user.id)
    with pytest.raises(ChatError):
        actions.create_room(db, "plans", user.id)
    member = db.execute(
        "SELECT user_id FROM room_members WHERE room_id = %s", (room.id,)
    ).fetchone()
    assert member == {"user_id": user.id}


def test_tokens_are_stored_only_as_hashes(db):
    user = make_user(db)
    token = actions.create_token(db, user.id)
    stored = db.execute("SELECT token_hash FROM api_tokens").fetchone()["token_hash"]
    assert token.encode() not in bytes(stored)
    assert bytes(stored) == actions.hash_token(token)
