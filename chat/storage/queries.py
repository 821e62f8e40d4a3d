"""Read-only SQL: users, tokens, rooms and messages as the views and the hub need them."""

from psycopg import Connection

from chat.domain.entities import (
    ApiToken,
    IncomingWebhook,
    LoginSession,
    Member,
    Message,
    Room,
    RoomListing,
    User,
)
from chat.domain.kinds import ALL_KINDS, MEMBER_KINDS, MESSAGE_KINDS, RENDERED_KINDS
from chat.domain.render import render

# chat/domain/kinds.py MESSAGE_KINDS in SQL ("a message people wrote"): every
# query says `m.kind IN ` + SQL_MESSAGE_KINDS. Text in the query, never a
# parameter: the partial indexes on messages (migration 0007) are chosen by
# the planner only when it can read the condition in the query. A literal, as
# all SQL here is (tests/storage/test_injection.py); tests/domain/test_kinds.py checks it
# against MESSAGE_KINDS.
SQL_MESSAGE_KINDS = "('chat', 'action')"

SQL_USER_BY_NAME = """
    SELECT id, username FROM users
    WHERE lower(username) = lower(%s) AND disabled_at IS NULL
"""
SQL_CREDENTIALS = """
    SELECT id, username, password_hash FROM users
    WHERE lower(username) = lower(%s) AND disabled_at IS NULL
"""
SQL_USER_BY_SESSION = """
    SELECT u.id, u.username FROM user_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.token_hash = %s AND u.disabled_at IS NULL
"""

# A room is visible to a user when it is public or the user is a member; every
# route answers a room that is not visible exactly like one that does not exist.
# The visibility rule, one condition on a room `r` for the user %(user_id)s:
# public rooms, and private or direct rooms the user is a member of. Every
# read of rooms for a reader uses it (here, and the search in
# chat/storage/search.py); a room outside it answers like a missing one.
SQL_READABLE_BY = """(NOT r.is_private OR EXISTS (
            SELECT 1 FROM room_members rm WHERE rm.room_id = r.id AND rm.user_id = %(user_id)s))"""
# A room by its name, or by a name it had (migration 0016): the current name
# wins, so a name is never ambiguous. Names are lower case (ROOM_NAME_RE), so
# `/rooms/Design` finds #design. Two index lookups, then the primary key.
SQL_ROOM_ID_BY_NAME = """coalesce(
        (SELECT id FROM rooms WHERE name = lower(%(name)s)),
        (SELECT room_id FROM room_aliases WHERE name = lower(%(name)s)))"""
SQL_VISIBLE_ROOM = (
    """
    SELECT r.id, r.name, r.is_private, r.is_direct, r.last_seq, r.created_by, r.topic,
           r.archived_at
    FROM rooms r
    WHERE r.id = """
    + SQL_ROOM_ID_BY_NAME
    + " AND "
    + SQL_READABLE_BY
)
# A person's status across the app (migration 0015), for a user row `u`.
SQL_STATUS_OF_U = """(
    SELECT CASE WHEN count(*) = 0 THEN 'offline'
                WHEN bool_and(p.away) THEN 'away' ELSE 'online' END
    FROM user_presence p WHERE p.user_id = u.id
)"""
# A member's rooms with what they are to them. unread counts others' messages
# of the main flow after their read seq (edits, deletions, reactions and
# membership events have seqs too, but are not something new to read; replies
# count in their threads, unless also sent to the room), reading at most
# UNREAD_MAX rows of the room's primary key range; mentions counts the
# member's mentions that appeared after their read seq (since_seq: the
# message's seq, or the edit's that added the mention), a mention in a thread
# after their read seq of that thread.
UNREAD_MAX = 1000  # a badge says "999+" beyond this; counting further buys nothing
_MEMBER_ROOMS = (
    """
    SELECT r.id, r.name, r.is_private, r.is_direct, r.last_seq, r.created_at, r.created_by,
           r.topic, r.archived_at,
           (
               SELECT count(*) FROM (
                   SELECT 1 FROM messages x
                   WHERE x.room_id = r.id AND x.seq > m.last_read_seq
                     AND x.kind IN """
    + SQL_MESSAGE_KINDS
    + """ AND x.deleted_at IS NULL
                     AND x.user_id <> %(user_id)s
                     AND (x.thread_seq IS NULL OR x.also_in_room)
                   LIMIT %(unread_max)s
               ) unread_rows
           ) AS unread,
           (
               SELECT count(*) FROM mentions n
               JOIN messages x ON x.room_id = n.room_id AND x.seq = n.seq
               LEFT JOIN thread_follows f
                   ON f.user_id = n.user_id AND f.room_id = n.room_id
                  AND f.root_seq = x.thread_seq AND NOT x.also_in_room
               WHERE n.user_id = %(user_id)s AND n.room_id = r.id AND x.deleted_at IS NULL
                 AND n.since_seq > coalesce(f.last_read_seq, m.last_read_seq)
           ) AS mentions,
           m.last_read_seq, m.muted,
           CASE WHEN r.is_direct THEN (
               SELECT u.username FROM room_members o JOIN users u ON u.id = o.user_id
               WHERE o.room_id = r.id AND o.user_id <> %(user_id)s
           ) END AS partner,
           CASE WHEN r.is_direct THEN (
               SELECT u.display_name FROM room_members o JOIN users u ON u.id = o.user_id
               WHERE o.room_id = r.id AND o.user_id <> %(user_id)s
           ) END AS partner_display_name,
           CASE WHEN r.is_direct THEN (
               SELECT """
    + SQL_STATUS_OF_U
    + """ FROM room_members o JOIN users u ON u.id = o.user_id
               WHERE o.room_id = r.id AND o.user_id <> %(user_id)s
           ) END AS partner_status
    FROM room_members m JOIN rooms r ON r.id = m.room_id
    WHERE m.user_id = %(user_id)s"""
)
SQL_MEMBER_ROOMS = _MEMBER_ROOMS + " ORDER BY r.name"
SQL_MEMBER_ROOM = _MEMBER_ROOMS + " AND r.id = %(room_id)s"
# The public rooms anyone may join (archived ones are hidden), with how many
# members each has and whether the reader is one.
SQL_DIRECTORY = """
    SELECT r.id, r.name, r.is_private, r.is_direct, r.last_seq, r.created_by, r.topic,
           r.archived_at,
           (SELECT count(*) FROM room_members c WHERE c.room_id = r.id) AS member_count,
           EXISTS (
               SELECT 1 FROM room_members m WHERE m.room_id = r.id AND m.user_id = %(user_id)s
           ) AS joined
    FROM rooms r
    WHERE NOT r.is_private AND r.archived_at IS NULL
    ORDER BY r.name
"""
# Each present user's name looked up by key: with `presence` grown, a join
# read the whole of users' primary key (tests/storage/test_plans.py).
SQL_ONLINE_USERS = """
    SELECT DISTINCT u.username
    FROM presence p
    CROSS JOIN LATERAL (SELECT u.username FROM users u WHERE u.id = p.user_id LIMIT 1) u
    WHERE p.room_id = %s
    ORDER BY u.username
"""
SQL_ROOM_LAST_SEQ = "SELECT last_seq FROM rooms WHERE id = %s"

# Rows as outbound.row_message turns them into frames: a message with its
# current state (reactions as {emoji: [usernames]}, in the order first given;
# NULL when none), or an event with the seq of the message it changes.
# `kinds` picks messages and events, or (history pages) messages only.
# The reactions of message `m` as a json object (json, not jsonb, which would
# reorder its keys): emoji in the order first given, people in the order they
# reacted; NULL when none. Every surface shows them in this order.
SQL_REACTIONS_OF_M = """(
    SELECT json_object_agg(emoji, users ORDER BY first_at, emoji)
    FROM (
        SELECT r.emoji, min(r.created_at) AS first_at,
               json_agg(ru.username ORDER BY r.created_at, ru.username) AS users
        FROM reactions r JOIN users ru ON ru.id = r.user_id
        WHERE r.room_id = m.room_id AND r.seq = m.seq
        GROUP BY r.emoji
    ) by_emoji
)"""
# A message's files in order (docs/files.md), as json objects of the columns
# Attachment.from_row reads; NULL when none. For a `files` event, its target's
# files now. One probe of the files_message index (a message without files
# costs that alone); `thumb` one of file_variants' primary key per file.
SQL_FILES_OF_M = """(
    SELECT json_agg(json_build_object(
               'key', f.key, 'name', f.name, 'size', f.size, 'media_type', f.media_type,
               'width', f.width, 'height', f.height, 'state', f.state,
               'thumb', EXISTS (SELECT 1 FROM file_variants v
                                WHERE v.file_id = f.id AND v.variant = 'thumb'))
           ORDER BY f.position)
    FROM files f
    WHERE f.room_id = m.room_id AND f.seq = coalesce(m.target_seq, m.seq)
)"""
# A message's link preview (for a `preview` event, its target's now): one
# probe of link_previews' primary key.
SQL_PREVIEW_OF_M = """(
    SELECT json_build_object('url', p.url, 'title', p.title, 'description', p.description,
                             'site_name', p.site_name, 'image_url', p.image_url)
    FROM link_previews p
    WHERE p.room_id = m.room_id AND p.seq = coalesce(m.target_seq, m.seq)
)"""
# What a quote-reply shows of the message it quotes, as it is now (one probe
# of messages' primary key): chat/domain/entities.py Quote.
SQL_QUOTE_OF_M = """(
    SELECT json_build_object('seq', q.seq, 'username', qu.username,
                             'content', left(q.content, 200),
                             'deleted', q.deleted_at IS NOT NULL, 'thread', q.thread_seq)
    FROM messages q JOIN users qu ON qu.id = q.user_id
    WHERE q.room_id = m.room_id AND q.seq = m.quote_seq
)"""
# A root's replies so far (one probe of threads' primary key; NULL for a
# message nobody replied to): chat/domain/entities.py ThreadSummary.
SQL_REPLIES_OF_M = """(
    SELECT json_build_object(
               'count', t.reply_count, 'last_seq', t.last_reply_seq, 'last_at', t.last_reply_at,
               'users', (SELECT json_agg(ru.username ORDER BY a.i)
                         FROM unnest(t.repliers) WITH ORDINALITY AS a(id, i)
                         JOIN users ru ON ru.id = a.id))
    FROM threads t WHERE t.room_id = m.room_id AND t.root_seq = m.seq
)"""
_MESSAGE_COLUMNS = (
    """
    SELECT m.seq, u.username, m.content, m.client_id, m.created_at, m.html, m.kind,
           m.target_seq, m.edited_at, m.deleted_at, m.thread_seq, m.also_in_room,
           CASE WHEN m.quote_seq IS NOT NULL THEN """
    + SQL_QUOTE_OF_M
    + """ END AS quote,
           CASE WHEN m.kind IN """
    + SQL_MESSAGE_KINDS
    + """ AND m.thread_seq IS NULL THEN """
    + SQL_REPLIES_OF_M
    + """ END AS replies,
           CASE WHEN m.target_seq IS NULL THEN """
    + SQL_REACTIONS_OF_M
    + """ END AS reactions,
           CASE WHEN m.kind IN """
    + SQL_MESSAGE_KINDS
    + """ OR m.kind = 'files' THEN """
    + SQL_FILES_OF_M
    + """ END AS files,
           CASE WHEN m.kind IN """
    + SQL_MESSAGE_KINDS
    + """ OR m.kind = 'preview' THEN """
    + SQL_PREVIEW_OF_M
    + """ END AS preview"""
)
_MESSAGE_FROM = """
    FROM messages m JOIN users u ON u.id = m.user_id
"""
_MESSAGE_ROWS = _MESSAGE_COLUMNS + _MESSAGE_FROM
# For reads elsewhere (chat/storage/threads.py) that add their own WHERE.
SQL_MESSAGE_ROWS = _MESSAGE_ROWS
# The same with the author's display name, for pages (chat/storage/thread_pages.py).
SQL_NAMED_MESSAGE_ROWS = _MESSAGE_COLUMNS + ", u.display_name" + _MESSAGE_FROM
# The room's main flow (docs/protocol.md, Threads): messages that are not
# replies, and replies also sent to the room. A filter on the rows the
# primary key (room_id, seq) walks, so the reads keep that index.
_MAIN_FLOW = " AND (m.thread_seq IS NULL OR m.also_in_room)"
_BETWEEN = """
    WHERE m.room_id = %(room_id)s AND m.seq > %(after)s AND m.seq < %(before)s
      AND m.kind = ANY(%(kinds)s)"""
_SEQ_ORDER = """
    ORDER BY m.seq
    LIMIT %(limit)s
"""
SQL_MESSAGES_BETWEEN = _MESSAGE_ROWS + _BETWEEN + _SEQ_ORDER
SQL_MAIN_FLOW_BETWEEN = _MESSAGE_ROWS + _BETWEEN + _MAIN_FLOW + _SEQ_ORDER
_BEFORE = """
    WHERE m.room_id = %(room_id)s AND m.seq < %(before)s AND m.kind = ANY(%(kinds)s)"""
_NEWEST = """
    ORDER BY m.seq DESC
    LIMIT %(limit)s
) newest ORDER BY seq
"""
SQL_MESSAGES_BEFORE = "SELECT * FROM (" + _MESSAGE_ROWS + _BEFORE + _NEWEST
SQL_MAIN_FLOW_BEFORE = "SELECT * FROM (" + _MESSAGE_ROWS + _BEFORE + _MAIN_FLOW + _NEWEST
# The history pages' read: as SQL_MESSAGES_BEFORE for the main flow only,
# with the author's display name, which the pages show and frames never carry
# (a frame is encoded once for every reader; the live page knows names from
# the room's members). Replies are on their thread's page.
SQL_HISTORY_BEFORE = "SELECT * FROM (" + SQL_NAMED_MESSAGE_ROWS + _BEFORE + _MAIN_FLOW + _NEWEST
# The seq of the `offset`-th main-flow message (not event) after seq `after`;
# where the next page of history ends.
SQL_NTH_MESSAGE_AFTER = (
    """
    SELECT m.seq FROM messages m
    WHERE m.room_id = %s AND m.seq > %s AND m.kind IN """
    + SQL_MESSAGE_KINDS
    + _MAIN_FLOW
    + """
    ORDER BY m.seq
    OFFSET %s LIMIT 1
"""
)
SQL_HAS_MESSAGE_AFTER = (
    """
    SELECT EXISTS (
        SELECT 1 FROM messages m WHERE m.room_id = %s AND m.seq > %s AND m.kind IN """
    + SQL_MESSAGE_KINDS
    + _MAIN_FLOW
    + """
    ) AS found
"""
)
# Earlier versions of edited messages, oldest first (version 1 is the original).
SQL_VERSIONS = """
    SELECT seq, version, content, html, written_at FROM message_versions
    WHERE room_id = %s AND seq = ANY(%s)
    ORDER BY seq, version
"""


def user_by_name(conn: Connection, username: str) -> User | None:
    """The enabled user of that name (any case); None if there is none."""
    row = conn.execute(SQL_USER_BY_NAME, (username,)).fetchone()
    return User.from_row(row) if row else None


def credentials(conn: Connection, username: str) -> tuple[User, str | None] | None:
    """The enabled user of that name (any case) and their password hash, for a
    login check; None if there is no such user."""
    row = conn.execute(SQL_CREDENTIALS, (username,)).fetchone()
    return (User.from_row(row), row["password_hash"]) if row else None


def user_by_session(conn: Connection, token_hash: bytes) -> User | None:
    """The (enabled) user of a live login session; None once it is revoked."""
    row = conn.execute(SQL_USER_BY_SESSION, (token_hash,)).fetchone()
    return User.from_row(row) if row else None


# --- what a person's settings page shows: their display name, sessions, tokens ---

SQL_DISPLAY_NAME = "SELECT display_name FROM users WHERE id = %s"
# Most recently used first: the device in your hand, then the one you forgot.
SQL_LOGIN_SESSIONS = """
    SELECT id, created_at, last_seen_at, user_agent,
           coalesce(token_hash = %(current)s, false) AS current
    FROM user_sessions WHERE user_id = %(user_id)s
    ORDER BY last_seen_at DESC, id DESC
"""
SQL_API_TOKENS = """
    SELECT id, name, created_at, last_used_at FROM api_tokens
    WHERE user_id = %s ORDER BY created_at DESC, id DESC
"""


def display_name(conn: Connection, user_id: int) -> str | None:
    """The user's display name; None when they have not set one."""
    row = conn.execute(SQL_DISPLAY_NAME, (user_id,)).fetchone()
    return row["display_name"] if row else None


def login_sessions(conn: Connection, user_id: int, current: bytes | None) -> list[LoginSession]:
    """The user's live login sessions, most recently used first; the one whose
    token hash is `current` (the asking request's) is marked as such."""
    rows = conn.execute(SQL_LOGIN_SESSIONS, {"user_id": user_id, "current": current})
    return [LoginSession.from_row(row) for row in rows]


def api_tokens(conn: Connection, user_id: int) -> list[ApiToken]:
    """The user's API tokens (never the tokens themselves), newest first."""
    return [ApiToken.from_row(row) for row in conn.execute(SQL_API_TOKENS, (user_id,))]


# A room's incoming webhooks, oldest first (docs/webhooks.md).
SQL_INCOMING_WEBHOOKS = """
    SELECT w.id, w.name, b.username, c.username AS created_by, w.created_at, w.last_used_at
    FROM incoming_webhooks w
    JOIN users b ON b.id = w.user_id
    LEFT JOIN users c ON c.id = w.created_by
    WHERE w.room_id = %s ORDER BY w.id
"""


# A person (not a bot) known by this name, as username or display name, any case.
SQL_PERSON_NAMED = """
    SELECT username FROM users
    WHERE NOT is_bot AND disabled_at IS NULL
      AND (lower(username) = lower(%(name)s) OR lower(display_name) = lower(%(name)s))
    LIMIT 1
"""


def is_bot(conn: Connection, user_id: int) -> bool:
    """Whether the account is a bot's (a command's, or a webhook's)."""
    row = conn.execute("SELECT is_bot FROM users WHERE id = %s", (user_id,)).fetchone()
    return bool(row and row["is_bot"])


def person_named(conn: Connection, name: str) -> str | None:
    """The username of an enabled person whose username or display name is
    `name` (any case); None if nobody's is. A bot must not look like one."""
    row = conn.execute(SQL_PERSON_NAMED, {"name": name}).fetchone()
    return row["username"] if row else None


def incoming_webhooks(conn: Connection, room_id: int) -> list[IncomingWebhook]:
    """The room's incoming webhooks (never their secrets), oldest first."""
    rows = conn.execute(SQL_INCOMING_WEBHOOKS, (room_id,))
    return [IncomingWebhook.from_row(row) for row in rows]


def visible_room(conn: Connection, name: str, user_id: int) -> Room | None:
    """The room of that name, or that had that name before a rename, if the user
    may see it (public, or a member); else None. Its `name` is the current one
    (a caller that was asked by an old name redirects or answers with it), its
    `last_seq` as of this read."""
    row = conn.execute(SQL_VISIBLE_ROOM, {"name": name, "user_id": user_id}).fetchone()
    return Room.from_row(row) if row else None


def member_rooms(conn: Connection, user_id: int) -> list[RoomListing]:
    """The rooms the user is a member of (their sidebar), by name, with what each
    is to them (unread, mentions, muted, the partner of a direct room)."""
    rows = conn.execute(SQL_MEMBER_ROOMS, {"user_id": user_id, "unread_max": UNREAD_MAX})
    return [RoomListing.from_row(row) for row in rows]


def member_room(conn: Connection, user_id: int, room_id: int) -> RoomListing | None:
    """One room of the user's as member_rooms lists it; None if not a member."""
    params = {"user_id": user_id, "room_id": room_id, "unread_max": UNREAD_MAX}
    row = conn.execute(SQL_MEMBER_ROOM, params).fetchone()
    return RoomListing.from_row(row) if row else None


SQL_NON_MEMBERS = """
    SELECT u.username FROM users u
    WHERE lower(u.username) = ANY(%(names)s::text[]) AND u.disabled_at IS NULL
      AND u.id <> %(sender_id)s
      AND NOT EXISTS (
          SELECT 1 FROM room_members m WHERE m.room_id = %(room_id)s AND m.user_id = u.id
      )
    ORDER BY lower(u.username)
"""


def non_members(conn: Connection, room_id: int, sender_id: int, names: list[str]) -> list[str]:
    """Of the (lower-cased) usernames a message mentions, the people who exist but
    are not members of the room (not the sender), as registered."""
    params = {"room_id": room_id, "sender_id": sender_id, "names": names}
    return [row["username"] for row in conn.execute(SQL_NON_MEMBERS, params)]


def directory(conn: Connection, user_id: int) -> list[tuple[Room, int, bool]]:
    """The public rooms (not archived), by name: (Room, member count, whether the
    user is a member)."""
    rows = conn.execute(SQL_DIRECTORY, {"user_id": user_id})
    return [(Room.from_row(row), row["member_count"], row["joined"]) for row in rows]


SQL_IS_MEMBER = "SELECT 1 FROM room_members WHERE room_id = %s AND user_id = %s"


def is_member(conn: Connection, room_id: int, user_id: int) -> bool:
    """Whether the user is a member of the room (has its room_members row)."""
    return conn.execute(SQL_IS_MEMBER, (room_id, user_id)).fetchone() is not None


SQL_MEMBERS = """
    SELECT u.username FROM room_members m JOIN users u ON u.id = m.user_id
    WHERE m.room_id = %s ORDER BY lower(u.username)
"""
SQL_READ_SEQ = "SELECT last_read_seq FROM room_members WHERE room_id = %s AND user_id = %s"
SQL_MEMBERS_WITH_STATUS = (
    """
    SELECT u.username, u.display_name, """
    + SQL_STATUS_OF_U
    + """ AS status,
           (SELECT f.key FROM files f WHERE f.id = u.avatar_file_id AND f.state = 'ready')
               AS avatar_key
    FROM room_members m JOIN users u ON u.id = m.user_id
    WHERE m.room_id = %s AND u.disabled_at IS NULL
    ORDER BY lower(u.username)
"""
)


def members_with_status(conn: Connection, room_id: int) -> list[Member]:
    """The room's members by username, each with their display name (None when
    not set), status (online, away or offline: DESIGN §9) and avatar's key."""
    return [Member.from_row(row) for row in conn.execute(SQL_MEMBERS_WITH_STATUS, (room_id,))]


# `ends_in`: seconds until the key's window closes (and its count with it).
SQL_LOGIN_FAILURES = """
    SELECT key, failures,
           extract(epoch FROM window_start + make_interval(secs => %(window)s) - now())
               AS ends_in
    FROM login_failures
    WHERE key = ANY(%(keys)s) AND window_start > now() - make_interval(secs => %(window)s)
"""


def login_failures(conn: Connection, keys: list[str], window: int) -> dict[str, dict]:
    """Failed logins per key within the current window: {key: {"failures": n,
    "ends_in": seconds until the window closes}}."""
    rows = conn.execute(SQL_LOGIN_FAILURES, {"keys": keys, "window": window}).fetchall()
    return {row["key"]: row for row in rows}


def members(conn: Connection, room_id: int) -> list[str]:
    return [row["username"] for row in conn.execute(SQL_MEMBERS, (room_id,))]


def read_seq(conn: Connection, room_id: int, user_id: int) -> int:
    """The user's read seq in the room; 0 when not a member."""
    row = conn.execute(SQL_READ_SEQ, (room_id, user_id)).fetchone()
    return row["last_read_seq"] if row else 0


def online_users(conn: Connection, room_id: int) -> list[str]:
    """Usernames connected to the room through any live worker, sorted."""
    return [row["username"] for row in conn.execute(SQL_ONLINE_USERS, (room_id,))]


def room_last_seq(conn: Connection, room_id: int) -> int:
    return conn.execute(SQL_ROOM_LAST_SEQ, (room_id,)).fetchone()["last_seq"]


def _kinds(messages_only: bool) -> list[str]:
    return list(MESSAGE_KINDS if messages_only else ALL_KINDS)


def messages_between(
    conn: Connection,
    room_id: int,
    after: int,
    before: int,
    limit: int,
    *,
    messages_only: bool = False,
    main_only: bool = False,
) -> list[Message]:
    """Up to `limit` messages and events with after < seq < before, oldest first
    (html always rendered: see messages_from_rows); `messages_only` leaves the
    events out, `main_only` the events and the replies not also sent to the
    room (the main flow)."""
    params = {"room_id": room_id, "after": after, "before": before, "limit": limit}
    params["kinds"] = _kinds(messages_only or main_only)
    sql = SQL_MAIN_FLOW_BETWEEN if main_only else SQL_MESSAGES_BETWEEN
    return messages_from_rows(conn.execute(sql, params).fetchall())


def messages_before(
    conn: Connection,
    room_id: int,
    before: int,
    limit: int,
    *,
    messages_only: bool = False,
    main_only: bool = False,
) -> list[Message]:
    """The `limit` newest messages and events with seq < before, oldest first
    (as messages_between). With `messages_only`, the `limit` newest messages,
    each in its current state; with `main_only`, those of the main flow: what
    the room page pages back through."""
    params = {"room_id": room_id, "before": before, "limit": limit}
    params["kinds"] = _kinds(messages_only or main_only)
    sql = SQL_MAIN_FLOW_BEFORE if main_only else SQL_MESSAGES_BEFORE
    return messages_from_rows(conn.execute(sql, params).fetchall())


def history_before(conn: Connection, room_id: int, before: int, limit: int) -> list[Message]:
    """The `limit` newest main-flow messages (no events, no replies unless
    also sent to the room) with seq < before, oldest first (as messages_before
    with `messages_only`), each with its author's `display_name`: what a
    history page shows."""
    params = {"room_id": room_id, "before": before, "limit": limit}
    params["kinds"] = _kinds(True)
    return messages_from_rows(conn.execute(SQL_HISTORY_BEFORE, params).fetchall())


def member_events_between(
    conn: Connection, room_id: int, after: int, before: int, limit: int
) -> list[Message]:
    """The first `limit` membership events (join, leave, add, remove) with
    after < seq < before, oldest first: the quiet lines of a history page."""
    params = {"room_id": room_id, "after": after, "before": before, "limit": limit}
    params["kinds"] = list(MEMBER_KINDS)
    return messages_from_rows(conn.execute(SQL_MESSAGES_BETWEEN, params).fetchall())


def messages_from_rows(rows: list[dict]) -> list[Message]:
    """The rows as Messages, each message and edit with its html: rows stored
    before messages kept their rendered html (html NULL) are rendered here, once
    per read by a worker, so frame encoding never renders."""
    for row in rows:
        if row["html"] is None and row["kind"] in RENDERED_KINDS:
            row["html"] = render(row["content"])
    return [Message.from_row(row) for row in rows]


def nth_message_after(conn: Connection, room_id: int, after: int, n: int) -> int | None:
    """The seq of the n-th main-flow message (1-based; events and replies not
    counted) after seq `after`."""
    row = conn.execute(SQL_NTH_MESSAGE_AFTER, (room_id, after, n - 1)).fetchone()
    return row["seq"] if row else None


def has_message_after(conn: Connection, room_id: int, after: int) -> bool:
    """Whether a main-flow message follows seq `after` (a newer history page)."""
    return conn.execute(SQL_HAS_MESSAGE_AFTER, (room_id, after)).fetchone()["found"]


def versions(conn: Connection, room_id: int, seqs: list[int]) -> dict[int, list[dict]]:
    """Earlier versions of the given messages: {seq: [versions, oldest first]}."""
    found: dict[int, list[dict]] = {}
    for row in conn.execute(SQL_VERSIONS, (room_id, seqs)):
        found.setdefault(row["seq"], []).append(row)
    return found


# Seconds until the bot's next pending job is due (a retry's backoff, or a
# claim running out); NULL when it has none.
SQL_NEXT_JOB_DUE = """
    SELECT extract(epoch FROM min(GREATEST(run_after, claimed_until)) - now())::float8 AS wait
    FROM bot_jobs
    WHERE bot = %s AND state = 'pending'
"""


def next_job_due(conn: Connection, bot: str) -> float | None:
    """Seconds until the bot's next pending job can be claimed (<= 0: now); None: no jobs."""
    return conn.execute(SQL_NEXT_JOB_DUE, (bot,)).fetchone()["wait"]
