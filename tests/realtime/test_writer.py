"""Group commit: batches (actions.send_messages, scheduled by chat/realtime/writer.py)
keep every rule of a lone send."""

import tempfile
import threading

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from chat import actions, metrics
from chat.domain.entities import Room
from chat.domain.render import render
from chat.realtime import writer
from chat.realtime.writer import Writer, _Pending
from chat.storage import bus
from chat.web import worker

from ..conftest import make_user, room_row, run_concurrently


@pytest.fixture
def pool(database_url):
    with ConnectionPool(
        database_url, kwargs={"row_factory": dict_row}, min_size=1, max_size=4
    ) as pool:
        yield pool


@pytest.fixture
def rooms(db):
    user = make_user(db, "eren")
    actions.create_room(db, "second", user.id)
    return user, room_row(db, "general"), room_row(db, "second")


def item(room, user, content, client_id=None) -> actions.Send:
    return actions.Send(room, user, content, client_id, f"<p>{content}</p>")


def new_rows(outcomes) -> int:
    return sum(not outcome.duplicate for outcome in outcomes)


def stored(db, room) -> list[tuple[int, str]]:
    return [
        (r["seq"], r["content"])
        for r in db.execute(
            "SELECT seq, content FROM messages WHERE room_id = %s ORDER BY seq", (room.id,)
        )
    ]


def test_a_batch_gives_each_room_its_next_seqs_in_order(db, rooms):
    user, general, second = rooms
    actions.send_message(db, general, user, "before", None)  # seq 1, the lone way
    batch = [
        item(general, user, "g1"),
        item(second, user, "s1"),
        item(general, user, "g2"),
        item(second, user, "s2"),
    ]
    outcomes = actions.send_messages(db, batch)
    assert new_rows(outcomes) == 4
    assert [o.seq for o in outcomes] == [2, 1, 3, 2]
    assert stored(db, general) == [(1, "before"), (2, "g1"), (3, "g2")]
    assert stored(db, second) == [(1, "s1"), (2, "s2")]
    assert room_row(db, "general").last_seq == 3 and room_row(db, "second").last_seq == 2


def test_repeats_of_a_client_id_in_the_table_or_the_batch_store_nothing(db, rooms):
    user, general, _ = rooms
    first = actions.send_message(db, general, user, "once", "c-1")
    batch = [
        item(general, user, "once", "c-1"),  # already stored
        item(general, user, "new", "c-2"),
        item(general, user, "new", "c-2"),  # twice in one batch
    ]
    outcomes = actions.send_messages(db, batch)
    assert new_rows(outcomes) == 1
    assert (outcomes[0].seq, outcomes[0].duplicate) == (first.seq, True)
    assert (outcomes[1].seq, outcomes[1].duplicate) == (2, False)
    assert (outcomes[2].seq, outcomes[2].duplicate) == (2, True)
    assert stored(db, general) == [(1, "once"), (2, "new")]
    # The same client_id from another user is another send.
    other = make_user(db, "mikasa")
    (again,) = actions.send_messages(db, [item(general, other, "hers", "c-2")])
    assert again.duplicate is False and again.seq == 3


def test_one_notification_line_per_message_packed_under_the_limit(db, rooms, database_url):
    user, general, second = rooms
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {bus.CHANNEL}")
        big = "x" * 3000
        batch = [item(general if n % 2 else second, user, f"{n} {big}") for n in range(10)]
        batch.append(item(general, user, "🦜" * 3000))  # alone too big: by reference
        outcomes = actions.send_messages(db, batch)
        payloads = [n.payload for n in listener.notifies(timeout=2, stop_after=20)]
    assert all(len(p.encode()) <= bus.NOTIFY_PAYLOAD_MAX for p in payloads)
    assert 1 < len(payloads) < len(batch)  # several messages share a NOTIFY
    lines = [line for p in payloads for line in p.split("\n")]
    assert len(lines) == len(batch)
    heads = [line.split(" ", 3) for line in lines]
    assert [(int(h[0]), int(h[1])) for h in heads] == [
        (i.room.id, o.seq) for i, o in zip(batch, outcomes, strict=True)
    ]
    by_reference = heads[-1]
    assert len(by_reference) == 3  # room, seq, time: listeners read it from the table
    frame = orjson.loads(heads[0][3])
    assert frame["content"] == batch[0].content and frame["seq"] == outcomes[0].seq


def test_concurrent_sends_through_two_writers_stay_gapless(pool, db, rooms):
    """Two workers' writers, many senders each, the same two rooms: every send gets
    a distinct seq, the rooms' seqs are 1..N, nothing deadlocks."""
    user, general, second = rooms
    writers = [Writer(pool), Writer(pool)]
    counter = iter(range(10_000))
    lock = threading.Lock()

    def send_some():
        results = []
        for _ in range(15):
            with lock:
                n = next(counter)
            room = general if n % 3 else second
            sent = writers[n % 2].send(room, user, f"m{n}", f"c{n}")
            results.append((room.id, sent.seq))
        return results

    results, errors = run_concurrently(send_some, 12)
    assert errors == []
    pairs = [pair for result in results for pair in result]
    assert len(pairs) == len(set(pairs)) == 12 * 15
    for room in (general, second):
        seqs = sorted(seq for room_id, seq in pairs if room_id == room.id)
        assert seqs == list(range(1, len(seqs) + 1))
        assert [s for s, _ in stored(db, room)] == seqs


def test_one_bad_send_does_not_fail_its_batch_mates(pool, db, rooms):
    user, general, _ = rooms
    ghost = Room(999_999, "ghost")  # no such room: its insert fails
    w = Writer(pool)
    batch = [
        _Pending(item(general, user, "fine 1")),
        _Pending(item(ghost, user, "lost")),
        _Pending(item(general, user, "ok")),
    ]
    w._write_batch(batch)
    assert batch[0].result.seq == 1 and batch[2].result.seq == 2
    assert batch[1].error is not None and batch[1].result is None
    assert stored(db, general) == [(1, "fine 1"), (2, "ok")]


def test_the_writer_counts_the_transactions_it_commits(pool, rooms):
    """chat_writer_batches: messages per batch is the sent count over it."""
    user, general, _ = rooms
    w = Writer(pool)
    before = metrics.WRITER_BATCHES._value.get()
    w._write_batch([_Pending(item(general, user, f"m{i}")) for i in range(3)])
    assert metrics.WRITER_BATCHES._value.get() == before + 1
    # A batch that fails is written one by one: each send that commits counts.
    w._write_batch(
        [_Pending(item(Room(999_999, "ghost"), user, "lost")), _Pending(item(general, user, "ok"))]
    )
    assert metrics.WRITER_BATCHES._value.get() == before + 2


def test_the_database_away_fails_every_send_of_the_batch(rooms):
    user, general, _ = rooms
    dead = ConnectionPool(
        "host=127.0.0.1 port=1 connect_timeout=1", min_size=0, max_size=1, timeout=1
    )
    with dead:
        w = Writer(dead)
        batch = [_Pending(item(general, user, "a")), _Pending(item(general, user, "b"))]
        w._write_batch(batch)
    assert all(isinstance(i.error, psycopg.OperationalError) for i in batch)


@pytest.mark.parametrize("sizes", [[10], [4000, 4000], [7000, 500, 500, 7000], [1] * 3000])
def test_pack_keeps_every_line_once_and_each_payload_under_the_limit(sizes):
    lines = ["y" * n for n in sizes]
    payloads = bus.pack(lines)
    assert all(len(p.encode()) <= bus.NOTIFY_PAYLOAD_MAX for p in payloads)
    assert [line for p in payloads for line in p.split("\n")] == lines


def test_write_batch_0_sends_one_transaction_per_message(make_app, db, rooms):
    """The naive baseline the benchmarks compare against."""
    user, general, _ = rooms
    app = make_app(WRITE_BATCH=False)
    with app.app_context():
        single = worker.writer(app)
        assert isinstance(single, writer.SingleWriter)
        assert single.send(general, user, "alone", "c").seq == 1
        assert single.send(general, user, "alone", "c").duplicate is True


def test_a_batch_records_the_mentions_of_members_of_each_room(db, rooms):
    user, general, second = rooms
    mikasa = make_user(db, "mikasa")
    actions.join_room(db, general.id, mikasa.id)  # in general, not in second
    actions.join_room(db, general.id, user.id)
    batch = [
        actions.Send(general, user, "hi @mikasa", None, render("hi @mikasa")),
        actions.Send(second, user, "hi @mikasa", None, render("hi @mikasa")),
        actions.Send(general, user, "no one", None, render("no one")),
        actions.Send(general, mikasa, "@eren @mikasa", None, render("@eren @mikasa")),
    ]
    assert new_rows(actions.send_messages(db, batch)) == 4
    rows = db.execute("SELECT user_id, room_id, seq FROM mentions ORDER BY seq").fetchall()
    assert rows == [
        {"user_id": mikasa.id, "room_id": general.id, "seq": 1},
        {"user_id": user.id, "room_id": general.id, "seq": 3},
    ]


def round_trips(conn, work) -> int:
    """How many times `work(conn)` waited for the server: the Syncs and simple
    Queries libpq sent, read from its protocol trace."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        try:
            work(conn)
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        messages = [line.split("\t") for line in trace]  # a statement's text spans lines
    return sum(1 for m in messages if m[1:2] == ["F"] and m[3].strip() in ("Sync", "Query"))


def test_a_batch_on_an_idle_connection_is_two_round_trips(pool, rooms):
    """BEGIN rides in the locks' pipeline and COMMIT in the store's (db.pipelined):
    psycopg's own transaction() syncs each apart, four round trips."""
    user, general, second = rooms
    batch = [item(general, user, "one", "c-1"), item(second, user, "two", "c-2")]
    with pool.connection() as conn:
        trips = round_trips(conn, lambda c: actions.send_messages(c, batch))
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert not conn.autocommit  # the pool's connection is handed back as it came
    assert trips == 2


def test_a_batch_failing_in_its_store_pipeline_leaves_nothing_behind(pool, db, rooms):
    """The insert refuses a NUL in text after the rooms' locks were taken:
    the whole batch rolls back, the room's last_seq stays, the connection is
    idle and serves the next batch."""
    user, general, _ = rooms
    with pool.connection() as conn:
        with pytest.raises(psycopg.DataError):
            actions.send_messages(conn, [item(general, user, "fine"), item(general, user, "\0")])
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert room_row(db, "general").last_seq == 0
        assert stored(db, general) == []
        (sent,) = actions.send_messages(conn, [item(general, user, "after")])
    assert sent.seq == 1 and stored(db, general) == [(1, "after")]


def test_failed_batches_leave_no_prepared_statement_missing(database_url, db, rooms):
    """psycopg prepares a statement on its sixth run. In a pipeline that fails
    at the insert the server skips the rest, preparations included, and psycopg
    must forget them, as its rollback() does: a bare ROLLBACK left the next
    batches naming prepared statements that did not exist (the writer's
    one-by-one retries of a failed batch made this within a few batches)."""
    user, general, _ = rooms
    bad, good = item(general, user, "\0"), item(general, user, "fine")
    with ConnectionPool(
        database_url, kwargs={"row_factory": dict_row}, min_size=1, max_size=1
    ) as one:
        for loop in range(8):
            for batch in ([good, bad], [bad]):
                with pytest.raises(psycopg.DataError), one.connection() as conn:
                    actions.send_messages(conn, batch)
            with one.connection() as conn:
                (sent,) = actions.send_messages(conn, [item(general, user, f"ok {loop}")])
            assert sent.seq == loop + 1


def test_a_batch_inside_a_callers_transaction_commits_with_it(pool, db, rooms):
    user, general, _ = rooms
    with pool.connection() as conn:
        with pytest.raises(RuntimeError):
            with conn.transaction():
                actions.send_messages(conn, [item(general, user, "undone")])
                raise RuntimeError("the caller's work failed")
        assert stored(db, general) == []
        with conn.transaction():
            actions.send_messages(conn, [item(general, user, "kept")])
            assert stored(db, general) == []  # not committed until the caller's block ends
    assert stored(db, general) == [(1, "kept")]
