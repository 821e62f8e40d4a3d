"""What the actions announce on the bus, for tests: every notification while a
block runs, and the frames of one channel among them."""

import contextlib
import time

import orjson
import psycopg

from chat.storage import bus


@contextlib.contextmanager
def heard(database_url: str):
    """Every notification on the chat and per-user channels while the block
    runs, as (channel, payload), in order: collected into the yielded list
    once the block is done."""
    found: list[tuple[str, str]] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {bus.CHANNEL}")
        conn.execute(f"LISTEN {bus.USER_CHANNEL}")
        conn.execute(f"LISTEN {bus.CONTROL_CHANNEL}")
        yield found
        # A marker sent last: everything before it has arrived once it does.
        conn.execute("SELECT pg_notify(%s, 'end-of-test')", (bus.CONTROL_CHANNEL,))
        deadline = time.monotonic() + 10
        for notify in conn.notifies(timeout=10):
            if notify.payload == "end-of-test":
                break
            found.append((notify.channel, notify.payload))
            assert time.monotonic() < deadline


def user_frames(found, user) -> list[dict]:
    return [
        orjson.loads(event.frame)
        for channel, payload in found
        if channel == bus.USER_CHANNEL
        for event in [bus.decode_user(payload)]
        if event.user_id == user.id
    ]


def stored_frames(found) -> list[dict]:
    return [
        orjson.loads(stored.frame)
        for channel, payload in found
        if channel == bus.CHANNEL
        for stored in bus.decode_stored(payload)
    ]


def member_row(db, room, user):
    return db.execute(
        "SELECT last_read_seq, muted FROM room_members WHERE room_id = %s AND user_id = %s",
        (room.id, user.id),
    ).fetchone()


def rows_of_kind(db, room, kind):
    return db.execute(
        "SELECT seq, user_id, content FROM messages WHERE room_id = %s AND kind = %s ORDER BY seq",
        (room.id, kind),
    ).fetchall()
