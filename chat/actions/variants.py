"""An image job's result (docs/files.md): its variants stored, the file `ready`
(or `failed`), and, for a file already in a message, the `files` event.

Lock order. Every transaction that touches a room's message and its files
takes the locks in one order: the room's row, then the file's, then the work
job's. The send that attaches files (the room's seq, then its files), the
deletion of a message (the room's seq, then its files, whose delete cascades
to their jobs) and this module all do; so none of them waits for a lock
while holding one another waits for in reverse, and no deadlock can form.

A worker does not know a file's room until it reads the file, and the read
and the lock are two statements: a send may attach the file between them. So
the file's place is read first without a lock; an attached file (attachment
is for good: room_id and seq never change back) takes the room's lock first,
then the file's. A file not attached is locked alone; if the lock finds it
attached after all (the send committed in between), the transaction is
rolled back and taken again, room first. A file is never held while its room
is waited for.

Exactly once: the job's row is locked last and must still be pending; a
second worker (one whose claim ran out) finds it done and writes nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import Connection

from chat.actions.channels import publish_stored
from chat.actions.work import finish_work, lock_work
from chat.domain.entities import Message
from chat.domain.imaging import Variant
from chat.domain.kinds import KIND_FILES
from chat.protocol import outbound
from chat.storage import bus, media

# file_chunks rows hold at most this much (the schema's CHECK): a reader or
# writer holds one chunk at a time.
CHUNK_BYTES = 256 * 1024

SQL_FILE_PLACE = "SELECT room_id, seq FROM files WHERE id = %s"
# The room's row lock, without taking a seq (nothing may be written after all);
# the same lock a send's UPDATE of last_seq takes, so they queue behind each other.
SQL_LOCK_ROOM = "SELECT id, name FROM rooms WHERE id = %s FOR NO KEY UPDATE"
SQL_NEXT_SEQ = "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq"
SQL_LOCK_FILE = "SELECT state, room_id, seq FROM files WHERE id = %s FOR UPDATE"
SQL_INSERT_CHUNK = """
    INSERT INTO file_chunks (file_id, variant, n, data) VALUES (%s, %s, %s, %s)
"""
SQL_INSERT_VARIANT = """
    INSERT INTO file_variants (file_id, variant, media_type, size, width, height, sha256)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
SQL_SET_STATE = "UPDATE files SET state = %s WHERE id = %s"
SQL_AUTHOR = """
    SELECT m.user_id, u.username, m.thread_seq FROM messages m JOIN users u ON u.id = m.user_id
    WHERE m.room_id = %s AND m.seq = %s
"""
SQL_INSERT_FILES_EVENT = """
    INSERT INTO messages (room_id, seq, user_id, content, kind, target_seq, thread_seq)
    VALUES (%s, %s, %s, '', 'files', %s, %s)
    RETURNING created_at
"""


@dataclass(frozen=True)
class Stored:
    """What an image job's result did: `written` whether this call wrote it
    (False: the job was finished already, or the file is gone), `event_seq`
    the `files` event's seq (None: the file was in no message yet)."""

    written: bool
    event_seq: int | None = None


class _Attached(Exception):  # noqa: N818 - control flow: roll back, then lock room first
    pass


def store_variants(
    conn: Connection, job_id: int, file_id: int, variants: Sequence[Variant]
) -> Stored:
    """Store an image's variants (chunks and file_variants rows), set the file
    `ready` and close the job, in one transaction; if the file is in a message,
    write and announce that message's `files` event (a `chat_files` frame with
    its files as they are now) in the same transaction, under the room's lock.
    Nothing is written unless the job is still pending and the file still
    `stored` (module docstring: lock order, exactly once)."""
    return _locked(conn, job_id, file_id, lambda room: _write(conn, file_id, variants, room))


def image_failed(
    conn: Connection, job_id: int, file_id: int, reason: str, gave_up: bool = False
) -> bool:
    """The image cannot be used (a bomb, corrupt, or its attempts used up:
    `gave_up`): the file becomes `failed` (served as an attachment, without a
    thumbnail; served to its owner only, as its metadata could not be taken
    out) and the job is closed, done with `reason` as its last_error, or
    failed when it `gave_up`. If the file is already in a message, its
    `files` event tells the readers (state failed), under the room's lock.
    Whether this call closed the job."""

    def write(room: dict | None) -> int | None:
        conn.execute(SQL_SET_STATE, ("failed", file_id))
        return None if room is None else _files_event(conn, room)

    outcome = _locked(conn, job_id, file_id, write, error=reason, failed=gave_up)
    return outcome.written


def _locked(conn, job_id, file_id, write, error=None, failed=False) -> Stored:
    """Run `write(room)` under the locks in order (room, file, job), then close the job."""
    for _ in range(2):  # a second pass only when the file was attached meanwhile
        try:
            with conn.transaction():
                place = conn.execute(SQL_FILE_PLACE, (file_id,)).fetchone()
                room = None
                if place is not None and place["seq"] is not None:
                    room = conn.execute(SQL_LOCK_ROOM, (place["room_id"],)).fetchone()
                file = conn.execute(SQL_LOCK_FILE, (file_id,)).fetchone()
                if file is not None and file["seq"] is not None and room is None:
                    raise _Attached
                if not lock_work(conn, job_id):
                    return Stored(False)
                if file is None or file["state"] != "stored":  # deleted, or made already
                    finish_work(conn, job_id, error or "the file is gone or was done before")
                    return Stored(False)
                seq = write(room and {**room, "target_seq": file["seq"]})
                finish_work(conn, job_id, error, failed)
                return Stored(True, seq)
        except _Attached:
            continue
    raise RuntimeError(f"file {file_id} changed place twice")  # attachment is for good


def _write(
    conn: Connection, file_id: int, variants: Sequence[Variant], room: dict | None
) -> int | None:
    for variant in variants:
        data = variant.data
        for n, start in enumerate(range(0, len(data), CHUNK_BYTES)):
            conn.execute(
                SQL_INSERT_CHUNK, (file_id, variant.name, n, data[start : start + CHUNK_BYTES])
            )
        conn.execute(
            SQL_INSERT_VARIANT,
            (
                file_id,
                variant.name,
                variant.media_type,
                len(data),
                variant.width,
                variant.height,
                variant.sha256,
            ),
        )
    conn.execute(SQL_SET_STATE, ("ready", file_id))
    if room is None:
        return None
    return _files_event(conn, room)


def _files_event(conn: Connection, room: dict) -> int:
    """The `files` event of message room["target_seq"]: its files now. Under the room's lock."""
    target_seq = room["target_seq"]
    seq = conn.execute(SQL_NEXT_SEQ, (room["id"],)).fetchone()["last_seq"]
    author = conn.execute(SQL_AUTHOR, (room["id"], target_seq)).fetchone()
    created_at = conn.execute(
        SQL_INSERT_FILES_EVENT,
        (room["id"], seq, author["user_id"], target_seq, author["thread_seq"]),
    ).fetchone()["created_at"]
    written = Message(
        seq,
        author["username"],
        "",
        created_at,
        kind=KIND_FILES,
        target_seq=target_seq,
        thread_seq=author["thread_seq"],
        files=media.message_files(conn, room["id"], target_seq),
    )
    frame = outbound.row_frame(room["name"], written)
    publish_stored(conn, [bus.Stored(room["id"], seq, frame, bus.now_ms())])
    return seq
