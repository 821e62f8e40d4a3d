"""Every change of state, and its announcement, happens here and only here.

A message is stored and announced in one transaction: NOTIFY is delivered
only at commit, so no worker hears of a message that could still roll back,
and notifications leave in commit order, which is seq order within a room.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection, Rollback

from . import metrics, passwords, protocol, queries
from .bots import BOT_USERNAMES
from .render import render

# Every worker LISTENs on these channels and picks out the rooms it serves:
# CHANNEL carries stored messages ('<room_id> <seq>[ <frame>]'), EVENTS_CHANNEL
# ephemeral frames that are never stored ('<room_id> <skip_user_id> <frame>...').
CHANNEL = "chat"
EVENTS_CHANNEL = "chat_events"
# Revocations every worker must act on at once ('<kind> <key>', see revoke_*).
CONTROL_CHANNEL = "chat_control"
# A line in an events payload meaning "send this room's online_users, read
# from the table": used when the list itself would not fit in a NOTIFY.
ONLINE_USERS_REF = "?"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more (and with it the
# whole transaction); a longer frame is announced by reference instead.
NOTIFY_PAYLOAD_MAX = 7999


class ActionError(Exception):
    """A refused change; `code` is the stable error code clients see."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Sent:
    """The outcome of a send: the message's seq, and whether it was a repeat."""

    seq: int
    created_at: datetime
    duplicate: bool


SQL_INSERT_USER = """
    INSERT INTO users (username, password_hash) VALUES (%s, %s)
    ON CONFLICT DO NOTHING
    RETURNING id
"""
SQL_INSERT_TOKEN = "INSERT INTO api_tokens (user_id, token_hash) VALUES (%s, %s)"
SQL_INSERT_ROOM = """
    INSERT INTO rooms (name, is_private, created_by) VALUES (%s, %s, %s)
    ON CONFLICT (name) DO NOTHING
    RETURNING id
"""
SQL_INSERT_MEMBER = """
    INSERT INTO room_members (room_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING
"""
# Taking the room row's lock first serialises the room's writers: the seq
# bump below and the client_id check after it see every earlier send.
SQL_NEXT_SEQ = "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq"
SQL_PREVIOUS_SEND = """
    SELECT seq, created_at FROM messages
    WHERE room_id = %s AND user_id = %s AND client_id = %s
"""
SQL_INSERT_MESSAGE = """
    INSERT INTO messages (room_id, seq, user_id, content, client_id, html, kind)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
    RETURNING created_at
"""
SQL_NOTIFY = "SELECT pg_notify(%s, %s)"


def create_user(conn: Connection, username: str, password: str) -> int:
    """Create an account; ActionError('taken') if the name is in use (any case)
    or belongs to a bot."""
    if username.lower() in BOT_USERNAMES:
        raise ActionError("taken", f"the username {username!r} is taken")
    password_hash = passwords.hash_password(password)
    row = conn.execute(SQL_INSERT_USER, (username, password_hash)).fetchone()
    if row is None:
        raise ActionError("taken", f"the username {username!r} is taken")
    return row["id"]


def hash_token(token: str) -> bytes:
    """Tokens are 256-bit random strings, so a plain SHA-256 is a safe lookup key."""
    return hashlib.sha256(token.encode()).digest()


def create_token(conn: Connection, user_id: int) -> str:
    """A new personal API token for the user; only its hash is stored."""
    token = "chat_" + secrets.token_urlsafe(32)
    conn.execute(SQL_INSERT_TOKEN, (user_id, hash_token(token)))
    return token


SQL_INSERT_SESSION = "INSERT INTO user_sessions (token_hash, user_id) VALUES (%s, %s)"
SQL_DELETE_SESSION = "DELETE FROM user_sessions WHERE token_hash = %s"
SQL_DELETE_SESSIONS = "DELETE FROM user_sessions WHERE user_id = %s"
SQL_SET_PASSWORD = "UPDATE users SET password_hash = %s WHERE id = %s"
SQL_DISABLE_USER = "UPDATE users SET disabled_at = now() WHERE id = %s AND disabled_at IS NULL"


def start_session(conn: Connection, user_id: int) -> str:
    """A new login session; the returned token goes in the (signed) session cookie."""
    token = secrets.token_urlsafe(32)
    conn.execute(SQL_INSERT_SESSION, (hash_token(token), user_id))
    return token


def end_session(conn: Connection, token: str) -> None:
    """Log one session out: its cookie stops working and its sockets close, everywhere."""
    token_hash = hash_token(token)
    conn.execute(SQL_DELETE_SESSION, (token_hash,))
    conn.execute(SQL_NOTIFY, (CONTROL_CHANNEL, f"session {token_hash.hex()}"))


def set_password(conn: Connection, user_id: int, password: str) -> None:
    """Change a password; every login session of the user ends (API tokens stay)."""
    conn.execute(SQL_SET_PASSWORD, (passwords.hash_password(password), user_id))
    conn.execute(SQL_DELETE_SESSIONS, (user_id,))
    conn.execute(SQL_NOTIFY, (CONTROL_CHANNEL, f"sessions {user_id}"))


def disable_user(conn: Connection, user_id: int) -> None:
    """Lock an account out: sessions and tokens stop working, every socket closes."""
    conn.execute(SQL_DISABLE_USER, (user_id,))
    conn.execute(SQL_DELETE_SESSIONS, (user_id,))
    conn.execute(SQL_NOTIFY, (CONTROL_CHANNEL, f"user {user_id}"))


# A key's window restarts when the old one has passed; within it, failures add up.
SQL_LOGIN_FAILED = """
    INSERT INTO login_failures AS f (key, window_start, failures) VALUES (%(key)s, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN f.window_start > now() - make_interval(secs => %(window)s)
                        THEN f.failures + 1 ELSE 1 END,
        window_start = CASE WHEN f.window_start > now() - make_interval(secs => %(window)s)
                            THEN f.window_start ELSE now() END
"""
SQL_LOGIN_SUCCEEDED = "DELETE FROM login_failures WHERE key = %s"


def login_failed(conn: Connection, keys: list[str], window: int) -> None:
    for key in keys:
        conn.execute(SQL_LOGIN_FAILED, {"key": key, "window": window})


def login_succeeded(conn: Connection, key: str) -> None:
    conn.execute(SQL_LOGIN_SUCCEEDED, (key,))


def create_room(conn: Connection, name: str, user_id: int, is_private: bool = False) -> int:
    """Create a room with its creator as first member; ActionError('taken') if it exists."""
    row = conn.execute(SQL_INSERT_ROOM, (name, is_private, user_id)).fetchone()
    if row is None:
        raise ActionError("taken", f"a room named {name!r} already exists")
    conn.execute(SQL_INSERT_MEMBER, (row["id"], user_id))
    return row["id"]


SQL_ADD_MEMBER = """
    INSERT INTO room_members (room_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING
    RETURNING user_id
"""
SQL_INSERT_DIRECT = """
    INSERT INTO rooms (name, is_private, is_direct, created_by) VALUES (%s, true, true, %s)
    ON CONFLICT (name) DO NOTHING
    RETURNING id
"""


def invite(conn: Connection, room: dict, username: str) -> str:
    """Add a user to a private room (the inviter's membership is checked by the caller)."""
    if room["is_direct"]:
        raise ActionError("forbidden", "a direct conversation has exactly two people")
    if not room["is_private"]:
        raise ActionError("forbidden", "public rooms need no invitation")
    user = queries.user_by_name(conn, username)
    if user is None:
        raise ActionError("not_found", f"no user named {username!r}")
    if conn.execute(SQL_ADD_MEMBER, (room["id"], user["id"])).fetchone() is None:
        raise ActionError("taken", f"{user['username']} is already a member")
    return user["username"]


SQL_REMOVE_MEMBER = "DELETE FROM room_members WHERE room_id = %s AND user_id = %s RETURNING user_id"


def remove_member(conn: Connection, room: dict, remover: dict, username: str) -> str:
    """Take someone out of a private room: themselves, or anyone if the remover made it.

    Their sockets in the room close at once, on every worker.
    """
    if not room["is_private"] or room["is_direct"]:
        raise ActionError("forbidden", "only private rooms have members to remove")
    user = queries.user_by_name(conn, username)
    if user is None:
        raise ActionError("not_found", f"no user named {username!r}")
    if user["id"] != remover["id"] and room.get("created_by") != remover["id"]:
        raise ActionError("forbidden", "only the room's creator can remove others")
    if conn.execute(SQL_REMOVE_MEMBER, (room["id"], user["id"])).fetchone() is None:
        raise ActionError("not_found", f"{user['username']} is not a member")
    conn.execute(SQL_NOTIFY, (CONTROL_CHANNEL, f"member {room['id']}:{user['id']}"))
    return user["username"]


def direct_room_name(user_id: int, other_id: int) -> str:
    low, high = sorted((user_id, other_id))
    return f"dm-{low}-{high}"


def open_direct(conn: Connection, user: dict, username: str) -> str:
    """The direct room of user and username, created on first use; returns its name."""
    other = queries.user_by_name(conn, username)
    if other is None:
        raise ActionError("not_found", f"no user named {username!r}")
    if other["id"] == user["id"]:
        raise ActionError("forbidden", "start a conversation with someone else")
    name = direct_room_name(user["id"], other["id"])
    row = conn.execute(SQL_INSERT_DIRECT, (name, user["id"])).fetchone()
    if row is not None:
        for member in (user["id"], other["id"]):
            conn.execute(SQL_ADD_MEMBER, (row["id"], member))
    return name


def send_message(
    conn: Connection,
    room: dict,
    user: dict,
    content: str,
    client_id: str | None,
    kind: str = protocol.KIND_CHAT,
) -> Sent:
    """Store one message with the room's next seq and announce it, in one transaction.

    A repeated client_id for the same user and room returns the first send's
    seq and changes nothing: the seq bump is rolled back with the transaction.
    `kind` is KIND_ACTION for `/me waves`.
    """
    repeat = None
    html = render(content)  # before taking the room's lock: rendering is the slow part
    with conn.transaction():
        seq = conn.execute(SQL_NEXT_SEQ, (room["id"],)).fetchone()["last_seq"]
        if client_id is not None:
            previous = conn.execute(
                SQL_PREVIOUS_SEND, (room["id"], user["id"], client_id)
            ).fetchone()
            if previous is not None:
                repeat = Sent(previous["seq"], previous["created_at"], duplicate=True)
                raise Rollback()
        created_at = conn.execute(
            SQL_INSERT_MESSAGE, (room["id"], seq, user["id"], content, client_id, html, kind)
        ).fetchone()["created_at"]
        frame = protocol.chat_frame(
            room["name"], seq, user["username"], content, created_at, client_id, html, kind
        )
        conn.execute(SQL_NOTIFY, (CHANNEL, notify_payload(room["id"], seq, frame)))
    if repeat is not None:
        return repeat
    metrics.MESSAGES.inc()
    return Sent(seq, created_at, duplicate=False)


def notify_payload(room_id: int, seq: int, frame: str, sent_ms: int | None = None) -> str:
    """'<room_id> <seq> <sent_ms> <frame>', or without the frame when it is too big.

    Listeners fetch a referenced message from the table, so size never loses one.
    `sent_ms` (this host's clock, Unix milliseconds; now unless given) lets each
    worker measure how long the message took to reach it
    (metrics.NOTIFY_TO_DELIVERY). A batch (chat/writer.py) sends one per line.
    """
    if sent_ms is None:
        sent_ms = int(time.time() * 1000)
    head = f"{room_id} {seq} {sent_ms}"
    payload = f"{head} {frame}"
    if len(payload.encode()) > NOTIFY_PAYLOAD_MAX:
        return head
    return payload


SQL_JOIN_ROOM = """
    INSERT INTO room_members (room_id, user_id, last_read_seq)
    SELECT id, %(user_id)s, last_seq FROM rooms WHERE id = %(room_id)s
    ON CONFLICT (room_id, user_id) DO NOTHING
"""
# Monotonic, and never past the room's end: an old or bogus seq cannot move it.
SQL_MARK_READ = """
    INSERT INTO room_members (room_id, user_id, last_read_seq)
    SELECT id, %(user_id)s, LEAST(%(seq)s, last_seq) FROM rooms WHERE id = %(room_id)s
    ON CONFLICT (room_id, user_id) DO UPDATE
        SET last_read_seq = GREATEST(room_members.last_read_seq, EXCLUDED.last_read_seq)
    RETURNING last_read_seq
"""


def join_room(conn: Connection, room_id: int, user_id: int) -> None:
    """Make the user a member (idempotent); a new member starts with everything read."""
    conn.execute(SQL_JOIN_ROOM, {"room_id": room_id, "user_id": user_id})


def mark_read(conn: Connection, room_id: int, user_id: int, seq: int) -> int:
    """Record that the user has seen the room up to seq; returns the stored read seq."""
    row = conn.execute(
        SQL_MARK_READ, {"room_id": room_id, "user_id": user_id, "seq": seq}
    ).fetchone()
    return row["last_read_seq"]


def events_payload(room_id: int, skip_user_id: int, frames: list[str]) -> str:
    return f"{room_id} {skip_user_id} " + "\n".join(frames)


def announce(conn: Connection, room_id: int, frames: list[str], skip_user_id: int = 0) -> None:
    """Send ephemeral frames to the room's clients on every worker (never stored).

    skip_user_id's own connections do not get them (someone's own typing).
    """
    conn.execute(SQL_NOTIFY, (EVENTS_CHANNEL, events_payload(room_id, skip_user_id, frames)))


def announce_typing(conn: Connection, room: dict, user: dict) -> None:
    announce(conn, room["id"], [protocol.typing_frame(room["name"], user["username"])], user["id"])


# --- presence ------------------------------------------------------------------

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
    SELECT p.room_id, r.name AS room_name, p.user_id, u.username
    FROM presence p JOIN rooms r ON r.id = p.room_id JOIN users u ON u.id = p.user_id
    WHERE p.worker_id = %s
    ORDER BY p.room_id, p.user_id
"""
SQL_DELETE_WORKER = "DELETE FROM workers WHERE id = %s"


def _online_frames(conn: Connection, room: dict, first: str) -> list[str]:
    users = queries.online_users(conn, room["id"])
    online = protocol.online_users_frame(room["name"], users)
    if len(events_payload(room["id"], 0, [first, online]).encode()) > NOTIFY_PAYLOAD_MAX:
        online = ONLINE_USERS_REF
    return [first, online]


def register_worker(conn: Connection, worker_id: str) -> None:
    conn.execute(SQL_REGISTER_WORKER, (worker_id,))


def heartbeat(conn: Connection, worker_id: str) -> bool:
    """Refresh the worker's heartbeat; False if it had been reaped meanwhile."""
    return conn.execute(SQL_HEARTBEAT, (worker_id,)).rowcount == 1


def arrive(conn: Connection, worker_id: str, room: dict, user: dict) -> bool:
    """Record the user in the room through this worker; announce if they were not there.

    Returns True when this made the user newly present (user_joined announced).
    """
    with conn.transaction():
        conn.execute(SQL_PRESENCE_LOCK, (PRESENCE_LOCK_SPACE, room["id"]))
        conn.execute(SQL_PRESENCE_ADD, (worker_id, room["id"], user["id"]))
        if conn.execute(SQL_PRESENCE_COUNT, (room["id"], user["id"])).fetchone()["n"] != 1:
            return False
        frames = _online_frames(
            conn, room, protocol.user_joined_frame(room["name"], user["username"])
        )
        announce(conn, room["id"], frames)
    return True


def depart(conn: Connection, worker_id: str, room: dict, user: dict) -> bool:
    """Remove the user's presence through this worker; announce if they are now gone."""
    with conn.transaction():
        conn.execute(SQL_PRESENCE_LOCK, (PRESENCE_LOCK_SPACE, room["id"]))
        removed = conn.execute(SQL_PRESENCE_REMOVE, (worker_id, room["id"], user["id"])).rowcount
        if not removed:
            return False  # someone else (a reaper) already did
        if conn.execute(SQL_PRESENCE_COUNT, (room["id"], user["id"])).fetchone()["n"] != 0:
            return False
        frames = _online_frames(
            conn, room, protocol.user_left_frame(room["name"], user["username"])
        )
        announce(conn, room["id"], frames)
    return True


def worker_presence(conn: Connection, worker_id: str) -> list[dict]:
    return conn.execute(SQL_WORKER_PRESENCE, (worker_id,)).fetchall()


def retire_worker(conn: Connection, worker_id: str) -> None:
    """Depart everyone present through the worker, then forget the worker."""
    for row in worker_presence(conn, worker_id):
        depart(
            conn,
            worker_id,
            {"id": row["room_id"], "name": row["room_name"]},
            {"id": row["user_id"], "username": row["username"]},
        )
    conn.execute(SQL_DELETE_WORKER, (worker_id,))


def reap_dead_workers(conn: Connection, timeout: float) -> list[str]:
    """Retire every worker whose heartbeat is older than timeout seconds."""
    dead = [row["id"] for row in conn.execute(SQL_DEAD_WORKERS, (timeout,)).fetchall()]
    for worker_id in dead:
        retire_worker(conn, worker_id)
    return dead


# --- bot jobs --------------------------------------------------------------------

# Bots LISTEN here; the payload is the name of the bot that has new work.
JOBS_CHANNEL = "bot_jobs"
# Requests one person may have waiting for bots at once: a person waits for an
# answer or two; more is a script flooding the bot (and the service it asks),
# for instance while the bot is down.
MAX_PENDING_JOBS = 5
# A bot account's password hash: not an Argon2 hash, so no password matches it.
NO_PASSWORD = "!"


@dataclass(frozen=True)
class Queued:
    """A request handed to a bot: its job, and whether it had been handed over before."""

    job_id: int
    duplicate: bool


SQL_JOB_BY_CLIENT_ID = """
    SELECT id FROM bot_jobs WHERE room_id = %s AND requested_by = %s AND client_id = %s
"""
SQL_PENDING_JOBS_OF = """
    SELECT count(*) AS n FROM bot_jobs WHERE requested_by = %s AND state = 'pending'
"""
SQL_INSERT_JOB = """
    INSERT INTO bot_jobs (bot, room_id, requested_by, argument, client_id)
    VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT DO NOTHING
    RETURNING id
"""
# The oldest job that is due and unclaimed (or whose claim ran out: its bot
# died). SKIP LOCKED lets bots claim side by side without waiting on each
# other. The claim commits at once; the bot works on the job outside any
# transaction, protected by claimed_until, and `attempts` counts the claim.
SQL_CLAIM_JOB = """
    UPDATE bot_jobs j
    SET attempts = j.attempts + 1,
        claimed_until = now() + make_interval(secs => %(visibility)s)
    FROM rooms r
    WHERE r.id = j.room_id AND j.id = (
        SELECT id FROM bot_jobs
        WHERE bot = %(bot)s AND state = 'pending' AND run_after <= now()
          AND (claimed_until IS NULL OR claimed_until <= now())
        ORDER BY id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING j.id, j.room_id, r.name AS room_name, j.argument, j.attempts
"""
# Only the claim that failed gives the job back (a slow bot whose claim ran
# out and was taken over must not undo the newer claim).
SQL_RETRY_JOB = """
    UPDATE bot_jobs
    SET claimed_until = NULL,
        run_after = now() + make_interval(secs => %(delay)s),
        last_error = %(error)s
    WHERE id = %(id)s AND state = 'pending' AND attempts = %(attempts)s
"""
SQL_LOCK_JOB = """
    SELECT j.state, j.room_id, r.name AS room_name
    FROM bot_jobs j JOIN rooms r ON r.id = j.room_id
    WHERE j.id = %s
    FOR UPDATE OF j
"""
SQL_FINISH_JOB = """
    UPDATE bot_jobs
    SET state = %(state)s, answer_seq = %(seq)s, finished_at = now(), claimed_until = NULL,
        last_error = coalesce(%(error)s, last_error)
    WHERE id = %(id)s
"""
SQL_INSERT_BOT_USER = """
    INSERT INTO users (username, password_hash, is_bot) VALUES (%s, %s, true)
    ON CONFLICT DO NOTHING
"""
SQL_BOT_USER = """
    SELECT id, username, is_bot, disabled_at FROM users WHERE lower(username) = lower(%s)
"""


def enqueue_job(
    conn: Connection, room: dict, user: dict, bot: str, argument: str, client_id: str | None
) -> Queued:
    """Hand a request to a bot: a job row and a NOTIFY that wakes the bot, in one transaction.

    A repeated client_id is the same request (Queued.duplicate); more than
    MAX_PENDING_JOBS waiting requests of one person are refused.
    """
    with conn.transaction():
        if client_id is not None:
            row = conn.execute(SQL_JOB_BY_CLIENT_ID, (room["id"], user["id"], client_id)).fetchone()
            if row is not None:
                return Queued(row["id"], duplicate=True)
        if conn.execute(SQL_PENDING_JOBS_OF, (user["id"],)).fetchone()["n"] >= MAX_PENDING_JOBS:
            raise ActionError(
                "too_many_requests",
                f"you have {MAX_PENDING_JOBS} requests waiting for bots; wait for their answers",
            )
        row = conn.execute(
            SQL_INSERT_JOB, (bot, room["id"], user["id"], argument, client_id)
        ).fetchone()
        if row is None:  # the same client_id, sent twice at once: the other send won
            row = conn.execute(SQL_JOB_BY_CLIENT_ID, (room["id"], user["id"], client_id)).fetchone()
            return Queued(row["id"], duplicate=True)
        conn.execute(SQL_NOTIFY, (JOBS_CHANNEL, bot))
    return Queued(row["id"], duplicate=False)


def ensure_bot_user(conn: Connection, username: str) -> dict:
    """The bot's account, created on first use; ActionError if a person has the name
    or the account is disabled."""
    conn.execute(SQL_INSERT_BOT_USER, (username, NO_PASSWORD))
    row = conn.execute(SQL_BOT_USER, (username,)).fetchone()
    if not row["is_bot"]:
        raise ActionError("taken", f"the username {username!r} belongs to a person, not a bot")
    if row["disabled_at"] is not None:
        raise ActionError("forbidden", f"the bot account {username!r} is disabled")
    return {"id": row["id"], "username": row["username"]}


def claim_job(conn: Connection, bot: str, visibility: float) -> dict | None:
    """Take the bot's oldest due job for `visibility` seconds; None when there is none."""
    with conn.transaction():
        return conn.execute(SQL_CLAIM_JOB, {"bot": bot, "visibility": visibility}).fetchone()


def retry_job(conn: Connection, job: dict, delay: float, error: str) -> None:
    """Give a claimed job back after a transient failure, due again in `delay` seconds."""
    with conn.transaction():
        conn.execute(
            SQL_RETRY_JOB,
            {"id": job["id"], "attempts": job["attempts"], "delay": delay, "error": error},
        )


def answer_job(
    conn: Connection, job_id: int, bot_user: dict, text: str, error: str | None = None
) -> Sent | None:
    """Post a job's answer in its room and close the job, in one transaction.

    Exactly once: the job row's lock and state make a second answer (another
    bot, or one whose claim ran out) a no-op returning None; the answer's
    client_id 'job-<id>' would make it a duplicate even so. With `error` the
    job ends as failed (the text says so in the room).
    """
    with conn.transaction():
        job = conn.execute(SQL_LOCK_JOB, (job_id,)).fetchone()
        if job is None or job["state"] != "pending":
            return None
        room = {"id": job["room_id"], "name": job["room_name"]}
        sent = send_message(conn, room, bot_user, text, f"job-{job_id}")
        state = "failed" if error is not None else "answered"
        conn.execute(
            SQL_FINISH_JOB, {"id": job_id, "state": state, "seq": sent.seq, "error": error}
        )
    return sent
