"""Read-only SQL of the thread pages (GET /rooms/<name>/threads/<seq>): a
thread's root and replies with their authors' display names, as the history
pages show them, and where in a long thread a reply's page starts."""

from psycopg import Connection

from chat.domain.entities import Message
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
