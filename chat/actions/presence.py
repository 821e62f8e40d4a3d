"""Presence: who is online, away or offline (per person, across the app), who has
which room open through which worker (per room), and their announcements."""

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import Connection

from chat.actions.channels import announce, publish_ephemerals
from chat.domain.entities import Room, User
from chat.protocol import outbound
from chat.storage import bus, params
from chat.storage import people as people_store


def announce_typing(conn: Connection, room: Room, user: User, thread: int | None = None) -> None:
    """Tell the room's other sockets that `user` is typing (never stored): in
    the main flow, or a reply in the thread of root seq `thread` (not checked:
    the frame only tells the room's readers, who may read every thread)."""
    frame = outbound.typing_frame(room.name, user.username, thread)
    announce(conn, room.id, [frame], user.id)


# --- presence changes, in batches ------------------------------------------------
#
# A worker writes two kinds of rows: one per (room, user) it has a socket of
# the user's in (`presence`: the room's online list, user_joined/user_left),
# and one per person it has sockets of (`user_presence`: online, away,
# offline). Every change of either goes through apply_changes, one
# transaction for a whole batch (chat/realtime/presence.py gathers its
# worker's changes while the previous batch commits); a lone change is a batch
# of one. Its cost is a fixed number of statements whatever the batch holds.


@dataclass(frozen=True, slots=True)
class RoomChange:
    """Worker `worker_id` has a socket of `user` in `room` from now on (`present`),
    or no more."""

    worker_id: str
    room: Room
    user: User
    present: bool


@dataclass(frozen=True, slots=True)
class StatusChange:
    """The person's state through worker `worker_id` from now on: away (True),
    active (False) or no sockets there any more (None)."""

    worker_id: str
    user: User
    away: bool | None


Change = RoomChange | StatusChange

# All presence changes in one room are serialised by a lock on the room, all
# changes of one person's status by a lock on the person: what each change
# announces (the online list, the status) is as of that change, and the
# announcements leave (NOTIFY at commit) in the order the changes happened.
# A batch takes all its locks at once, sorted, so two batches cannot deadlock.
PRESENCE_LOCK_SPACE = 0x70726573  # "pres", keyed by room id
PERSON_LOCK_SPACE = 0x70657273  # "pers", keyed by user id
LOCK_KEY_MODULUS = 2147483647  # ids beyond an int4 key share keys: harmless, only coarser
SQL_LOCK = """
    SELECT count(pg_advisory_xact_lock(l.space, l.key))
    FROM unnest(%s::int[], %s::int[]) AS l(space, key)
"""
# The (worker, room, user) pairs' state before the batch (whether the worker's
# row is there, how many other workers' are), and their final state written:
# inserted or deleted. One row per pair (its last change). Every lookup is by
# key (a subquery per row): json_to_recordset's rows are estimated at 100,
# whatever their number, and a join with them could read the whole table.
SQL_ROOMS_APPLY = """
    WITH k AS (
        SELECT * FROM json_to_recordset(%s::json)
            AS k(worker_id text, room_id bigint, user_id bigint, present boolean)
    ), s AS MATERIALIZED (
        SELECT k.worker_id, k.room_id, k.user_id, k.present,
            (SELECT p.ctid FROM presence p WHERE p.worker_id = k.worker_id
                AND p.room_id = k.room_id AND p.user_id = k.user_id) AS mine,
            (SELECT count(*) FROM presence o WHERE o.room_id = k.room_id
                AND o.user_id = k.user_id AND o.worker_id <> k.worker_id) AS others
        FROM k
    ), added AS (
        INSERT INTO presence (worker_id, room_id, user_id)
        SELECT worker_id, room_id, user_id FROM s WHERE present AND mine IS NULL
        ON CONFLICT DO NOTHING
    ), removed AS (
        DELETE FROM presence
        WHERE ctid = ANY (ARRAY(SELECT mine FROM s WHERE NOT present AND mine IS NOT NULL))
    )
    SELECT worker_id, room_id, user_id, mine IS NOT NULL AS mine, others FROM s
"""
# The same for people: each (worker, user) row's state before the batch (absent:
# `here` false), what the other workers say of the person (how many rows, how
# many of them away), and the final state written. `away` NULL: no sockets there any more.
SQL_PEOPLE_APPLY = """
    WITH k AS (
        SELECT * FROM json_to_recordset(%s::json)
            AS k(worker_id text, user_id bigint, away boolean)
    ), s AS MATERIALIZED (
        SELECT k.worker_id, k.user_id, k.away, mine.ctid AS mine, mine.away AS mine_away,
               others.n AS others, others.away AS others_away
        FROM k
        LEFT JOIN LATERAL (
            SELECT p.ctid, p.away FROM user_presence p
            WHERE p.worker_id = k.worker_id AND p.user_id = k.user_id LIMIT 1
        ) mine ON true
        CROSS JOIN LATERAL (
            SELECT count(*) AS n, count(*) FILTER (WHERE o.away) AS away
            FROM user_presence o WHERE o.user_id = k.user_id AND o.worker_id <> k.worker_id
        ) others
    ), upserted AS (
        INSERT INTO user_presence (worker_id, user_id, away)
        SELECT worker_id, user_id, away FROM s
        WHERE away IS NOT NULL AND mine_away IS DISTINCT FROM away
        ON CONFLICT (worker_id, user_id) DO UPDATE SET away = EXCLUDED.away
    ), removed AS (
        DELETE FROM user_presence
        WHERE ctid = ANY (ARRAY(SELECT mine FROM s WHERE away IS NULL AND mine IS NOT NULL))
    )
    SELECT worker_id, user_id, mine IS NOT NULL AS here, mine_away, others, others_away FROM s
"""
SQL_REGISTER_WORKER = """
    INSERT INTO workers (id) VALUES (%s)
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
"""
SQL_HEARTBEAT = "UPDATE workers SET heartbeat_at = now() WHERE id = %s"
SQL_DEAD_WORKERS = """
    SELECT id FROM workers WHERE heartbeat_at < now() - make_interval(secs => %s)
"""
# A worker's rows, their rooms and people looked up by key (a join could read
# the whole of rooms or users).
SQL_WORKER_PRESENCE = """
    SELECT r.id AS room_id, r.name, r.is_private, r.is_direct, r.created_by,
           u.id AS user_id, u.username
    FROM presence p
    CROSS JOIN LATERAL (SELECT * FROM rooms r WHERE r.id = p.room_id LIMIT 1) r
    CROSS JOIN LATERAL (SELECT u.id, u.username FROM users u WHERE u.id = p.user_id LIMIT 1) u
    WHERE p.worker_id = %s
    ORDER BY p.room_id, p.user_id
"""
SQL_WORKER_PEOPLE = """
    SELECT u.id, u.username, p.away FROM user_presence p
    CROSS JOIN LATERAL (SELECT u.id, u.username FROM users u WHERE u.id = p.user_id LIMIT 1) u
    WHERE p.worker_id = %s ORDER BY p.user_id
"""
SQL_DELETE_WORKERS = "DELETE FROM workers WHERE id = ANY (%s::text[])"
# A person's status across every worker (tests and tools read it).
SQL_PERSON_STATUS = """
    SELECT CASE WHEN count(*) = 0 THEN 'offline'
                WHEN bool_and(away) THEN 'away' ELSE 'online' END AS status
    FROM user_presence WHERE user_id = %s
"""


def apply_changes(conn: Connection, changes: Sequence[Change]) -> list[bool | str | None]:
    """Record presence changes, in order, in one transaction, and announce them.

    A RoomChange that makes the user newly present in the room (no other
    worker's row) announces user_joined, one that removes their last row
    user_left; a StatusChange that changes the person's status across every
    worker announces it (`presence`) to every room they are a member of. Each
    room hears its frames in the order of the changes, then (if anyone came
    or went) its online list as of the batch's end. A change that changes
    nothing (a row already there, or already gone: a reaper's work) announces
    nothing. Returns, per change: for a RoomChange whether it was announced,
    for a StatusChange the new status or None.
    """
    if not changes:
        return []
    rooms = [c for c in changes if isinstance(c, RoomChange)]
    people = [c for c in changes if isinstance(c, StatusChange)]
    with conn.transaction():
        _lock(conn, rooms, people)
        announced: list[bool | str | None] = [None] * len(changes)
        frames: dict[int, list[tuple[int, str]]] = {}  # room id -> (change index, frame)
        comings = _room_frames(conn, changes, rooms, announced, frames)
        _people_frames(conn, changes, people, announced, frames)
        _announce(conn, changes, frames, comings)
    return announced


def _lock(conn: Connection, rooms: list[RoomChange], people: list[StatusChange]) -> None:
    keys = sorted(
        {(PRESENCE_LOCK_SPACE, c.room.id % LOCK_KEY_MODULUS) for c in rooms}
        | {(PERSON_LOCK_SPACE, c.user.id % LOCK_KEY_MODULUS) for c in people}
    )
    spaces = params.bigints(space for space, _ in keys)
    conn.execute(SQL_LOCK, (spaces, params.bigints(key for _, key in keys)))


def _room_frames(
    conn: Connection,
    changes: Sequence[Change],
    rooms: list[RoomChange],
    announced: list,
    frames: dict[int, list[tuple[int, str]]],
) -> dict[int, Room]:
    """Write the room changes; add each one's user_joined/user_left to `frames`.
    Returns the rooms someone came to or left (their online list is news)."""
    if not rooms:
        return {}
    final = {(c.worker_id, c.room.id, c.user.id): c.present for c in rooms}
    rows = conn.execute(
        SQL_ROOMS_APPLY,
        (
            params.records(
                {"worker_id": w, "room_id": r, "user_id": u, "present": present}
                for (w, r, u), present in final.items()
            ),
        ),
    ).fetchall()
    state = {(row["worker_id"], row["room_id"], row["user_id"]): row["mine"] for row in rows}
    # Rows of each (room, user) through every worker (a batch may change
    # several workers' rows: a reaper's), as the changes go.
    present = {(row["room_id"], row["user_id"]): row["others"] + row["mine"] for row in rows}
    comings: dict[int, Room] = {}
    for index, change in enumerate(changes):
        if not isinstance(change, RoomChange):
            continue
        key = (change.worker_id, change.room.id, change.user.id)
        if state[key] == change.present:
            continue  # already so (a repair, or a reaper was first)
        state[key] = change.present
        pair = (change.room.id, change.user.id)
        present[pair] += 1 if change.present else -1
        if present[pair] != (1 if change.present else 0):
            continue  # present through another worker all along
        room, name = change.room, change.user.username
        frame = (outbound.user_joined_frame if change.present else outbound.user_left_frame)(
            room.name, name
        )
        frames.setdefault(room.id, []).append((index, frame))
        comings[room.id] = room
        announced[index] = True
    for index, change in enumerate(changes):
        if isinstance(change, RoomChange) and announced[index] is None:
            announced[index] = False
    return comings


def _people_frames(
    conn: Connection,
    changes: Sequence[Change],
    people: list[StatusChange],
    announced: list,
    frames: dict[int, list[tuple[int, str]]],
) -> None:
    """Write the status changes; add each new status, to each room of the
    person's, to `frames`."""
    if not people:
        return
    final = {(c.worker_id, c.user.id): c.away for c in people}
    rows = conn.execute(
        SQL_PEOPLE_APPLY,
        (
            params.records(
                {"worker_id": w, "user_id": u, "away": away} for (w, u), away in final.items()
            ),
        ),
    ).fetchall()
    state = {(r["worker_id"], r["user_id"]): r["mine_away"] if r["here"] else None for r in rows}
    # Per person: rows and away rows, through every worker (a batch may change
    # several workers' rows: a reaper's).
    rows_of: dict[int, list[int]] = {}
    for r in rows:
        rows_of[r["user_id"]] = [r["others"] + r["here"], r["others_away"] + bool(r["mine_away"])]
    news: list[tuple[int, StatusChange, str]] = []
    for index, change in enumerate(changes):
        if not isinstance(change, StatusChange):
            continue
        key = (change.worker_id, change.user.id)
        counts = rows_of[change.user.id]
        before = _status(counts)
        _count(counts, state[key], -1)
        state[key] = change.away
        _count(counts, change.away, 1)
        after = _status(counts)
        if after != before:
            announced[index] = after
            news.append((index, change, after))
    if not news:
        return
    member_rooms = people_store.rooms_of_people(conn, {change.user.id for _, change, _ in news})
    for index, change, status in news:
        for room_id, room_name in member_rooms.get(change.user.id, ()):
            frame = outbound.presence_frame(room_name, change.user.username, status)
            frames.setdefault(room_id, []).append((index, frame))


def _count(counts: list[int], away: bool | None, sign: int) -> None:
    """Add (sign 1) or take (-1) one worker's row in state `away` (None: no row)
    to a person's [rows, away rows]."""
    if away is not None:
        counts[0] += sign
        counts[1] += sign if away else 0


def _status(counts: list[int]) -> str:
    """A person's status from their [rows, away rows] across every worker."""
    if counts[0] == 0:
        return "offline"
    return "away" if counts[1] == counts[0] else "online"


def _announce(
    conn: Connection,
    changes: Sequence[Change],
    frames: dict[int, list[tuple[int, str]]],
    comings: dict[int, Room],
) -> None:
    """One NOTIFY per room (more if its frames pass 8,000 bytes): its frames in
    the order of their changes, then its online list if it changed."""
    online = people_store.online_users_of_rooms(conn, sorted(comings)) if comings else {}
    events: list[bus.Ephemeral] = []
    for room_id, indexed in frames.items():
        indexed.sort(key=lambda pair: pair[0])  # stable: a change's frames keep their order
        room = comings.get(room_id)
        online_frame = (
            None if room is None else outbound.online_users_frame(room.name, online[room_id])
        )
        events += bus.presence_changes(room_id, [f for _, f in indexed], online_frame)
    publish_ephemerals(conn, events)


# --- one change at a time, and the workers --------------------------------------


def arrive(conn: Connection, worker_id: str, room: Room, user: User) -> bool:
    """Record the user in the room through this worker; announce if they were not
    there. Returns True when this made the user newly present (user_joined announced)."""
    return bool(apply_changes(conn, [RoomChange(worker_id, room, user, True)])[0])


def depart(conn: Connection, worker_id: str, room: Room, user: User) -> bool:
    """Remove the user's presence through this worker; announce (and return True)
    if they are now gone."""
    return bool(apply_changes(conn, [RoomChange(worker_id, room, user, False)])[0])


def set_status(conn: Connection, worker_id: str, user: User, away: bool | None) -> str | None:
    """Record the person's state through this worker: away (True), active
    (False) or no sockets here any more (None). When their status across every
    worker changes, every room they are a member of hears a `presence` frame;
    returns the new status then (online, away, offline), else None."""
    return apply_changes(conn, [StatusChange(worker_id, user, away)])[0]


def register_worker(conn: Connection, worker_id: str) -> None:
    conn.execute(SQL_REGISTER_WORKER, (worker_id,))


def heartbeat(conn: Connection, worker_id: str) -> bool:
    """Refresh the worker's heartbeat; False if it had been reaped meanwhile."""
    return conn.execute(SQL_HEARTBEAT, (worker_id,)).rowcount == 1


def worker_presence(conn: Connection, worker_id: str) -> list[tuple[Room, User]]:
    """Who the table says is in which room through this worker: (Room, User) pairs."""
    return [
        (
            Room.from_row({**row, "id": row["room_id"]}),
            User.from_row({"id": row["user_id"], "username": row["username"]}),
        )
        for row in conn.execute(SQL_WORKER_PRESENCE, (worker_id,))
    ]


def worker_people(conn: Connection, worker_id: str) -> list[User]:
    """The people the table says have sockets through this worker."""
    return [User.from_row(row) for row in conn.execute(SQL_WORKER_PEOPLE, (worker_id,))]


def worker_people_away(conn: Connection, worker_id: str) -> dict[int, bool]:
    """Whether each person with sockets through this worker is away there, by user id."""
    return {row["id"]: row["away"] for row in conn.execute(SQL_WORKER_PEOPLE, (worker_id,))}


def retire_workers(conn: Connection, worker_ids: Sequence[str]) -> None:
    """Depart everyone present through the workers (one batch), then forget them."""
    changes: list[Change] = []
    for worker_id in worker_ids:
        pairs = worker_presence(conn, worker_id)
        changes += [RoomChange(worker_id, room, user, False) for room, user in pairs]
        changes += [StatusChange(worker_id, u, None) for u in worker_people(conn, worker_id)]
    apply_changes(conn, changes)
    conn.execute(SQL_DELETE_WORKERS, (list(worker_ids),))


def retire_worker(conn: Connection, worker_id: str) -> None:
    """Depart everyone present through the worker, then forget the worker."""
    retire_workers(conn, [worker_id])


def reap_dead_workers(conn: Connection, timeout: float) -> list[str]:
    """Retire every worker whose heartbeat is older than timeout seconds."""
    dead = [row["id"] for row in conn.execute(SQL_DEAD_WORKERS, (timeout,)).fetchall()]
    if dead:
        retire_workers(conn, dead)
    return dead
