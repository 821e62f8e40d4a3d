"""The bot job queue: requests handed to bots and their answers, exactly once."""

from dataclasses import dataclass

from psycopg import Connection

from chat.actions.channels import wake_bot
from chat.actions.messages import Sent, reused_key, send_message
from chat.domain.entities import Room, User
from chat.domain.errors import ChatError

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
    SELECT id, bot, argument FROM bot_jobs
    WHERE room_id = %s AND requested_by = %s AND client_id = %s
"""
# A message or event of the user's with this client_id: the key is taken.
SQL_MESSAGE_BY_CLIENT_ID = """
    SELECT 1 FROM messages WHERE room_id = %s AND user_id = %s AND client_id = %s
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
    SELECT j.state, r.id, r.name, r.is_private, r.is_direct, r.created_by
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
    conn: Connection, room: Room, user: User, bot: str, argument: str, client_id: str | None
) -> Queued:
    """Hand a request to a bot: a job row and a NOTIFY that wakes the bot, in one transaction.

    A repeated client_id is the same request (Queued.duplicate) if it asked
    the same bot the same thing; a client_id used for another request, a
    message or an event raises ChatError('bad_frame'). More than
    MAX_PENDING_JOBS waiting requests of one person are refused.
    """
    with conn.transaction():
        if client_id is not None:
            key = (room.id, user.id, client_id)
            row = conn.execute(SQL_JOB_BY_CLIENT_ID, key).fetchone()
            if row is not None:
                if (row["bot"], row["argument"]) != (bot, argument):
                    raise reused_key()
                return Queued(row["id"], duplicate=True)
            if conn.execute(SQL_MESSAGE_BY_CLIENT_ID, key).fetchone() is not None:
                raise reused_key()
        if conn.execute(SQL_PENDING_JOBS_OF, (user.id,)).fetchone()["n"] >= MAX_PENDING_JOBS:
            raise ChatError(
                "too_many_requests",
                f"you have {MAX_PENDING_JOBS} requests waiting for bots; wait for their answers",
            )
        row = conn.execute(SQL_INSERT_JOB, (bot, room.id, user.id, argument, client_id)).fetchone()
        if row is None:  # the same client_id, sent twice at once: the other send won
            row = conn.execute(SQL_JOB_BY_CLIENT_ID, (room.id, user.id, client_id)).fetchone()
            return Queued(row["id"], duplicate=True)
        wake_bot(conn, bot)
    return Queued(row["id"], duplicate=False)


def ensure_bot_user(conn: Connection, username: str) -> User:
    """The bot's account (a User), created on first use; ChatError if a person has
    the name or the account is disabled."""
    conn.execute(SQL_INSERT_BOT_USER, (username, NO_PASSWORD))
    row = conn.execute(SQL_BOT_USER, (username,)).fetchone()
    if not row["is_bot"]:
        raise ChatError("taken", f"the username {username!r} belongs to a person, not a bot")
    if row["disabled_at"] is not None:
        raise ChatError("forbidden", f"the bot account {username!r} is disabled")
    return User.from_row(row)


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
    conn: Connection, job_id: int, bot_user: User, text: str, error: str | None = None
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
        # A bot answering in a public room does not become one of its members.
        sent = send_message(conn, Room.from_row(job), bot_user, text, f"job-{job_id}", joins=False)
        state = "failed" if error is not None else "answered"
        conn.execute(
            SQL_FINISH_JOB, {"id": job_id, "state": state, "seq": sent.seq, "error": error}
        )
    return sent
