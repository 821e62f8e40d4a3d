"""Read-only SQL of the thread pages (GET /rooms/<name>/threads/<seq>): a
thread's root and replies with their authors' display names, as the history
pages show them, and where in a long thread a reply's page starts; and the
roots a history page names beside its replies also sent to the room."""

from psycopg import Connection

from chat.domain.entities import Message
from chat.domain.threads import ROOT_READ_CHARS
from chat.storage.queries import SQL_MESSAGE_KINDS, SQL_NAMED_MESSAGE_ROWS, messages_from_rows
from chat.storage.threads import SQL_THREAD_WHERE

# As threads.SQL_THREAD_MESSAGES (the root by primary key, replies by the
# messages_thread index), each row with its author's display name.
SQL_THREAD_PAGE = SQL_NAMED_MESSAGE_ROWS + SQL_THREAD_WHERE
# The root alone (a page past the first shows it too, above its replies).
SQL_THREAD_ROOT = (
    SQL_NAMED_MESSAGE_ROWS
    + """
    WHERE m.room_id = %s AND m.seq = %s
"""
)
# The given roots of the room, each with its author's name and the start of
# its text (primary key probes): what "replied in a thread" names. A deleted
# root's text is already '' (actions.delete_message).
SQL_ROOTS_AT = """
    SELECT m.seq, u.username, u.display_name, left(m.content, %s) AS content,
           m.created_at, m.kind, m.deleted_at
    FROM messages m JOIN users u ON u.id = m.user_id
    WHERE m.room_id = %s AND m.seq = ANY(%s)
"""
# Replies of the thread before seq `before`, counted up to `limit` (the
# messages_thread index): whether a reply is on the thread page's first page.
SQL_REPLIES_BEFORE = (
    """
    SELECT count(*) AS n FROM (
        SELECT 1 FROM messages
        WHERE room_id = %s AND thread_seq = %s AND seq < %s AND kind IN """
    + SQL_MESSAGE_KINDS
    + """
        LIMIT %s
    ) before_it
"""
)


def thread_page(conn: Connection, room_id: int, root: int, after: int, limit: int) -> list[Message]:
    """The thread's root (when `after` is below it) and its replies with seq >
    after, oldest first, `limit` at most, each with its author's display_name."""
    params = {"room_id": room_id, "root": root, "after": after, "limit": limit}
    return messages_from_rows(conn.execute(SQL_THREAD_PAGE, params).fetchall())


def thread_root(conn: Connection, room_id: int, root: int) -> Message | None:
    """The thread's root message as it is now, with its author's display_name."""
    rows = conn.execute(SQL_THREAD_ROOT, (room_id, root)).fetchall()
    return messages_from_rows(rows)[0] if rows else None


def replies_before(conn: Connection, room_id: int, root: int, seq: int, limit: int) -> int:
    """How many of the thread's replies come before `seq` (`limit` at most)."""
    return conn.execute(SQL_REPLIES_BEFORE, (room_id, root, seq, limit)).fetchone()["n"]


def roots_at(conn: Connection, room_id: int, seqs: set[int]) -> dict[int, Message]:
    """The room's messages `seqs` (threads' roots) by seq, in one read: each with
    its author's display_name and the first ROOT_READ_CHARS of its text (no
    html, files or reactions: a snippet's worth)."""
    if not seqs:
        return {}
    rows = conn.execute(SQL_ROOTS_AT, (ROOT_READ_CHARS, room_id, sorted(seqs))).fetchall()
    return {row["seq"]: Message.from_row(row) for row in rows}
