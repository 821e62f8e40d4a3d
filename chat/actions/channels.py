"""Publishing on the bus (chat/storage/bus.py): every NOTIFY the application sends.

chat/storage/bus.py says what each channel carries and encodes it; these
functions execute the NOTIFYs. Called inside a transaction, a NOTIFY leaves
at its commit (and not at all on rollback), so no listener hears of a change
that could still roll back, and notifications leave in commit order.
"""

from collections.abc import Iterable

from psycopg import Connection

from chat.storage import bus

SQL_NOTIFY = "SELECT pg_notify(%s, %s)"


def publish_stored(conn: Connection, events: Iterable[bus.Stored]) -> None:
    """Announce committed rows on bus.CHANNEL, one NOTIFY per packed payload.

    Call inside the transaction that stores them, after taking their seqs
    (under their rooms' row locks), so the NOTIFYs leave in seq order.
    """
    for payload in bus.encode_stored(events):
        conn.execute(SQL_NOTIFY, (bus.CHANNEL, payload))


def publish_ephemeral(conn: Connection, event: bus.Ephemeral) -> None:
    """Send ephemeral frames to the room's clients on every worker (never stored).

    Inside a transaction they leave at its commit; in autocommit, at once.
    """
    conn.execute(SQL_NOTIFY, (bus.EVENTS_CHANNEL, bus.encode_ephemeral(event)))


# Many NOTIFYs in one statement, in the array's order.
SQL_NOTIFY_EACH = "SELECT count(pg_notify(%s, p)) FROM unnest(%s::text[]) AS p"


def publish_ephemerals(conn: Connection, events: Iterable[bus.Ephemeral]) -> None:
    """publish_ephemeral of each event, in order, in one statement (one round trip)."""
    payloads = [bus.encode_ephemeral(event) for event in events]
    if len(payloads) == 1:
        conn.execute(SQL_NOTIFY, (bus.EVENTS_CHANNEL, payloads[0]))
    elif payloads:
        conn.execute(SQL_NOTIFY_EACH, (bus.EVENTS_CHANNEL, payloads))


def announce(conn: Connection, room_id: int, frames: list[str], skip_user_id: int = 0) -> None:
    """publish_ephemeral of `frames` for the room; skip_user_id's own connections
    do not get them (someone's own typing)."""
    publish_ephemeral(conn, bus.Ephemeral(room_id, skip_user_id, tuple(frames)))


def publish_user(conn: Connection, user_id: int, frame: str) -> None:
    """Send a frame to every socket of the user on every worker (bus.USER_CHANNEL,
    never stored): call inside the transaction that made the change it tells."""
    conn.execute(SQL_NOTIFY, (bus.USER_CHANNEL, bus.encode_user(bus.UserEvent(user_id, frame))))


def publish_control(conn: Connection, kind: str, key: str) -> None:
    """A revocation (bus.REVOKE_*) every worker acts on: call inside the transaction
    that revokes, so sockets close only once the credential is gone for good."""
    conn.execute(SQL_NOTIFY, (bus.CONTROL_CHANNEL, bus.encode_control(bus.Control(kind, key))))


def publish_heartbeat(conn: Connection, heartbeat: bus.Heartbeat) -> None:
    """A worker's self-NOTIFY on bus.CONTROL_CHANNEL (autocommit: it leaves at once)."""
    conn.execute(SQL_NOTIFY, (bus.CONTROL_CHANNEL, bus.encode_control(heartbeat)))


def wake_bot(conn: Connection, bot: str) -> None:
    """Wake `bot`'s processes (bus.JOBS_CHANNEL): inside the transaction that
    queues its job, so the job is there when the bot looks."""
    conn.execute(SQL_NOTIFY, (bus.JOBS_CHANNEL, bus.job_payload(bot)))


def wake_workers(conn: Connection, kind: str) -> None:
    """Wake the `flask work` processes for a job of `kind` (bus.WORK_CHANNEL):
    inside the transaction that queues it, so the job is there when they look."""
    conn.execute(SQL_NOTIFY, (bus.WORK_CHANNEL, bus.work_payload(kind)))
