"""The rows of a room export, read in batches from a server-side cursor
(chat/web/export.py encodes them as JSON Lines or CSV)."""

from collections.abc import Iterator

from psycopg import Connection
from psycopg.rows import dict_row, tuple_row

from chat.storage import queries

# Messages only (chat and /me actions), never events; a deleted message's text
# is gone (NULL here, whatever its row holds), and so are its files (deleted
# with it). `files`: a message's files in order (key, name, size, type).
# `thread`: a reply's root seq (docs/protocol.md, Threads), `also_in_room` when
# it shows in the room too, `quote` the seq a quote-reply quotes. Times are ISO 8601 UTC with
# milliseconds, as in the protocol. The primary key (room_id, seq) gives the
# order without a sort.
SQL_EXPORT = (
    """
    SELECT m.seq,
           to_char(m.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS time,
           u.username,
           m.kind,
           CASE WHEN m.deleted_at IS NULL THEN m.content END AS content,
           to_char(m.edited_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS edited_at,
           m.deleted_at IS NOT NULL AS deleted,
           """
    + queries.SQL_REACTIONS_OF_M
    + """ AS reactions,
           (SELECT json_agg(json_build_object('key', f.key, 'name', f.name, 'size', f.size,
                                              'type', f.media_type) ORDER BY f.position)
            FROM files f WHERE f.room_id = m.room_id AND f.seq = m.seq) AS files,
           m.thread_seq AS thread,
           m.also_in_room,
           m.quote_seq AS quote
    FROM messages m
    JOIN users u ON u.id = m.user_id
    WHERE m.room_id = %s AND m.kind IN """
    + queries.SQL_MESSAGE_KINDS
    + """
    ORDER BY m.seq
"""
)


def batches(conn: Connection, room_id: int, size: int, as_tuples: bool) -> Iterator[list]:
    """The room's messages in seq order, `size` rows a batch, as dicts (keys as
    SQL_EXPORT names them) or tuples in that order. A named (server-side)
    cursor: call inside a transaction, and drop each batch before asking for
    the next, so memory holds one batch whatever the room's size."""
    factory = tuple_row if as_tuples else dict_row
    with conn.cursor(name="room_export", row_factory=factory) as cursor:
        cursor.execute(SQL_EXPORT, (room_id,))
        while batch := cursor.fetchmany(size):
            yield batch
            del batch  # not kept alive while the next one is fetched
