"""Read-only SQL about uploaded files (docs/files.md): who may fetch one, its
bytes a chunk at a time, a person's quota.

Visibility is decided in SQL by the one rule every read uses
(queries.SQL_READABLE_BY on the message's room), so a file nobody may see
answers exactly like one that does not exist.
"""

from dataclasses import dataclass

from psycopg import Connection

from chat.domain.entities import Attachment
from chat.storage.queries import SQL_READABLE_BY

# Whether a file that is no message's is someone's avatar (everyone logged in
# may see those, docs/files.md). The avatars' work (`?avatar=1` uploads) makes
# this `EXISTS (SELECT 1 FROM users a WHERE a.avatar_file_id = f.id)`; until
# then no file counts as one.
SQL_AVATAR_OF_F = "false"

# A file by its key, if user %(user_id)s may fetch it: its owner while it is
# no message's (or an avatar); once sent, whoever may read the message's room,
# while the message is not deleted. Its variants (clean, thumb) with it.
SQL_READABLE_FILE = (
    """
    SELECT f.id, f.key, f.owner_id, f.name, f.size, f.media_type, f.sha256, f.width,
           f.height, f.state, f.room_id, f.seq,
           (SELECT json_object_agg(v.variant, json_build_object(
                       'media_type', v.media_type, 'size', v.size,
                       'sha256', encode(v.sha256, 'hex')))
            FROM file_variants v WHERE v.file_id = f.id) AS variants
    FROM files f
    LEFT JOIN messages m ON m.room_id = f.room_id AND m.seq = f.seq
    LEFT JOIN rooms r ON r.id = f.room_id
    WHERE f.key = %(key)s AND f.state <> 'uploading'
      AND CASE WHEN f.seq IS NULL
               THEN f.owner_id = %(user_id)s OR """
    + SQL_AVATAR_OF_F
    + """
               ELSE m.deleted_at IS NULL AND """
    + SQL_READABLE_BY
    + """
          END
"""
)
SQL_CHUNK = """
    SELECT data FROM file_chunks WHERE file_id = %s AND variant = %s AND n = %s
"""
# Chunk lengths without reading the data (a bytea's length is in its header).
SQL_CHUNK_SIZES = """
    SELECT length(data) AS size FROM file_chunks
    WHERE file_id = %s AND variant = %s ORDER BY n
"""
SQL_QUOTA_USED = "SELECT coalesce(sum(size), 0)::bigint AS used FROM files WHERE owner_id = %s"


@dataclass(frozen=True, slots=True)
class Variant:
    """One form of a file's bytes: the original, or a derived `clean` or `thumb`."""

    name: str
    media_type: str
    size: int
    sha256: str  # hex


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file a reader may fetch, with what the download needs to choose its bytes."""

    id: int
    key: str
    owner_id: int
    name: str
    state: str
    width: int | None
    height: int | None
    sent: bool
    original: Variant
    variants: dict[str, Variant]

    @property
    def attachment(self) -> Attachment:
        return Attachment(
            self.key,
            self.name,
            self.original.size,
            self.original.media_type,
            self.width,
            self.height,
            "thumb" in self.variants,
            self.state,
        )


def readable_file(conn: Connection, key: str, user_id: int) -> StoredFile | None:
    """The file with that key if the user may fetch it; None otherwise (missing,
    unsent and not theirs, its message deleted or in a room they cannot read)."""
    row = conn.execute(SQL_READABLE_FILE, {"key": key, "user_id": user_id}).fetchone()
    if row is None:
        return None
    original = Variant("original", row["media_type"], row["size"], (row["sha256"] or b"").hex())
    variants = {
        name: Variant(name, v["media_type"], v["size"], v["sha256"])
        for name, v in (row["variants"] or {}).items()
    }
    return StoredFile(
        row["id"],
        row["key"],
        row["owner_id"],
        row["name"],
        row["state"],
        row["width"],
        row["height"],
        row["seq"] is not None,
        original,
        variants,
    )


def chunk(conn: Connection, file_id: int, variant: str, n: int) -> bytes | None:
    """Chunk `n` (from 0) of a file's variant; None past its last."""
    row = conn.execute(SQL_CHUNK, (file_id, variant, n)).fetchone()
    return None if row is None else bytes(row["data"])


def chunk_sizes(conn: Connection, file_id: int, variant: str) -> list[int]:
    """The lengths of a variant's chunks, in order (where a range starts)."""
    return [row["size"] for row in conn.execute(SQL_CHUNK_SIZES, (file_id, variant))]


def quota_used(conn: Connection, user_id: int) -> int:
    """Bytes of files the user owns (sent or not)."""
    return conn.execute(SQL_QUOTA_USED, (user_id,)).fetchone()["used"]
