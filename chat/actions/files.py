"""Uploads, and the clean-up of files never sent (docs/files.md).

An upload is one transaction: the `files` row, its bytes as `file_chunks`
rows of CHUNK_BYTES as they arrive (memory holds a chunk or two whatever the
size), its SHA-256 and sniffed type, and for an image an `image` job for the
workers with its NOTIFY. A failure anywhere (a refusal, a client gone mid-way)
rolls all of it back: no half-stored file ever exists for anyone to see.

Attaching files to a message happens in the send's transaction
(actions/messages.py), and deleting them with a deleted message in the
deletion's (actions/events.py).
"""

import hashlib
from collections.abc import Iterable

from psycopg import Connection

from chat.actions.channels import wake_workers
from chat.domain.entities import Attachment, User
from chat.domain.errors import ChatError
from chat.domain.files import CHUNK_BYTES, new_key
from chat.domain.media import Sniffed, sniff

SQL_INSERT_FILE = """
    INSERT INTO files (key, owner_id, name) VALUES (%s, %s, %s) RETURNING id
"""
SQL_INSERT_CHUNK = """
    INSERT INTO file_chunks (file_id, variant, n, data) VALUES (%s, 'original', %s, %s)
"""
# The owner's row lock serialises the quota checks of one person's concurrent
# uploads (each sees the others that committed before it); held only from the
# end of the body to the commit. NO KEY: foreign keys to users are not blocked.
SQL_LOCK_OWNER = "SELECT id FROM users WHERE id = %s FOR NO KEY UPDATE"
SQL_OWNED_BESIDES = """
    SELECT coalesce(sum(size), 0)::bigint AS used FROM files WHERE owner_id = %s AND id <> %s
"""
SQL_FINISH_FILE = """
    UPDATE files SET size = %s, media_type = %s, sha256 = %s, width = %s, height = %s,
                     state = 'stored'
    WHERE id = %s
"""
SQL_INSERT_IMAGE_JOB = "INSERT INTO work_jobs (kind, file_id) VALUES ('image', %s)"
# Never-sent uploads past their time; an avatar is never a message's and stays.
SQL_DELETE_UNSENT = """
    DELETE FROM files f
    WHERE f.seq IS NULL AND f.created_at < now() - make_interval(hours => %s)
      AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_file_id = f.id)
"""
# One unsent upload of its owner's (never an avatar): the chip's × in the page.
SQL_DELETE_OWN_UNSENT = """
    DELETE FROM files f
    WHERE f.key = %s AND f.owner_id = %s AND f.seq IS NULL
      AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_file_id = f.id)
"""
# The files the batch's sends name, locked until the commit so that two sends
# of one file (in different rooms, under different room locks) cannot both
# take it. Lock order: rooms first (actions/messages.py), then files; a writer that locks a
# file and then its message's room (the image worker's `files` event) must
# take the room first too.
SQL_LOCK_FILES = """
    SELECT f.id, f.key, f.owner_id, f.state, f.seq, f.name, f.size, f.media_type,
           f.width, f.height,
           EXISTS (
               SELECT 1 FROM file_variants v WHERE v.file_id = f.id AND v.variant = 'thumb'
           ) AS thumb
    FROM files f WHERE f.key = ANY(%s) ORDER BY f.id FOR NO KEY UPDATE OF f
"""
SQL_ATTACH_FILES = """
    UPDATE files SET room_id = a.room_id, seq = a.seq, position = a.position
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::smallint[])
        AS a(id, room_id, seq, position)
    WHERE files.id = a.id
"""
# States of a file that may be sent: all its bytes are there.
_SENDABLE = ("stored", "ready", "failed")


def quota_exceeded(quota: int) -> ChatError:
    """The refusal of an upload that would take its owner past `quota` bytes."""
    return ChatError(
        "quota_exceeded",
        f"this upload would take your files past your {quota:,} byte quota:"
        " delete messages with files you no longer need",
    )


def store_upload(
    conn: Connection,
    owner: User,
    name: str,
    body: Iterable[bytes],
    quota: int,
    max_pixels: int,
) -> Attachment:
    """Store an upload whose bytes `body` yields (blocks of any size), named
    `name` (already cleaned: chat/domain/files.py file_name), for `owner`; in one
    transaction, which an exception from `body` (a limit the caller enforces
    while reading, a client gone) rolls back whole.

    Raises ChatError: 'bad_request' for an empty body, 'bad_image'
    (chat/domain/media.py) for an image that cannot be read or is too large,
    'quota_exceeded' when the owner's files would pass `quota` bytes (checked
    again here under the owner's lock: two uploads at once cannot both slip in).

    (The avatars' upload, `?avatar=1`, stores its file the same way.)
    """
    with conn.transaction():
        key = new_key()
        file_id = conn.execute(SQL_INSERT_FILE, (key, owner.id, name)).fetchone()["id"]
        size, digest, sniffed = _store_chunks(conn, file_id, body, max_pixels)
        if size == 0:
            raise ChatError("bad_request", "the file is empty: send its bytes as the body")
        conn.execute(SQL_LOCK_OWNER, (owner.id,))
        used = conn.execute(SQL_OWNED_BESIDES, (owner.id, file_id)).fetchone()["used"]
        if used + size > quota:
            raise quota_exceeded(quota)
        conn.execute(
            SQL_FINISH_FILE,
            (size, sniffed.media_type, digest, sniffed.width, sniffed.height, file_id),
        )
        if sniffed.is_image:
            conn.execute(SQL_INSERT_IMAGE_JOB, (file_id,))
            wake_workers(conn, "image")
    return Attachment(key, name, size, sniffed.media_type, sniffed.width, sniffed.height)


def _store_chunks(
    conn: Connection, file_id: int, body: Iterable[bytes], max_pixels: int
) -> tuple[int, bytes, Sniffed]:
    """Write `body` as chunks of CHUNK_BYTES (the last shorter); its size, SHA-256
    and what its first chunk says it is."""
    sha = hashlib.sha256()
    pending = bytearray()
    n = size = 0
    sniffed = Sniffed("application/octet-stream")

    def write(data: bytes) -> None:
        nonlocal n, size, sniffed
        if n == 0:
            sniffed = sniff(data, max_pixels)
        sha.update(data)
        conn.execute(SQL_INSERT_CHUNK, (file_id, n, data))
        n += 1
        size += len(data)

    for block in body:
        pending += block
        while len(pending) >= CHUNK_BYTES:
            write(bytes(pending[:CHUNK_BYTES]))
            del pending[:CHUNK_BYTES]
    if pending:
        write(bytes(pending))
    return size, sha.digest(), sniffed


def delete_upload(conn: Connection, owner: User, key: str) -> None:
    """Delete an upload of `owner`'s not sent with a message (its chunks and jobs
    go with it), giving its bytes back to their quota. ChatError('not_found')
    for anything else: no such file, someone else's, sent, or an avatar."""
    with conn.transaction():
        if conn.execute(SQL_DELETE_OWN_UNSENT, (key, owner.id)).rowcount == 0:
            raise ChatError("not_found", "no unsent upload of yours has that id")


def delete_unsent_files(conn: Connection, older_than_hours: int) -> int:
    """Delete the uploads never sent with a message (nor an avatar) that are older
    than `older_than_hours`, their chunks, variants and jobs with them; how many.
    The workers' clean-up calls it (UPLOAD_UNSENT_HOURS)."""
    with conn.transaction():
        return conn.execute(SQL_DELETE_UNSENT, (older_than_hours,)).rowcount


# --- sending: the send's transaction takes its files (actions/messages.py) -------


def lock_files(conn: Connection, keys: list[str]):
    """Lock the files of these keys (SQL_LOCK_FILES) for a send's transaction; the
    cursor of their rows (a pipeline's: read it after the pipeline)."""
    return conn.execute(SQL_LOCK_FILES, (keys,))


def file_problem(
    user_id: int, keys: tuple[str, ...], files: dict[str, dict], taken: set[str]
) -> ChatError | None:
    """Why a send by `user_id` may not carry the files `keys` (None: it may), with
    `files` the locked rows by key: each must be the sender's own upload, fully
    stored, and not sent before (nor by an earlier send of the batch, `taken`).
    Someone else's file is refused like a missing one."""
    for key in keys:
        row = files.get(key)
        if row is None or row["owner_id"] != user_id:
            return ChatError("bad_request", f"no upload of yours has the id {key}")
        if row["seq"] is not None or key in taken:
            return ChatError(
                "bad_request", f"{row['name']} was already sent with a message: upload it again"
            )
        if row["state"] not in _SENDABLE:
            return ChatError("bad_request", f"{row['name']} is not fully uploaded yet")
    return None


def attach_files(conn: Connection, rows: list[tuple[int, int, int, int]]) -> None:
    """Give files (id, room_id, seq, position) their message; inside the send's
    transaction, after the messages' insert (in the same pipeline)."""
    conn.execute(SQL_ATTACH_FILES, [list(c) for c in zip(*rows, strict=True)])
