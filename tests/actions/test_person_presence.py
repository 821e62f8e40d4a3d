"""Presence per person (DESIGN §9, docs/protocol.md "Presence"): online while any
socket of theirs is open and not away, away when every one is, offline with
none, across workers; each change reaches every room the person is a member of,
and a dead worker's people go offline with it."""

import contextlib
import threading
import time

import orjson
import psycopg
import pytest

from chat import actions
from chat.realtime.client import ClientSession
from chat.realtime.presence import Presence
from chat.storage import bus, queries

from ..conftest import ScriptedSocket, events_heard, make_user, room_row


@pytest.fixture
def people(db):
    return {name: make_user(db, name) for name in ("alice", "bob")}


@pytest.fixture
def workers(db):
    for worker_id in ("w1", "w2"):
        actions.register_worker(db, worker_id)
    return ("w1", "w2")


@contextlib.contextmanager
def announced(database_url: str):
    """The presence frames announced while the block runs, in order."""
    found: list[dict] = []
    with events_heard(database_url) as events:
        yield found
    found += [orjson.loads(f) for event in events for f in event.frames if f and '"presence"' in f]


def status(db, user) -> str:
    return db.execute(actions.presence.SQL_PERSON_STATUS, (user.id,)).fetchone()["status"]


def test_status_across_workers_and_who_hears_it(db, database_url, people, workers):
    alice = people["alice"]
    design = actions.create_room(db, "design", alice.id)
    actions.join_room(db, room_row(db).id, alice.id)
    w1, w2 = workers
    with announced(database_url) as frames:
        assert actions.set_status(db, w1, alice, False) == "online"
        assert actions.set_status(db, w2, alice, True) is None  # still online through w1
        assert actions.set_status(db, w1, alice, True) == "away"  # every socket away
        assert actions.set_status(db, w2, alice, None) is None  # w1's still away
        assert actions.set_status(db, w1, alice, None) == "offline"
    # Each change, to each of her rooms (general, design), in order.
    assert [(f["room"], f["status"]) for f in frames] == [
        ("general", "online"),
        ("design", "online"),
        ("general", "away"),
        ("design", "away"),
        ("general", "offline"),
        ("design", "offline"),
    ]
    assert {f["username"] for f in frames} == {"alice"}
    assert design.id  # a room she is a member of


def test_a_dead_workers_people_go_offline_and_are_told(db, database_url, people, workers):
    bob = people["bob"]
    actions.join_room(db, room_row(db).id, bob.id)
    actions.set_status(db, "w1", bob, False)
    with announced(database_url) as frames:
        actions.retire_worker(db, "w1")
    assert status(db, bob) == "offline"
    assert [(f["username"], f["status"]) for f in frames] == [("bob", "offline")]


def test_members_are_listed_with_their_status(db, people, workers):
    general = room_row(db)
    for person in people.values():
        actions.join_room(db, general.id, person.id)
    actions.set_status(db, "w1", people["alice"], True)
    actions.set_status(db, "w2", people["bob"], False)
    members = queries.members_with_status(db, general.id)
    assert [(m.username, m.status) for m in members] == [("alice", "away"), ("bob", "online")]


def test_a_workers_share_is_away_only_when_all_its_sockets_are(db, realtime, people):
    presence = Presence(realtime.pool, heartbeat=60, timeout=120)
    presence.start()
    alice = people["alice"]
    try:
        presence.connect(alice)
        presence.connect(alice)
        assert status(db, alice) == "online"
        presence.set_away(alice, True)
        assert status(db, alice) == "online"  # the other tab is active
        presence.set_away(alice, True)
        assert status(db, alice) == "away"
        presence.disconnect(alice, was_away=True)
        assert status(db, alice) == "away"
        presence.set_away(alice, False)
        assert status(db, alice) == "online"
        presence.disconnect(alice, was_away=False)
        assert status(db, alice) == "offline"
    finally:
        presence.stop()


def test_the_heartbeat_repairs_a_lost_row(db, realtime, people):
    presence = Presence(realtime.pool, heartbeat=60, timeout=120)
    presence.start()
    alice = people["alice"]
    try:
        presence.connect(alice)
        db.execute("DELETE FROM user_presence")  # a write lost to an outage
        assert status(db, alice) == "offline"
        presence.beat()
        assert status(db, alice) == "online"
        db.execute(
            "INSERT INTO user_presence (worker_id, user_id) VALUES (%s, %s)",
            (presence.worker_id, people["bob"].id),
        )  # a row this worker no longer has a socket for
        presence.beat()
        assert status(db, people["bob"]) == "offline"
    finally:
        presence.stop()


def test_a_socket_reports_away_and_its_close_takes_it_offline(db, realtime, people):
    ws = ScriptedSocket()
    alice = people["alice"]
    session = ClientSession(ws, alice, realtime)
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    ws.wait_for(lambda s: any(f["type"] == "rooms" for f in s.sent))
    assert status(db, alice) == "online"
    ws.inbox.put('{"type":"presence","status":"away"}')
    ws.inbox.put('{"type":"presence","status":"sleeping"}')
    ws.wait_for(lambda s: any(f["type"] == "error" for f in s.sent))
    assert status(db, alice) == "away"
    (error,) = [f for f in ws.sent if f["type"] == "error"]
    assert error["code"] == "bad_frame"
    ws.inbox.put('{"type":"presence","status":"online"}')
    ws.inbox.put('{"type":"presence","status":"online"}')  # no change: nothing to do
    ws.close()
    thread.join(10)
    assert status(db, alice) == "offline"


def test_a_last_close_is_offline_only_after_the_grace_and_not_if_back_sooner(
    db, database_url, realtime, people
):
    """A browser going to the next page closes its socket and opens another: the
    others hear nothing. Closed for good, the person is offline `grace` later."""
    alice = people["alice"]
    actions.join_room(db, room_row(db).id, alice.id)
    grace = 1.0
    presence = Presence(realtime.pool, heartbeat=60, timeout=120, grace=grace)
    presence.start()
    try:
        with psycopg.connect(database_url, autocommit=True) as listener:
            listener.execute(f"LISTEN {bus.EVENTS_CHANNEL}")
            presence.connect(alice)
            presence.disconnect(alice, was_away=False)  # the page goes...
            assert status(db, alice) == "online"
            presence.connect(alice)  # ...and the next one opens
            presence.disconnect(alice, was_away=False)  # closed for good
            closed = time.monotonic()
            heard = []
            for notify in listener.notifies(timeout=grace + 10):
                event = bus.decode_ephemeral(notify.payload)
                heard += [orjson.loads(f)["status"] for f in event.frames if f and "presence" in f]
                if heard[-1:] == ["offline"]:
                    break
            waited = time.monotonic() - closed
        assert heard == ["online", "offline"]  # no offline-online flicker between pages
        assert grace - 0.05 <= waited <= grace + 5
        assert status(db, alice) == "offline"
    finally:
        presence.stop()


def test_back_within_the_grace_keeps_an_away_share_away(db, realtime, people):
    alice = people["alice"]
    presence = Presence(realtime.pool, heartbeat=60, timeout=120, grace=60)
    presence.start()
    try:
        presence.connect(alice)
        presence.set_away(alice, True)
        presence.disconnect(alice, was_away=True)
        presence.connect(alice)  # a new socket is active: the person is back
        assert status(db, alice) == "online"
        presence.set_away(alice, True)
        assert status(db, alice) == "away"
    finally:
        presence.stop()
