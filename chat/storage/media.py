"""Reads for the work queue's jobs and for avatars (docs/files.md): what a job
works on, a file's bytes a chunk at a time, a message's attachments as they
are now, and people's avatars.

Only reads: the writes are chat/actions/work.py, variants.py, cards.py and
avatars.py.
"""

from collections.abc import Iterable, Iterator, Sequence

from psycopg import Connection

from chat.domain.entities import Attachment

# Seconds until the next job of these kinds can be claimed (<= 0: now), NULL
# when there is none: a retry's run_after, or a lapsed claim's claimed_until.
SQL_NEXT_WORK_DUE = """
    SELECT extract(epoch FROM min(greatest(run_after, coalesce(claimed_until, run_after)))
                   - now()) AS wait
    FROM work_jobs WHERE kind = ANY(%s) AND state = 'pending'
"""
# An image job's file; `avatar` when someone's avatar points at it (the only
# mark an avatar has: it is never attached to a message).
SQL_FILE_TO_DERIVE = """
    SELECT f.id, f.key, f.owner_id, f.name, f.size, f.media_type, f.state, f.room_id, f.seq,
           EXISTS (SELECT 1 FROM users u WHERE u.avatar_file_id = f.id) AS avatar
    FROM files f WHERE f.id = %s
"""
SQL_CHUNKS = """
    SELECT data FROM file_chunks WHERE file_id = %s AND variant = %s ORDER BY n
"""
# A message's files in order, each with whether its thumbnail exists: what a
# frame lists (protocol/outbound.py file_json).
SQL_MESSAGE_FILES = """
    SELECT f.key, f.name, f.size, f.media_type, f.width, f.height, f.state,
           EXISTS (SELECT 1 FROM file_variants v
                   WHERE v.file_id = f.id AND v.variant = 'thumb') AS thumb
    FROM files f WHERE f.room_id = %s AND f.seq = %s ORDER BY f.position
"""
# A person's avatar as served: its thumbnail's file and checksum, once made.
SQL_AVATAR = """
    SELECT f.id, f.key, f.state, v.media_type, v.size, v.sha256
    FROM users u
    JOIN files f ON f.id = u.avatar_file_id
    LEFT JOIN file_variants v ON v.file_id = f.id AND v.variant = 'thumb'
    WHERE lower(u.username) = lower(%s) AND u.disabled_at IS NULL
"""
# Whose avatars can be shown (the thumbnail made): username -> the file's key,
# which versions the avatar's URL.
SQL_AVATARS_OF = """
    SELECT u.username, f.key
    FROM users u JOIN files f ON f.id = u.avatar_file_id
    WHERE u.username = ANY(%s) AND f.state = 'ready'
"""


def next_work_due(conn: Connection, kinds: Sequence[str]) -> float | None:
    """Seconds until the next job of `kinds` can be claimed (<= 0: now); None: no jobs."""
    return conn.execute(SQL_NEXT_WORK_DUE, (list(kinds),)).fetchone()["wait"]


def file_to_derive(conn: Connection, file_id: int) -> dict | None:
    """The file an image job works on (None: deleted meanwhile): id, key,
    owner_id, name, size, media_type, state, room_id, seq, and `avatar`."""
    return conn.execute(SQL_FILE_TO_DERIVE, (file_id,)).fetchone()


def chunks(conn: Connection, file_id: int, variant: str = "original") -> Iterator[bytes]:
    """A file variant's bytes, a chunk (256 KiB at most) at a time, streamed
    from the server: a reader holds one chunk, whatever the file's size."""
    for row in conn.cursor().stream(SQL_CHUNKS, (file_id, variant)):
        yield row["data"]


def message_files(conn: Connection, room_id: int, seq: int) -> tuple[Attachment, ...]:
    """Message `seq`'s files as they are now, in order, thumbnails flagged."""
    rows = conn.execute(SQL_MESSAGE_FILES, (room_id, seq)).fetchall()
    return tuple(Attachment.from_row(row) for row in rows)


def avatar(conn: Connection, username: str) -> dict | None:
    """`username`'s avatar (id, key, state, and the thumbnail's media_type,
    size and sha256, None until made); None when they have none."""
    return conn.execute(SQL_AVATAR, (username,)).fetchone()


def avatars_of(conn: Connection, usernames: Iterable[str]) -> dict[str, str]:
    """{username: avatar file key} of those of `usernames` whose avatar can be shown."""
    rows = conn.execute(SQL_AVATARS_OF, (list(set(usernames)),))
    return {row["username"]: row["key"] for row in rows}
