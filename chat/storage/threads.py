"""Read-only SQL of threads (docs/protocol.md, Threads): a thread's messages,
and threads as their followers have them (state, counts, the Threads view).

A follower's counts are about rooms they are a member of (DESIGN §9): a
thread of a room they left counts nothing and is not listed.
"""

from psycopg import Connection, Cursor

from chat.domain.entities import FollowedThread, Message, ThreadState, ThreadSummary
from chat.domain.threads import THREADS_FRAME_MAX
from chat.storage.queries import (
    SQL_MESSAGE_KINDS,
    SQL_MESSAGE_ROWS,
    UNREAD_MAX,
    messages_from_rows,
)

# One follower's state of one thread, for a row `f` of thread_follows joined
# with its `threads` row `t` and room `r`: replies by others after their read
# seq (at most UNREAD_MAX rows of the messages_thread index), and their
# mentions that appeared after it (since_seq: the reply's, or the edit's that
# added the mention).
_STATE_COLUMNS = (
    """
    SELECT r.name AS room, f.room_id, f.root_seq, f.user_id, f.following, f.last_read_seq,
           t.last_reply_seq, t.reply_count, t.last_reply_at,
           (
               SELECT count(*) FROM (
                   SELECT 1 FROM messages x
                   WHERE x.room_id = f.room_id AND x.thread_seq = f.root_seq
                     AND x.seq > f.last_read_seq AND x.kind IN """
    + SQL_MESSAGE_KINDS
    + """ AND x.deleted_at IS NULL AND x.user_id <> f.user_id
                   LIMIT %(unread_max)s
               ) unread_rows
           ) AS unread,
           (
               SELECT count(*) FROM mentions n
               JOIN messages x ON x.room_id = n.room_id AND x.seq = n.seq
               WHERE n.user_id = f.user_id AND n.room_id = f.room_id
                 AND x.thread_seq = f.root_seq AND n.since_seq > f.last_read_seq
                 AND x.deleted_at IS NULL
           ) AS mentions
    FROM thread_follows f
    JOIN threads t ON t.room_id = f.room_id AND t.root_seq = f.root_seq
    JOIN rooms r ON r.id = f.room_id
    JOIN room_members rm ON rm.room_id = f.room_id AND rm.user_id = f.user_id
"""
)
# The followers of the given threads, each with their state: whom the writer
# tells of a new reply (thread_follows_thread index). FOR SHARE: a follower
# reading the thread meanwhile (actions.read_thread updates their row) either
# commits first, and this reads their new read seq, or waits for the reply's
# commit and tells the count after it; so the last thread_updated a device
# gets is never a stale count.
SQL_FOLLOWER_STATES = (
    _STATE_COLUMNS
    + """
    WHERE (f.room_id, f.root_seq) IN (
        SELECT * FROM unnest(%(room_ids)s::bigint[], %(roots)s::bigint[])
    ) AND f.following
    FOR SHARE OF f
"""
)
# One person's state of one thread (None: no row, or not a member).
SQL_THREAD_STATE = (
    _STATE_COLUMNS
    + """
    WHERE f.user_id = %(user_id)s AND f.room_id = %(room_id)s AND f.root_seq = %(root)s
"""
)
# A person's followed threads that have replies after their read seq (the
# `threads` frame on connect), newest activity first.
SQL_UNREAD_THREADS = (
    "SELECT * FROM ("
    + _STATE_COLUMNS
    + """
    WHERE f.user_id = %(user_id)s AND f.following AND t.last_reply_seq > f.last_read_seq
) s WHERE s.unread > 0 OR s.mentions > 0
ORDER BY s.last_reply_seq DESC
"""
)
# The Threads view: a person's followed threads, those with unread replies
# first, then by their last reply, newest first; keyset-free (a page of
# `limit`, the view shows the most recent).
SQL_FOLLOWED_THREADS = (
    "SELECT * FROM ("
    + _STATE_COLUMNS
    + """
    WHERE f.user_id = %(user_id)s AND f.following
) s ORDER BY (s.unread > 0 OR s.mentions > 0) DESC, s.last_reply_at DESC
LIMIT %(limit)s
"""
)
# A thread's root and its replies after `after`, in seq order (messages_thread
# index; the root by primary key): the WHERE of the thread reads, here and on
# the thread pages (chat/storage/thread_pages.py).
SQL_THREAD_WHERE = (
    """
    WHERE m.room_id = %(room_id)s
      AND ((m.seq = %(root)s AND %(after)s < %(root)s)
           OR (m.thread_seq = %(root)s AND m.seq > %(after)s AND m.kind IN """
    + SQL_MESSAGE_KINDS
    + """))
    ORDER BY m.seq
    LIMIT %(limit)s
"""
)
SQL_THREAD_MESSAGES = SQL_MESSAGE_ROWS + SQL_THREAD_WHERE
# A thread's replies (the messages_thread index) after one seq and before
# another: the first `limit` of them (paging forward), or the last `limit`
# (the newest, paging back), oldest first either way.
_REPLIES_WHERE = (
    """
    WHERE m.room_id = %(room_id)s AND m.thread_seq = %(root)s
      AND m.seq > %(after)s AND m.seq < %(before)s AND m.kind IN """
    + SQL_MESSAGE_KINDS
)
SQL_FIRST_REPLIES = SQL_MESSAGE_ROWS + _REPLIES_WHERE + " ORDER BY m.seq LIMIT %(limit)s"
SQL_LAST_REPLIES = (
    "SELECT * FROM ("
    + SQL_MESSAGE_ROWS
    + _REPLIES_WHERE
    + " ORDER BY m.seq DESC LIMIT %(limit)s) newest ORDER BY seq"
)
# The given messages (room_id, seq) in their current state: the roots of a
# page of the Threads view, in one read (messages' primary key).
SQL_MESSAGES_AT = (
    SQL_MESSAGE_ROWS.replace("SELECT", "SELECT m.room_id AS at_room_id,", 1)
    + """
    WHERE (m.room_id, m.seq) IN (SELECT * FROM unnest(%s::bigint[], %s::bigint[]))
"""
)
# The root of the thread message `seq` belongs to: itself, or its thread's root.
SQL_ROOT_OF = (
    """
    SELECT coalesce(thread_seq, seq) AS root FROM messages
    WHERE room_id = %s AND seq = %s AND kind IN """
    + SQL_MESSAGE_KINDS
)


def _params(**params) -> dict:
    return {"unread_max": UNREAD_MAX, **params}


def query_follower_states(conn: Connection, threads: list[tuple[int, int]]) -> Cursor:
    """Ask for the state of every follower of the given (room_id, root_seq)
    threads who is a member of its room: a cursor whose rows have `user_id`
    and ThreadState.from_row's columns (sent in a pipeline, read after it)."""
    params = _params(room_ids=[t[0] for t in threads], roots=[t[1] for t in threads])
    return conn.execute(SQL_FOLLOWER_STATES, params)


def thread_state(conn: Connection, user_id: int, room_id: int, root: int) -> ThreadState | None:
    """The person's state of the thread; None if they never followed it or are
    not a member of its room."""
    params = _params(user_id=user_id, room_id=room_id, root=root)
    row = conn.execute(SQL_THREAD_STATE, params).fetchone()
    return ThreadState.from_row(row) if row else None


def unread_threads(conn: Connection, user_id: int) -> list[ThreadState]:
    """The person's followed threads with unread replies or mentions, newest
    activity first, THREADS_FRAME_MAX at most."""
    rows = conn.execute(SQL_UNREAD_THREADS, _params(user_id=user_id)).fetchmany(THREADS_FRAME_MAX)
    return [ThreadState.from_row(row) for row in rows]


def followed_threads(conn: Connection, user_id: int, limit: int) -> list[FollowedThread]:
    """The Threads view: the person's followed threads (unread first, then the
    latest reply first), each with its root message as it is now."""
    rows = conn.execute(SQL_FOLLOWED_THREADS, _params(user_id=user_id, limit=limit)).fetchall()
    keys = [(row["room_id"], row["root_seq"]) for row in rows]
    found = conn.execute(SQL_MESSAGES_AT, ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
    at = [(row["at_room_id"], row["seq"]) for row in found]
    roots = dict(zip(at, messages_from_rows(found), strict=True))
    followed = []
    for row in rows:
        root = roots[(row["room_id"], row["root_seq"])]
        replies = root.replies or ThreadSummary(0, row["last_reply_seq"], row["last_reply_at"])
        followed.append(FollowedThread(ThreadState.from_row(row), root, replies))
    return followed


def root_of(conn: Connection, room_id: int, seq: int) -> int | None:
    """The root seq of the thread message `seq` opens or belongs to (its own seq
    for a message that is not a reply); None if `seq` is not a message."""
    row = conn.execute(SQL_ROOT_OF, (room_id, seq)).fetchone()
    return row["root"] if row else None


def replies(
    conn: Connection, room_id: int, root: int, after: int, before: int, limit: int, newest: bool
) -> list[Message]:
    """Up to `limit` replies of the thread with after < seq < before, oldest
    first: the first of them, or with `newest` the last (paging back)."""
    params = {"room_id": room_id, "root": root, "after": after, "before": before, "limit": limit}
    sql = SQL_LAST_REPLIES if newest else SQL_FIRST_REPLIES
    return messages_from_rows(conn.execute(sql, params).fetchall())


def message_at(conn: Connection, room_id: int, seq: int) -> Message | None:
    """Message `seq` of the room in its current state (a thread's root)."""
    rows = conn.execute(SQL_MESSAGES_AT, ([room_id], [seq])).fetchall()
    return messages_from_rows(rows)[0] if rows else None


def thread_messages(
    conn: Connection, room_id: int, root: int, after: int, limit: int
) -> list[Message]:
    """The thread's root (when `after` is below it) and its replies with seq >
    after, oldest first, `limit` at most; each message in its current state."""
    params = {"room_id": room_id, "root": root, "after": after, "limit": limit}
    return messages_from_rows(conn.execute(SQL_THREAD_MESSAGES, params).fetchall())
