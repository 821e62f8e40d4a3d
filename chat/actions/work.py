"""The work queue (`work_jobs`, docs/files.md "Work off the request path"): claims,
give-backs with backoff, giving up, and the clean-up of finished jobs.

The same shape as the bot queue (chat/actions/jobs.py, docs/bots.md): a claim
is its own short transaction (FOR UPDATE SKIP LOCKED, so any number of
`flask work` processes share the queue), the work is done outside any
transaction protected by `claimed_until`, and the result is written in one
transaction that also closes the job (chat/actions/variants.py for images,
chat/actions/cards.py for previews, chat/actions/outgoing.py for webhook
deliveries: each locks the job row there and writes
nothing unless it is still pending, so a job is done exactly once even when a
slow worker's claim ran out and another took it over).
"""

from collections.abc import Sequence

from psycopg import Connection

# Finished jobs are kept this long (what went wrong stays readable in
# last_error for a week of reports), then the clean-up deletes them.
FINISHED_KEPT_DAYS = 7

# The next due job of the given kinds that nobody holds (or whose claim ran
# out: its worker died): link previews first (cheap, and someone is looking at
# the message), then images already in a message before uploads not sent yet
# (a pile of unsent uploads cannot hold up a sent message's thumbnail), oldest
# first within each. `attempts` counts the claim, so a job whose workers keep
# dying on it (an image that kills the process) is given up on.
SQL_CLAIM_WORK = """
    UPDATE work_jobs j
    SET attempts = j.attempts + 1,
        claimed_until = now() + make_interval(secs => %(visibility)s)
    WHERE j.id = (
        SELECT w.id FROM work_jobs w LEFT JOIN files f ON f.id = w.file_id
        WHERE w.kind = ANY(%(kinds)s) AND w.state = 'pending' AND w.run_after <= now()
          AND (w.claimed_until IS NULL OR w.claimed_until <= now())
        ORDER BY w.kind = 'image', f.seq IS NULL, w.id
        LIMIT 1
        FOR UPDATE OF w SKIP LOCKED
    )
    RETURNING j.id, j.kind, j.file_id, j.room_id, j.seq, j.url, j.webhook_id, j.trigger_word,
              j.attempts
"""
# Only the claim that failed gives the job back (a slow worker whose claim ran
# out and was taken over must not undo the newer claim).
SQL_RETRY_WORK = """
    UPDATE work_jobs
    SET claimed_until = NULL,
        run_after = now() + make_interval(secs => %(delay)s),
        last_error = %(error)s
    WHERE id = %(id)s AND state = 'pending' AND attempts = %(attempts)s
"""
# The job row's lock: taken last, after the room's and the file's (see
# chat/actions/variants.py on lock order), by the transaction writing its result.
SQL_LOCK_WORK = "SELECT state FROM work_jobs WHERE id = %s FOR UPDATE"
SQL_FINISH_WORK = """
    UPDATE work_jobs
    SET state = %(state)s, finished_at = now(), claimed_until = NULL,
        last_error = coalesce(%(error)s, last_error)
    WHERE id = %(id)s
"""
SQL_DELETE_FINISHED_WORK = """
    DELETE FROM work_jobs
    WHERE state <> 'pending' AND finished_at < now() - make_interval(days => %s)
"""


def claim_work(conn: Connection, kinds: Sequence[str], visibility: float) -> dict | None:
    """Take the oldest due job of `kinds` for `visibility` seconds (its own
    transaction, committed at once); None when there is none. The row has id,
    kind, file_id, room_id, seq, url, webhook_id, trigger_word and attempts
    (this claim counted)."""
    with conn.transaction():
        return conn.execute(
            SQL_CLAIM_WORK, {"kinds": list(kinds), "visibility": visibility}
        ).fetchone()


def retry_work(conn: Connection, job: dict, delay: float, error: str) -> None:
    """Give a claimed job back after a failure worth retrying: due again in `delay` seconds."""
    with conn.transaction():
        conn.execute(
            SQL_RETRY_WORK,
            {"id": job["id"], "attempts": job["attempts"], "delay": delay, "error": error},
        )


def lock_work(conn: Connection, job_id: int) -> bool:
    """Lock the job's row; whether it is still pending (False: another worker
    finished it, or it is gone with its file or message). Inside a transaction,
    after the room's and the file's locks."""
    row = conn.execute(SQL_LOCK_WORK, (job_id,)).fetchone()
    return row is not None and row["state"] == "pending"


def finish_work(
    conn: Connection, job_id: int, error: str | None = None, failed: bool = False
) -> None:
    """Close the job: done (`error` says why nothing was made, if so), or failed
    (given up). Inside the transaction that wrote its result, under lock_work."""
    conn.execute(
        SQL_FINISH_WORK,
        {"id": job_id, "state": "failed" if failed else "done", "error": error},
    )


def close_work(conn: Connection, job_id: int, error: str, failed: bool = True) -> bool:
    """Close a pending job in a transaction of its own, failed (given up, or
    refused for good) or done, with `error` as its last_error; False when it
    was no longer pending. (An image job's file is failed with its job by
    chat/actions/variants.py image_failed instead.)"""
    with conn.transaction():
        if not lock_work(conn, job_id):
            return False
        finish_work(conn, job_id, error, failed=failed)
    return True


def delete_finished_work(conn: Connection, days: int = FINISHED_KEPT_DAYS) -> int:
    """Delete jobs finished (done or failed) more than `days` ago; how many."""
    with conn.transaction():
        return conn.execute(SQL_DELETE_FINISHED_WORK, (days,)).rowcount
