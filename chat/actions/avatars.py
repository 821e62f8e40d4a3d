"""A person's avatar (docs/files.md "Avatars"): a picture of theirs, kept as a
file they own that no message ever takes, pointed at by users.avatar_file_id
(the pointer is also what tells the image job to cut it square).

Setting one stores its bytes in chunks, queues its `image` job and wakes the
workers, and deletes the avatar it replaces (its file, chunks and job go
with it), in one transaction. Until the worker has made its thumbnail,
people keep seeing the initials.
"""

import hashlib
import secrets
from collections.abc import Iterable

from psycopg import Connection

from chat.actions.channels import wake_workers

# As chat/actions/variants.py: a chunk row holds at most 256 KiB.
CHUNK_BYTES = 256 * 1024

SQL_LOCK_USER = "SELECT avatar_file_id FROM users WHERE id = %s FOR UPDATE"
SQL_INSERT_FILE = """
    INSERT INTO files (key, owner_id, name, media_type, width, height)
    VALUES (%s, %s, %s, %s, %s, %s)
    RETURNING id
"""
SQL_INSERT_CHUNK = """
    INSERT INTO file_chunks (file_id, variant, n, data) VALUES (%s, 'original', %s, %s)
"""
SQL_STORED = "UPDATE files SET size = %s, sha256 = %s, state = 'stored' WHERE id = %s"
SQL_SET_AVATAR = "UPDATE users SET avatar_file_id = %s WHERE id = %s"
SQL_DELETE_FILE = "DELETE FROM files WHERE id = %s AND owner_id = %s"
SQL_INSERT_IMAGE_JOB = "INSERT INTO work_jobs (kind, file_id) VALUES ('image', %s)"


def set_avatar(
    conn: Connection,
    user_id: int,
    name: str,
    data: Iterable[bytes],
    media_type: str,
    width: int,
    height: int,
) -> str:
    """Make the picture whose bytes `data` yields (any pieces; stored in 256 KiB
    chunks as they come) the user's avatar, replacing any before; the new
    file's key. The caller has checked it is an image (`media_type`, sniffed)
    within the size limit; the worker checks it again when it cuts it."""
    key = secrets.token_urlsafe(16)  # 128 bits: 22 URL-safe characters
    with conn.transaction():
        previous = conn.execute(SQL_LOCK_USER, (user_id,)).fetchone()["avatar_file_id"]
        file_id = conn.execute(
            SQL_INSERT_FILE, (key, user_id, name, media_type, width, height)
        ).fetchone()["id"]
        digest, size, n = hashlib.sha256(), 0, 0
        pending = bytearray()
        for piece in data:
            pending += piece
            while len(pending) >= CHUNK_BYTES:
                size, n = _chunk(conn, file_id, n, bytes(pending[:CHUNK_BYTES]), digest, size)
                del pending[:CHUNK_BYTES]
        if pending:
            size, n = _chunk(conn, file_id, n, bytes(pending), digest, size)
        conn.execute(SQL_STORED, (size, digest.digest(), file_id))
        conn.execute(SQL_SET_AVATAR, (file_id, user_id))
        if previous is not None:
            conn.execute(SQL_DELETE_FILE, (previous, user_id))
        conn.execute(SQL_INSERT_IMAGE_JOB, (file_id,))
        wake_workers(conn, "image")
    return key


def remove_avatar(conn: Connection, user_id: int) -> bool:
    """Back to the initials: the avatar's file is deleted; whether there was one."""
    with conn.transaction():
        previous = conn.execute(SQL_LOCK_USER, (user_id,)).fetchone()["avatar_file_id"]
        if previous is None:
            return False
        conn.execute(SQL_SET_AVATAR, (None, user_id))
        conn.execute(SQL_DELETE_FILE, (previous, user_id))
    return True


def _chunk(
    conn: Connection, file_id: int, n: int, data: bytes, digest, size: int
) -> tuple[int, int]:
    conn.execute(SQL_INSERT_CHUNK, (file_id, n, data))
    digest.update(data)
    return size + len(data), n + 1
