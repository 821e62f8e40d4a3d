"""A worker's presence writes in batches (chat/realtime/presence.py, issue 20):
changes made together share transactions, each caller returns once its change
is committed (a joiner reads an online list with itself in), a user's changes
keep their order, and a failed batch loses no one else's change."""

import contextlib
import logging
import math
import threading
import time

import orjson
import psycopg
import pytest

from chat import actions
from chat.domain.entities import User
from chat.realtime import presence as presence_module
from chat.realtime.presence import Presence
from chat.storage import queries

from ..conftest import events_heard, room_row, run_concurrently


def add_people(db, count: int) -> list[User]:
    """`count` accounts, made in one statement (no password hashing)."""
    rows = db.execute(
        "INSERT INTO users (username, password_hash)"
        " SELECT 'p' || i, 'x' FROM generate_series(1, %s) i RETURNING id, username",
        (count,),
    ).fetchall()
    return [User.from_row(row) for row in rows]


class Held:
    """The presence writer held at its first batch until `release()`, with every
    batch's changes recorded, and an event per number of changes queued."""

    def __init__(self, presence: Presence, monkeypatch):
        self.batches: list[list] = []
        self._release = threading.Event()
        self.entered = threading.Event()  # the first batch is taken (and held)
        self._queued = 0
        self._cond = threading.Condition()
        submit, apply = presence._submit, actions.apply_changes

        def counted_submit(change):
            item = submit(change)
            with self._cond:
                self._queued += 1
                self._cond.notify_all()
            return item

        def held_apply(conn, changes):
            self.entered.set()
            self._release.wait(30)
            self.batches.append(list(changes))
            return apply(conn, changes)

        monkeypatch.setattr(presence, "_submit", counted_submit)
        monkeypatch.setattr(actions, "apply_changes", held_apply)

    def wait_queued(self, count: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self._queued >= count, 30)

    def release(self) -> None:
        self._release.set()


@pytest.fixture
def presence(realtime):
    worker = Presence(realtime.pool, heartbeat=60, timeout=120)
    worker.start()
    yield worker
    worker.stop()


@contextlib.contextmanager
def heard(database_url: str):
    """The frames announced on EVENTS_CHANNEL while the block runs, in order."""
    found: list[dict] = []
    with events_heard(database_url) as events:
        yield found
    found += [orjson.loads(f) for event in events for f in event.frames if f is not None]


def test_a_storm_of_arrivals_shares_few_transactions_and_each_joiner_sees_itself(
    db, realtime, presence, monkeypatch
):
    people = add_people(db, 250)
    general = room_row(db)
    held = Held(presence, monkeypatch)
    released = threading.Thread(target=lambda: (held.wait_queued(len(people)), held.release()))
    released.start()
    arrivals = iter(people)
    lock = threading.Lock()

    def arrive() -> bool:
        with lock:
            person = next(arrivals)
        presence.arrive(general, person)
        with realtime.pool.connection() as conn:
            return person.username in queries.online_users(conn, general.id)

    seen, errors = run_concurrently(arrive, len(people))
    released.join(30)
    assert errors == []
    assert seen == [True] * len(people)  # each call returned with its arrival committed
    assert sum(len(batch) for batch in held.batches) == len(people)
    # The first batch went as the storm began; the others waited for it.
    assert len(held.batches) <= 1 + math.ceil(len(people) / presence_module.BATCH_MAX)
    assert queries.online_users(db, general.id) == sorted(p.username for p in people)


def test_an_arrival_and_departure_in_one_batch_keep_their_order(
    db, database_url, presence, monkeypatch
):
    alice, bob = add_people(db, 2)
    general = room_row(db)
    held = Held(presence, monkeypatch)
    with heard(database_url) as frames:
        connected = threading.Thread(target=presence.connect, args=(bob,))
        connected.start()  # the writer takes this batch and is held
        assert held.entered.wait(30)
        arrived = threading.Thread(target=presence.arrive, args=(general, alice))
        arrived.start()
        held.wait_queued(2)
        departed = threading.Thread(target=presence.depart, args=(general, alice))
        departed.start()  # another greenlet's close, while the arrival is queued
        held.wait_queued(3)
        held.release()
        for thread in (connected, arrived, departed):
            thread.join(30)
    assert [len(batch) for batch in held.batches] == [1, 2]
    assert [(f["type"], f.get("username")) for f in frames if f["room"] == "general"] == [
        ("user_joined", "p1"),
        ("user_left", "p1"),
        ("online_users", None),
    ]
    assert queries.online_users(db, general.id) == []


def test_a_bad_change_costs_its_batch_mates_nothing(db, presence, monkeypatch, caplog):
    alice, bob = add_people(db, 2)
    general = room_row(db)
    ghost = User(10**9, "ghost")  # an account deleted meanwhile: its row cannot be written
    held = Held(presence, monkeypatch)
    threads = [threading.Thread(target=presence.connect, args=(alice,))]
    threads[0].start()
    assert held.entered.wait(30)  # the first batch is taken: the rest queue behind it
    for person in (ghost, alice, bob):
        threads.append(threading.Thread(target=presence.arrive, args=(general, person)))
        threads[-1].start()
    held.wait_queued(4)
    with caplog.at_level(logging.WARNING, logger="chat.realtime.presence"):
        held.release()
        for thread in threads:
            thread.join(30)
    assert queries.online_users(db, general.id) == ["p1", "p2"]
    # The ghost's batch failed whole, then went one change at a time.
    (shared,) = [b for b in held.batches if len(b) > 1 and any(c.user == ghost for c in b)]
    after = held.batches[held.batches.index(shared) + 1 :]
    assert [len(b) for b in after[: len(shared)]] == [1] * len(shared)
    assert f"presence batch of {len(shared)} failed" in caplog.text
    assert "arrival of ghost in general" in caplog.text


def test_a_batch_cut_off_from_the_database_is_written_again(db, database_url, presence, caplog):
    """The writer's connection is terminated while its batch waits for a room's
    lock: the batch is written again on another connection."""
    (alice,) = add_people(db, 1)
    general = room_row(db)
    with psycopg.connect(database_url) as blocker:
        blocker.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            (actions.presence.PRESENCE_LOCK_SPACE, general.id),
        )
        arrived = threading.Thread(target=presence.arrive, args=(general, alice))
        arrived.start()
        deadline = time.monotonic() + 30
        while True:  # no event says a backend waits for a lock: the server is asked
            waiting = db.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
            ).fetchall()
            if waiting or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert waiting
        with caplog.at_level(logging.WARNING, logger="chat.realtime.presence"):
            db.execute("SELECT pg_terminate_backend(%s)", (waiting[0]["pid"],))
            blocker.commit()  # the lock goes; the written-again batch takes it
            arrived.join(30)
    assert not arrived.is_alive()
    assert "presence batch of 1: " in caplog.text and "writing it again" in caplog.text
    assert queries.online_users(db, general.id) == ["p1"]


def test_a_repair_queued_behind_changes_repeats_nothing(db, database_url, presence, monkeypatch):
    """The heartbeat's reconcile reads the table while changes wait in the queue:
    what it queues to repair them finds them written and announces nothing twice."""
    alice, bob = add_people(db, 2)
    general = room_row(db)
    actions.join_room(db, general.id, bob.id)
    held = Held(presence, monkeypatch)
    with heard(database_url) as frames:
        threads = [threading.Thread(target=presence.connect, args=(bob,))]
        threads[0].start()
        assert held.entered.wait(30)
        threads.append(threading.Thread(target=presence.arrive, args=(general, alice)))
        threads[-1].start()
        held.wait_queued(2)
        threads.append(threading.Thread(target=presence.beat))
        threads[-1].start()  # reads neither row yet: queues both again
        held.wait_queued(4)
        held.release()
        for thread in threads:
            thread.join(30)
    assert [len(batch) for batch in held.batches] == [1, 3]
    told = [(f["type"], f.get("username"), f.get("status")) for f in frames]
    assert told == [
        ("presence", "p2", "online"),
        ("user_joined", "p1", None),
        ("online_users", None, None),
    ]
    assert queries.online_users(db, general.id) == ["p1"]
