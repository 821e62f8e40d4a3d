"""Threads: the writer's part of a reply, and following and reading threads.

A reply is stored by the one send path (actions/messages.py), which calls
the functions here inside its transaction: the targets of the batch's
replies and quotes are read (and checked) with the rooms' locks, and the
threads' rows, the follows and the followers' `thread_updated` frames are
written with the messages. docs/protocol.md, "Threads", is the contract.

Who follows a thread (thread_follows, migration 0019): its root's author
(unless they unfollowed it), whoever replies (again, if they had unfollowed),
whoever a reply mentions, and whoever follows it by hand. Every socket of a
follower hears `thread_updated` when a reply arrives, when they read the
thread, and when they follow or unfollow it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from psycopg import Connection, Cursor

from chat.actions.channels import publish_user
from chat.domain.entities import Quote, Room, ThreadState, User
from chat.domain.errors import ChatError
from chat.domain.kinds import MESSAGE_KINDS
from chat.domain.render import mentioned
from chat.domain.threads import QUOTE_CHARS, THREAD_FACES, ReplyTo
from chat.protocol import outbound
from chat.storage import queries, threads


class Send(Protocol):
    """What this module reads of a send (actions/messages.py Send, which
    imports this module: named here by its shape, not imported)."""

    room: Room
    user: User
    html: str
    reply: ReplyTo


# The messages the batch's replies and quotes name, with their thread's root
# and its author: one probe of messages' primary key each.
SQL_REPLY_TARGETS = """
    SELECT k.room_id, k.seq, m.kind, m.deleted_at IS NOT NULL AS deleted,
           coalesce(m.thread_seq, m.seq) AS root_seq, u.username,
           left(m.content, %s) AS content,
           (SELECT r.user_id FROM messages r
            WHERE r.room_id = m.room_id AND r.seq = coalesce(m.thread_seq, m.seq)) AS root_user_id
    FROM unnest(%s::bigint[], %s::bigint[]) AS k(room_id, seq)
    JOIN messages m ON m.room_id = k.room_id AND m.seq = k.seq
    JOIN users u ON u.id = m.user_id
"""
# The batch's replies counted into their threads; the latest repliers first,
# each once, THREAD_FACES at most.
SQL_COUNT_REPLIES = """
    WITH k AS (
        SELECT * FROM unnest(%(room_ids)s::bigint[], %(roots)s::bigint[], %(seqs)s::bigint[],
                             %(user_ids)s::bigint[]) AS k(room_id, root_seq, seq, user_id)
    ), latest AS (
        SELECT room_id, root_seq, user_id, max(seq) AS last FROM k GROUP BY 1, 2, 3
    ), faces AS (
        SELECT room_id, root_seq, (array_agg(user_id ORDER BY last DESC))[1:%(faces)s] AS ids
        FROM latest GROUP BY 1, 2
    )
    INSERT INTO threads AS t (room_id, root_seq, reply_count, last_reply_seq, last_reply_at,
                              repliers)
    SELECT k.room_id, k.root_seq, count(*), max(k.seq), %(now)s, f.ids
    FROM k JOIN faces f USING (room_id, root_seq)
    GROUP BY k.room_id, k.root_seq, f.ids
    ON CONFLICT (room_id, root_seq) DO UPDATE SET
        reply_count = t.reply_count + excluded.reply_count,
        last_reply_seq = excluded.last_reply_seq,
        last_reply_at = excluded.last_reply_at,
        repliers = ARRAY(
            SELECT a.id FROM unnest(excluded.repliers || t.repliers) WITH ORDINALITY AS a(id, i)
            GROUP BY a.id ORDER BY min(a.i) LIMIT %(faces)s
        )
"""
# A replier follows the thread (again, if they had unfollowed it) and has
# read it up to their reply.
SQL_FOLLOW_REPLIERS = """
    INSERT INTO thread_follows AS f (user_id, room_id, root_seq, last_read_seq)
    SELECT user_id, room_id, root_seq, max(seq)
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
         AS k(user_id, room_id, root_seq, seq)
    GROUP BY user_id, room_id, root_seq
    ON CONFLICT (user_id, room_id, root_seq) DO UPDATE SET
        following = true, last_read_seq = greatest(f.last_read_seq, excluded.last_read_seq)
"""
# The root's author follows it from its first reply, with every reply unread;
# one who unfollowed stays unfollowed.
SQL_FOLLOW_ROOT_AUTHORS = """
    INSERT INTO thread_follows (user_id, room_id, root_seq)
    SELECT DISTINCT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])
    ON CONFLICT DO NOTHING
"""
# Whoever a reply mentions (the members it names, as SQL_INSERT_MENTIONS)
# follows the thread, from that reply on.
SQL_FOLLOW_MENTIONED = """
    INSERT INTO thread_follows AS f (user_id, room_id, root_seq, last_read_seq)
    SELECT u.id, k.room_id, k.root_seq, min(k.seq) - 1
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::text[])
         AS k(room_id, root_seq, seq, sender_id, username)
    JOIN users u ON lower(u.username) = k.username AND u.disabled_at IS NULL
    JOIN room_members m ON m.room_id = k.room_id AND m.user_id = u.id
    WHERE u.id <> k.sender_id
    GROUP BY u.id, k.room_id, k.root_seq
    ON CONFLICT (user_id, room_id, root_seq) DO UPDATE SET following = true
"""
# The mentions an edit of a reply added (replace_mentions wrote them with the
# edit's seq): whom they name follows the thread, with that mention unread.
SQL_FOLLOW_REMENTIONED = """
    INSERT INTO thread_follows AS f (user_id, room_id, root_seq, last_read_seq)
    SELECT n.user_id, n.room_id, %s, n.since_seq - 1
    FROM mentions n JOIN rooms r ON r.id = n.room_id
    WHERE n.room_id = %s AND n.seq = %s AND n.since_seq = r.last_seq  -- added by this edit
    ON CONFLICT (user_id, room_id, root_seq) DO UPDATE SET following = true
"""
# A reply deleted: its thread counts one fewer (its root stays a root).
# A reply deleted: one fewer, and the summary's faces and "last reply" time are
# the remaining replies' (read through messages_thread; a deletion is rare).
# last_reply_seq stays: it marks the thread's latest change, which readers'
# catch-ups compare event seqs with.
SQL_UNCOUNT_REPLY = (
    """
    UPDATE threads t
    SET reply_count = greatest(t.reply_count - 1, 0),
        last_reply_at = coalesce(r.last_at, t.last_reply_at),
        repliers = coalesce(r.ids, '{}')
    FROM (
        SELECT max(last_at) AS last_at, (array_agg(user_id ORDER BY last DESC))[1:%(faces)s] AS ids
        FROM (
            SELECT user_id, max(seq) AS last, max(created_at) AS last_at FROM messages
            WHERE room_id = %(room_id)s AND thread_seq = %(root)s
              AND deleted_at IS NULL AND kind IN """
    + queries.SQL_MESSAGE_KINDS
    + """
            GROUP BY user_id
        ) latest
    ) r
    WHERE t.room_id = %(room_id)s AND t.root_seq = %(root)s
"""
)
# Following by hand: from the thread's last reply on (what the person is
# looking at); unfollowing keeps the row, so the root's author stays unfollowed.
SQL_SET_FOLLOWING = """
    INSERT INTO thread_follows AS f (user_id, room_id, root_seq, following, last_read_seq)
    VALUES (%(user_id)s, %(room_id)s, %(root)s, %(following)s, coalesce(
        (SELECT last_reply_seq FROM threads WHERE room_id = %(room_id)s AND root_seq = %(root)s),
        %(root)s))
    ON CONFLICT (user_id, room_id, root_seq) DO UPDATE SET following = excluded.following
"""
# A person read a thread up to `seq` (never backwards, never past the room's end).
SQL_READ_THREAD = """
    UPDATE thread_follows f
    SET last_read_seq = greatest(f.last_read_seq, least(%(seq)s, r.last_seq))
    FROM rooms r
    WHERE f.user_id = %(user_id)s AND f.room_id = %(room_id)s AND f.root_seq = %(root)s
      AND r.id = f.room_id AND f.last_read_seq < least(%(seq)s, r.last_seq)
    RETURNING f.last_read_seq
"""
SQL_HAS_THREAD = "SELECT 1 FROM threads WHERE room_id = %s AND root_seq = %s"


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a checked send goes: its thread's root seq (None: the main flow),
    whether it shows in the room too, the root's author, and its quote."""

    thread_seq: int | None = None
    also_in_room: bool = False
    root_user_id: int | None = None
    quote: Quote | None = None


MAIN_FLOW = Placed()


def lock_reply_targets(conn: Connection, sends: Sequence[Send]) -> Cursor | None:
    """In the send's first pipeline: read the messages the sends reply to or
    quote (their rows are under their rooms' locks, taken just before). None
    when no send replies or quotes."""
    keys = sorted(
        {(s.room.id, seq) for s in sends for seq in (s.reply.thread, s.reply.quote) if seq}
    )
    if not keys:
        return None
    return conn.execute(
        SQL_REPLY_TARGETS, (QUOTE_CHARS, [k[0] for k in keys], [k[1] for k in keys])
    )


def reply_targets(cursor: Cursor | None) -> dict[tuple[int, int], dict]:
    """lock_reply_targets' rows by (room_id, seq)."""
    if cursor is None:
        return {}
    return {(row["room_id"], row["seq"]): row for row in cursor.fetchall()}


def place_reply(send: Send, targets: dict[tuple[int, int], dict]) -> Placed | ChatError:
    """Where `send` goes, or why it cannot: ChatError('not_found') for a thread
    or quote that is not a message of the room (an event, a membership line,
    a seq not taken), or a quote of a deleted message. A reply to a reply
    goes to the same thread; a deleted root still takes replies (its thread
    stays readable)."""
    reply = send.reply
    if not reply:
        return MAIN_FLOW
    placed = MAIN_FLOW
    if reply.thread is not None:
        target = targets.get((send.room.id, reply.thread))
        if target is None or target["kind"] not in MESSAGE_KINDS:
            return ChatError("not_found", f"no message {reply.thread} in #{send.room.name}")
        placed = Placed(target["root_seq"], reply.also_in_room, target["root_user_id"])
    if reply.quote is not None:
        target = targets.get((send.room.id, reply.quote))
        if target is not None and target["kind"] in MESSAGE_KINDS and target["deleted"]:
            return ChatError("not_found", "the message you quote was deleted")
        if target is None or target["kind"] not in MESSAGE_KINDS:
            return ChatError("not_found", f"no message {reply.quote} in #{send.room.name}")
        quote = Quote(reply.quote, target["username"], target["content"])
        placed = Placed(placed.thread_seq, placed.also_in_room, placed.root_user_id, quote)
    return placed


def follow_replies(
    conn: Connection, replies: list[tuple[Send, int, Placed]], now: datetime
) -> Cursor:
    """In the send's second pipeline, after the messages and their mentions:
    count `replies` ((send, seq, placement) of the batch's replies) into their
    threads, make their authors, their roots' authors and whom they mention
    follow them; returns the cursor of the followers' states (tell_followers)."""
    threads_of = sorted({(s.room.id, p.thread_seq) for s, _, p in replies})
    columns = {
        "room_ids": [s.room.id for s, _, _ in replies],
        "roots": [p.thread_seq for _, _, p in replies],
        "seqs": [seq for _, seq, _ in replies],
        "user_ids": [s.user.id for s, _, _ in replies],
    }
    conn.execute(SQL_COUNT_REPLIES, {**columns, "now": now, "faces": THREAD_FACES})
    conn.execute(
        SQL_FOLLOW_REPLIERS,
        (columns["user_ids"], columns["room_ids"], columns["roots"], columns["seqs"]),
    )
    authors = sorted({(p.root_user_id, s.room.id, p.thread_seq) for s, _, p in replies})
    conn.execute(SQL_FOLLOW_ROOT_AUTHORS, [list(c) for c in zip(*authors, strict=True)])
    named = [
        (s.room.id, p.thread_seq, seq, s.user.id, name)
        for s, seq, p in replies
        for name in mentioned(s.html)
    ]
    if named:
        conn.execute(SQL_FOLLOW_MENTIONED, [list(c) for c in zip(*named, strict=True)])
    return threads.query_follower_states(conn, threads_of)


def tell_followers(conn: Connection, cursor: Cursor) -> None:
    """After follow_replies' pipeline, inside the same transaction: every
    follower's sockets hear the thread's `thread_updated` (their counts now)."""
    rows = cursor.fetchall()
    if not rows:
        return
    with conn.pipeline():
        for row in rows:
            publish_user(
                conn, row["user_id"], outbound.thread_updated_frame(ThreadState.from_row(row))
            )


def uncount_reply(conn: Connection, room_id: int, root: int) -> None:
    """A reply of thread `root` was deleted (its row marked already): one fewer,
    the summary's faces and time the remaining replies', and its followers hear
    their counts without it (`thread_updated`: it may have been unread, or
    mentioned them). Inside the deleting transaction (under the room's lock)."""
    conn.execute(SQL_UNCOUNT_REPLY, {"room_id": room_id, "root": root, "faces": THREAD_FACES})
    tell_followers(conn, threads.query_follower_states(conn, [(room_id, root)]))


def remention_reply(conn: Connection, room_id: int, root: int, seq: int) -> None:
    """Reply `seq` of thread `root` was edited: whom it now mentions follow the
    thread (from the edit on), and the followers hear their counts (an added
    mention counts, a removed one no longer). Inside the editing transaction,
    after its mentions were replaced (actions.messages.replace_mentions)."""
    conn.execute(SQL_FOLLOW_REMENTIONED, (root, room_id, seq))
    tell_followers(conn, threads.query_follower_states(conn, [(room_id, root)]))


def set_following(
    conn: Connection, room: Room, user: User, root: int, following: bool
) -> ThreadState:
    """Follow or unfollow the thread of message `root` (a reply's seq names its
    thread) in a room the user may read; their sockets hear `thread_updated`.
    Returns their state of it. ChatError('not_found') if `root` is not a
    message of the room; ('forbidden') if they are not a member (only members
    follow: counts are about one's rooms, DESIGN §9)."""
    with conn.transaction():
        root = _root(conn, room, root)
        params = {"user_id": user.id, "room_id": room.id, "root": root, "following": following}
        conn.execute(SQL_SET_FOLLOWING, params)
        state = threads.thread_state(conn, user.id, room.id, root)
        if state is None:
            raise ChatError("forbidden", f"join #{room.name} to follow its threads")
        publish_user(conn, user.id, outbound.thread_updated_frame(state))
    return state


def read_thread(
    conn: Connection, room: Room, user: User, root: int, seq: int
) -> ThreadState | None:
    """Record that the user has seen thread `root` up to `seq`; when that moved
    their read seq, every socket of theirs hears `thread_updated` and the
    room's counts (`read`: a mention in the thread counted there). Returns
    their state of it (None: they do not follow it and never did, or are not a
    member). ChatError('not_found') if `root` is not a message of the room."""
    with conn.transaction():
        root = _root(conn, room, root)
        params = {"user_id": user.id, "room_id": room.id, "root": root, "seq": seq}
        moved = conn.execute(SQL_READ_THREAD, params).fetchone() is not None
        state = threads.thread_state(conn, user.id, room.id, root)
        if moved and state is not None:
            publish_user(conn, user.id, outbound.thread_updated_frame(state))
            # The room's own counts hold the thread's mentions until it is read:
            # every device hears them as they are now (`read`, as a room read).
            listing = queries.member_room(conn, user.id, room.id)
            if listing is not None:
                publish_user(conn, user.id, outbound.read_frame(listing))
    return state


def _root(conn: Connection, room: Room, seq: int) -> int:
    root = threads.root_of(conn, room.id, seq)
    if root is None:
        raise ChatError("not_found", f"no message {seq} in #{room.name}")
    return root
