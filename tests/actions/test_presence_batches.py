"""Presence changes in batches (actions.apply_changes, issue 20): a batch records
and announces exactly what its changes made one at a time would, in the same
order per room, with one NOTIFY per room (the online list once, at the end),
and a batch of any size stays within NOTIFY's 8,000 bytes."""

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import actions
from chat.actions import RoomChange, StatusChange
from chat.domain.entities import User
from chat.storage import bus, queries

from ..conftest import events_heard, make_user, room_row


def frames_of(events: list[bus.Ephemeral]) -> list[dict | None]:
    """Every frame, in order (None: an online list sent by reference)."""
    return [orjson.loads(f) if f is not None else None for e in events for f in e.frames]


def said(frame: dict | None) -> tuple:
    """What a frame tells, in a comparable form."""
    if frame is None:
        return ("online_users", "by reference")
    if frame["type"] == "online_users":
        return ("online_users", frame["room"], tuple(frame["users"]))
    if frame["type"] == "presence":
        return ("presence", frame["room"], frame["username"], frame["status"])
    return (frame["type"], frame["room"], frame["username"])


def setup_people(db, names):
    people = [make_user(db, name) for name in names]
    general = room_row(db)
    for person in people:
        actions.join_room(db, general.id, person.id)
    for worker_id in ("w1", "w2"):
        actions.register_worker(db, worker_id)
    return general, people


def test_a_batch_announces_each_change_in_order_and_the_online_list_once(db, database_url):
    general, (alice, bob) = setup_people(db, ["alice", "bob"])
    batch = [
        StatusChange("w1", alice, False),
        RoomChange("w1", general, alice, True),
        RoomChange("w1", general, bob, True),
        RoomChange("w1", general, alice, False),  # arrived and left in one batch:
        RoomChange("w1", general, alice, True),  # each is news, in its order
        StatusChange("w1", alice, True),
        StatusChange("w1", alice, False),  # the same payload twice is not folded
        StatusChange("w1", alice, True),
    ]
    with events_heard(database_url) as events:
        with db.transaction():
            announced = actions.apply_changes(db, batch)
    assert announced == ["online", True, True, True, True, "away", "online", "away"]
    assert len(events) == 1  # one room: one NOTIFY
    assert [said(f) for f in frames_of(events)] == [
        ("presence", "general", "alice", "online"),
        ("user_joined", "general", "alice"),
        ("user_joined", "general", "bob"),
        ("user_left", "general", "alice"),
        ("user_joined", "general", "alice"),
        ("presence", "general", "alice", "away"),
        ("presence", "general", "alice", "online"),
        ("presence", "general", "alice", "away"),
        ("online_users", "general", ("alice", "bob")),
    ]
    assert queries.online_users(db, general.id) == ["alice", "bob"]


def test_changes_that_change_nothing_announce_nothing(db, database_url):
    general, (alice,) = setup_people(db, ["alice"])
    actions.arrive(db, "w2", general, alice)  # through another worker all along
    actions.set_status(db, "w2", alice, False)
    actions.depart(db, "w1", general, alice)  # a row the reaper took already
    with events_heard(database_url) as events:
        announced = actions.apply_changes(
            db,
            [
                RoomChange("w1", general, alice, True),
                RoomChange("w1", general, alice, True),  # a repair of a row there
                StatusChange("w1", alice, True),  # w2's socket is active
                RoomChange("w1", general, alice, False),
            ],
        )
    assert announced == [False, False, None, False]
    assert events == []
    assert queries.online_users(db, general.id) == ["alice"]


def test_a_storm_fits_notify_and_keeps_its_order(db, database_url):
    """Hundreds of arrivals in one room in one batch: every payload under
    8,000 bytes, every join in order, the online list last (by reference
    once it outgrows a NOTIFY)."""
    names = [f"person{i:03d}_with_a_long_name" for i in range(300)]
    rows = db.execute(
        "INSERT INTO users (username, password_hash)"
        " SELECT unnest(%s::text[]), 'x' RETURNING id, username",
        (names,),
    ).fetchall()
    people = [User.from_row(row) for row in rows]
    general = room_row(db)
    actions.register_worker(db, "w1")
    with events_heard(database_url) as events:
        actions.apply_changes(db, [RoomChange("w1", general, p, True) for p in people])
    assert all(len(bus.encode_ephemeral(e).encode()) <= bus.NOTIFY_PAYLOAD_MAX for e in events)
    assert len(events) > 1
    heard_frames = [said(f) for f in frames_of(events)]
    assert heard_frames[:-1] == [("user_joined", "general", p.username) for p in people]
    assert heard_frames[-1] == ("online_users", "by reference")
    assert queries.online_users(db, general.id) == sorted(names)


def test_reaping_dead_workers_is_one_batch_that_tells_everyone(db, database_url):
    general, (alice, bob) = setup_people(db, ["alice", "bob"])
    for worker_id, person in (("w1", alice), ("w2", bob)):
        actions.arrive(db, worker_id, general, person)
        actions.set_status(db, worker_id, person, False)
    db.execute("UPDATE workers SET heartbeat_at = now() - interval '1 hour'")
    with events_heard(database_url) as events:
        with db.transaction():
            assert sorted(actions.reap_dead_workers(db, 60)) == ["w1", "w2"]
    assert len(events) == 1
    assert sorted(said(f) for f in frames_of(events)[:-1]) == [
        ("presence", "general", "alice", "offline"),
        ("presence", "general", "bob", "offline"),
        ("user_left", "general", "alice"),
        ("user_left", "general", "bob"),
    ]
    assert said(frames_of(events)[-1]) == ("online_users", "general", ())
    assert db.execute("SELECT count(*) AS n FROM workers").fetchone()["n"] == 0


def test_a_person_on_two_dead_workers_leaves_once_when_both_are_reaped(db, database_url):
    """A batch that changes several workers' rows (a reaper's) counts them all:
    the last row's removal is the departure, wherever it is in the batch."""
    general, (alice,) = setup_people(db, ["alice"])
    for worker_id in ("w1", "w2"):
        actions.arrive(db, worker_id, general, alice)
        actions.set_status(db, worker_id, alice, worker_id == "w1")
    db.execute("UPDATE workers SET heartbeat_at = now() - interval '1 hour'")
    with events_heard(database_url) as events:
        actions.reap_dead_workers(db, 60)
    assert [said(f) for f in frames_of(events)] == [
        ("user_left", "general", "alice"),
        ("presence", "general", "alice", "offline"),
        ("online_users", "general", ()),
    ]


# --- batches are the changes one at a time ---------------------------------------

WORKERS = ("w1", "w2")
PEOPLE = ("alice", "bob", "carol")
ROOMS = ("general", "design")

a_change = st.one_of(
    st.tuples(
        st.just("room"), st.sampled_from(WORKERS), st.sampled_from(ROOMS),
        st.sampled_from(PEOPLE), st.booleans(),
    ),
    st.tuples(
        st.just("status"), st.sampled_from(WORKERS), st.just(None),
        st.sampled_from(PEOPLE), st.sampled_from([True, False, None]),
    ),
)  # fmt: skip


def run(db, database_url, world, changes, cuts):
    """Apply `changes` in batches cut at `cuts`, from empty presence tables:
    (what each change returned, each room's frames but the online lists, the
    tables' rows)."""
    db.execute("DELETE FROM presence")
    db.execute("DELETE FROM user_presence")
    rooms, people = world
    made = [
        RoomChange(w, rooms[r], people[p], v) if kind == "room" else StatusChange(w, people[p], v)
        for kind, w, r, p, v in changes
    ]
    announced = []
    with events_heard(database_url) as events:
        for start, stop in zip((0, *cuts), (*cuts, len(made)), strict=True):
            with db.transaction():
                announced += actions.apply_changes(db, made[start:stop])
    per_room: dict[str, list] = {}
    for frame in frames_of(events):
        if frame["type"] != "online_users":
            per_room.setdefault(frame["room"], []).append(said(frame))
    rows = (
        db.execute("SELECT * FROM presence ORDER BY 1, 2, 3").fetchall(),
        db.execute("SELECT * FROM user_presence ORDER BY 1, 2").fetchall(),
    )
    return announced, per_room, rows


# The people and rooms of each test database (Hypothesis runs the test's body
# many times on one database).
_worlds: dict[str, tuple[dict, dict]] = {}


def world_of(db, database_url) -> tuple[dict, dict]:
    if database_url not in _worlds:
        people = {name: make_user(db, name) for name in PEOPLE}
        design = actions.create_room(db, "design", people["alice"].id)
        rooms = {"general": room_row(db), "design": design}
        for person in people.values():
            actions.join_room(db, rooms["general"].id, person.id)
        actions.join_room(db, design.id, people["bob"].id)
        for worker_id in WORKERS:
            actions.register_worker(db, worker_id)
        _worlds[database_url] = (rooms, people)
    return _worlds[database_url]


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(a_change, min_size=1, max_size=25), data=st.data())
def test_a_batch_says_and_stores_what_its_changes_one_at_a_time_would(
    db, database_url, changes, data
):
    world = world_of(db, database_url)
    cuts = []
    if len(changes) > 1:
        cuts = data.draw(st.lists(st.integers(1, len(changes) - 1), unique=True).map(sorted))
    one_by_one = run(db, database_url, world, changes, list(range(1, len(changes))))
    batched = run(db, database_url, world, changes, cuts)
    assert batched == one_by_one
