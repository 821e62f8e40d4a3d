"""Presence: who is online, away or offline (per person, across the app), who has
which room open through which worker (per room), and their announcements."""

from psycopg import Connection

from chat.actions.channels import announce, publish_ephemeral
from chat.domain.entities import Room, User
from chat.protocol import outbound
from chat.storage import bus, queries


def announce_typing(conn: Connection, room: Room, user: User, thread: int | None = None) -> None:
    """Tell the room's other sockets that `user` is typing (never stored): in
    the main flow, or a reply in the thread of root seq `thread` (not checked:
    the frame only tells the room's readers, who may read every thread)."""
    frame = outbound.typing_frame(room.name, user.username, thread)
    announce(conn, room.id, [frame], user.id)


# All presence changes in one room are serialised by this lock, so that the
# online list each change announces is the list as of that change, and the
# announcements leave (NOTIFY at commit) in the order the changes happened.
PRESENCE_LOCK_SPACE = 0x70726573  # "pres"
SQL_PRESENCE_LOCK = "SELECT pg_advisory_xact_lock(%s, (%s %% 2147483647)::int)"
SQL_REGISTER_WORKER = """
    INSERT INTO workers (id) VALUES (%s)
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
"""
SQL_HEARTBEAT = "UPDATE workers SET heartbeat_at = now() WHERE id = %s"
SQL_PRESENCE_ADD = """
    INSERT INTO presence (worker_id, room_id, user_id) VALUES (%s, %s, %s)
    ON CONFLICT DO NOTHING
"""
SQL_PRESENCE_REMOVE = """
    DELETE FROM presence WHERE worker_id = %s AND room_id = %s AND user_id = %s
"""
SQL_PRESENCE_COUNT = "SELECT count(*) AS n FROM presence WHERE room_id = %s AND user_id = %s"
SQL_DEAD_WORKERS = """
    SELECT id FROM workers WHERE heartbeat_at < now() - make_interval(secs => %s)
"""
SQL_WORKER_PRESENCE = """
    SELECT r.id AS room_id, r.name, r.is_private, r.is_direct, r.created_by,
           u.id AS user_id, u.username
    FROM presence p JOIN rooms r ON r.id = p.room_id JOIN users u ON u.id = p.user_id
    WHERE p.worker_id = %s
    ORDER BY p.room_id, p.user_id
"""
SQL_DELETE_WORKER = "DELETE FROM workers WHERE id = %s"


def _announce_change(conn: Connection, room: Room, change_frame: str) -> None:
    """Announce a join or leave with the room's new online list (by reference if
    too big: chat/storage/bus.py). Under the room's presence lock."""
    users = queries.online_users(conn, room.id)
    online = outbound.online_users_frame(room.name, users)
    publish_ephemeral(conn, bus.presence_change(room.id, change_frame, online))


def register_worker(conn: Connection, worker_id: str) -> None:
    conn.execute(SQL_REGISTER_WORKER, (worker_id,))


def heartbeat(conn: Connection, worker_id: str) -> bool:
    """Refresh the worker's heartbeat; False if it had been reaped meanwhile."""
    return conn.execute(SQL_HEARTBEAT, (worker_id,)).rowcount == 1


def arrive(conn: Connection, worker_id: str, room: Room, user: User) -> bool:
    """Record the user in the room through this worker; announce if they were not there.

    Returns True when this made the user newly present (user_joined announced).
    """
    with conn.transaction():
        conn.execute(SQL_PRESENCE_LOCK, (PRESENCE_LOCK_SPACE, room.id))
        conn.execute(SQL_PRESENCE_ADD, (worker_id, room.id, user.id))
        if conn.execute(SQL_PRESENCE_COUNT, (room.id, user.id)).fetchone()["n"] != 1:
            return False
        _announce_change(conn, room, outbound.user_joined_frame(room.name, user.username))
    return True


def depart(conn: Connection, worker_id: str, room: Room, user: User) -> bool:
    """Remove the user's presence through this worker; announce if they are now gone."""
    with conn.transaction():
        conn.execute(SQL_PRESENCE_LOCK, (PRESENCE_LOCK_SPACE, room.id))
        removed = conn.execute(SQL_PRESENCE_REMOVE, (worker_id, room.id, user.id)).rowcount
        if not removed:
            return False  # someone else (a reaper) already did
        if conn.execute(SQL_PRESENCE_COUNT, (room.id, user.id)).fetchone()["n"] != 0:
            return False
        _announce_change(conn, room, outbound.user_left_frame(room.name, user.username))
    return True


def worker_presence(conn: Connection, worker_id: str) -> list[tuple[Room, User]]:
    """Who the table says is in which room through this worker: (Room, User) pairs."""
    return [
        (
            Room.from_row({**row, "id": row["room_id"]}),
            User.from_row({"id": row["user_id"], "username": row["username"]}),
        )
        for row in conn.execute(SQL_WORKER_PRESENCE, (worker_id,))
    ]


def retire_worker(conn: Connection, worker_id: str) -> None:
    """Depart everyone present through the worker, then forget the worker."""
    for room, user in worker_presence(conn, worker_id):
        depart(conn, worker_id, room, user)
    for user in worker_people(conn, worker_id):
        set_status(conn, worker_id, user, None)
    conn.execute(SQL_DELETE_WORKER, (worker_id,))


# --- per person: online, away, offline ---------------------------------------------

# All changes of one person's presence are serialised by this lock, so the
# status each change announces is the status as of that change, and the
# announcements leave in the order the changes happened.
PERSON_LOCK_SPACE = 0x70657273  # "pers"
SQL_PERSON_STATUS = """
    SELECT CASE WHEN count(*) = 0 THEN 'offline'
                WHEN bool_and(away) THEN 'away' ELSE 'online' END AS status
    FROM user_presence WHERE user_id = %s
"""
SQL_PERSON_SET = """
    INSERT INTO user_presence (worker_id, user_id, away) VALUES (%s, %s, %s)
    ON CONFLICT (worker_id, user_id) DO UPDATE SET away = EXCLUDED.away
"""
SQL_PERSON_REMOVE = "DELETE FROM user_presence WHERE worker_id = %s AND user_id = %s"
SQL_PERSON_ROOMS = """
    SELECT r.id, r.name FROM room_members m JOIN rooms r ON r.id = m.room_id
    WHERE m.user_id = %s ORDER BY r.id
"""
SQL_WORKER_PEOPLE = """
    SELECT u.id, u.username, p.away FROM user_presence p JOIN users u ON u.id = p.user_id
    WHERE p.worker_id = %s ORDER BY u.id
"""


def set_status(conn: Connection, worker_id: str, user: User, away: bool | None) -> str | None:
    """Record the person's state through this worker: away (True), active
    (False) or no sockets here any more (None). When their status across every
    worker changes, every room they are a member of hears a `presence` frame;
    returns the new status then (online, away, offline), else None."""
    with conn.transaction():
        conn.execute(SQL_PRESENCE_LOCK, (PERSON_LOCK_SPACE, user.id))
        before = conn.execute(SQL_PERSON_STATUS, (user.id,)).fetchone()["status"]
        if away is None:
            conn.execute(SQL_PERSON_REMOVE, (worker_id, user.id))
        else:
            conn.execute(SQL_PERSON_SET, (worker_id, user.id, away))
        after = conn.execute(SQL_PERSON_STATUS, (user.id,)).fetchone()["status"]
        if after == before:
            return None
        for row in conn.execute(SQL_PERSON_ROOMS, (user.id,)).fetchall():
            frame = outbound.presence_frame(row["name"], user.username, after)
            announce(conn, row["id"], [frame])
    return after


def worker_people(conn: Connection, worker_id: str) -> list[User]:
    """The people the table says have sockets through this worker."""
    return [User.from_row(row) for row in conn.execute(SQL_WORKER_PEOPLE, (worker_id,))]


def worker_people_away(conn: Connection, worker_id: str) -> dict[int, bool]:
    """Whether each person with sockets through this worker is away there, by user id."""
    return {row["id"]: row["away"] for row in conn.execute(SQL_WORKER_PEOPLE, (worker_id,))}


def reap_dead_workers(conn: Connection, timeout: float) -> list[str]:
    """Retire every worker whose heartbeat is older than timeout seconds."""
    dead = [row["id"] for row in conn.execute(SQL_DEAD_WORKERS, (timeout,)).fetchall()]
    for worker_id in dead:
        retire_worker(conn, worker_id)
    return dead
