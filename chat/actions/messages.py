"""Sending messages: stored with their rooms' next seqs and announced in one transaction.

This is the one write path of messages: a lone send is a batch of one, and
chat/realtime/writer.py only groups the sends of a worker into batches. A
NOTIFY is delivered only at commit, so no worker hears of a message that
could still roll back, and notifications leave in commit order, which is seq
order within a room (chat/storage/bus.py).
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from psycopg import Connection

from chat import config, metrics
from chat.actions.channels import publish_stored, publish_user, wake_workers
from chat.actions.files import attach_files, file_problem, lock_files
from chat.actions.threads import (
    MAIN_FLOW,
    Placed,
    follow_replies,
    lock_reply_targets,
    place_reply,
    reply_targets,
    tell_followers,
)
from chat.actions.triggers import queue_deliveries
from chat.domain import kinds
from chat.domain.entities import Attachment, Room, RoomListing, User
from chat.domain.errors import ChatError
from chat.domain.links import first_link
from chat.domain.render import mentioned, render
from chat.domain.threads import NO_REPLY, ReplyTo
from chat.protocol import outbound
from chat.storage import bus, db, outgoing, params


@dataclass(frozen=True)
class Sent:
    """The outcome of a send: the message's seq, and whether it was a repeat."""

    seq: int
    created_at: datetime
    duplicate: bool


# What this user already did with this client_id in this room: a message or
# an event (its kind), or a request handed to a bot (kind 'job'). One key is
# one operation: only a send repeats a send.
# Sends and events (actions/events.py) both ask it.
SQL_PREVIOUS_USE = """
    SELECT seq, created_at, kind, target_seq, content FROM messages
    WHERE room_id = %(room_id)s AND user_id = %(user_id)s AND client_id = %(client_id)s
    UNION ALL
    SELECT NULL, created_at, 'job', NULL, NULL FROM bot_jobs
    WHERE room_id = %(room_id)s AND requested_by = %(user_id)s AND client_id = %(client_id)s
"""


def previous_use(conn: Connection, room: Room, user: User, client_id: str) -> dict | None:
    """What the user already did with `client_id` in the room (SQL_PREVIOUS_USE's
    row), or None. Under the room's row lock, so no earlier use is missed."""
    params = {"room_id": room.id, "user_id": user.id, "client_id": client_id}
    return conn.execute(SQL_PREVIOUS_USE, params).fetchone()


def reused_key() -> ChatError:
    """The refusal of a client_id already used for a different operation."""
    return ChatError(
        "bad_frame", "that client_id was already used for something else; use a new one"
    )


# The members among the named users, not the sender, and not disabled: a
# mention of someone outside the room (or of nobody) records nothing. Looked
# up key by key, as SQL_PREVIOUS_SENDS says why. A
# mention in the text as sent appeared with the message: since_seq is its seq.
SQL_INSERT_MENTIONS = """
    INSERT INTO mentions (user_id, room_id, seq, since_seq)
    SELECT u.id, k.room_id, k.seq, k.seq
    FROM json_to_recordset(%s::json)
         AS k(room_id bigint, seq bigint, sender_id bigint, username text)
    CROSS JOIN LATERAL (
        SELECT id FROM users
        WHERE lower(username) = k.username AND disabled_at IS NULL LIMIT 1
    ) u
    CROSS JOIN LATERAL (
        SELECT 1 FROM room_members m WHERE m.room_id = k.room_id AND m.user_id = u.id LIMIT 1
    ) member
    WHERE u.id <> k.sender_id
    ON CONFLICT DO NOTHING
"""
# One message's records become exactly the members its new text names (same
# rule as above): the others' rows go, the newly named get a row whose
# since_seq is the edit's seq (the room's last_seq, which the edit's
# transaction has just taken), so a mention added by an edit counts for its
# person until they read past the edit. A mention the edit keeps keeps its
# row, and its since_seq: it is not new.
SQL_REPLACE_MENTIONS = """
    WITH named AS (
        SELECT u.id FROM users u
        JOIN room_members m ON m.room_id = %(room_id)s AND m.user_id = u.id
        WHERE lower(u.username) = ANY(%(names)s::text[]) AND u.disabled_at IS NULL
          AND u.id <> %(sender_id)s
    ), gone AS (
        DELETE FROM mentions
        WHERE room_id = %(room_id)s AND seq = %(seq)s AND user_id NOT IN (SELECT id FROM named)
    )
    INSERT INTO mentions (user_id, room_id, seq, since_seq)
    SELECT id, %(room_id)s, %(seq)s, (SELECT last_seq FROM rooms WHERE id = %(room_id)s)
    FROM named
    ON CONFLICT DO NOTHING
"""
SQL_FORGET_MENTIONS = "DELETE FROM mentions WHERE room_id = %s AND seq = %s"


def record_mentions(conn: Connection, stored: list[tuple[int, int, int, str]]) -> None:
    """Record who each stored message (room_id, seq, sender_id, html) mentions;
    no statement at all when none mentions anyone. Inside the storing transaction."""
    keys = [
        {"room_id": room_id, "seq": seq, "sender_id": sender_id, "username": name}
        for room_id, seq, sender_id, html in stored
        for name in mentioned(html)
    ]
    if keys:
        conn.execute(SQL_INSERT_MENTIONS, (params.records(keys),))


def replace_mentions(conn: Connection, room_id: int, seq: int, sender_id: int, html: str) -> None:
    """Make message `seq`'s mention records those of its new `html` (an edit).

    Inside the edit's transaction, after it took the room's next seq (the
    since_seq of the mentions it adds).
    """
    conn.execute(
        SQL_REPLACE_MENTIONS,
        {"room_id": room_id, "seq": seq, "sender_id": sender_id, "names": mentioned(html)},
    )


def forget_mentions(conn: Connection, room_id: int, seq: int) -> None:
    """A deleted message mentions no one. Inside the deleting transaction."""
    conn.execute(SQL_FORGET_MENTIONS, (room_id, seq))


# --- the send path: one transaction per batch of sends ----------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """One message to store: its Room and sender (a User), its text, its
    rendering and kind, the keys of the files it carries (docs/files.md), and
    the link its preview job is about (None: no preview wanted), whether
    posting makes the sender a member of a public room (`joins`: people do; a
    bot answering a command does not), and the thread it replies in or the
    message it quotes (`reply`, docs/protocol.md Threads). Build it with Send.of."""

    room: Room
    user: User
    content: str
    client_id: str | None
    html: str
    kind: str = kinds.KIND_CHAT
    files: tuple[str, ...] = ()
    link: str | None = None
    joins: bool = True
    reply: ReplyTo = NO_REPLY

    @classmethod
    def of(
        cls,
        room: Room,
        user: User,
        content: str,
        client_id: str | None,
        kind: str = kinds.KIND_CHAT,
        files: tuple[str, ...] = (),
        previews: bool | None = None,
        joins: bool = True,
        reply: ReplyTo = NO_REPLY,
    ) -> "Send":
        """A send with its content rendered: call it outside any transaction (and
        outside a batch's), since rendering is the slow part. Its first http(s)
        link gets a preview job when `previews` (None: the LINK_PREVIEWS setting)."""
        html = render(content)
        if previews is None:
            previews = config.value("LINK_PREVIEWS")
        link = first_link(html) if previews and "href" in html else None
        return cls(room, user, content, client_id, html, kind, tuple(files), link, joins, reply)


# Locking the batch's rooms in id order serialises each room's writers (the
# seqs taken and the client_id lookup after it see every earlier send) and
# keeps two batches from deadlocking. now() is the transaction's start, which
# every row gets as created_at anyway.
SQL_LOCK_ROOMS = """
    SELECT id, last_seq, archived_at IS NOT NULL AS archived, name, now() AS now,
           outgoing_webhooks > 0 AS hooked
    FROM rooms WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE
"""
# As SQL_PREVIOUS_USE, for many keys at once: what each was used for before
# (a message or event's kind, or 'job' for a bot request). The batch's rows
# come as JSON, which the planner guesses at 100 rows whatever their number:
# a lookup per key (LATERAL ... LIMIT 1, which it cannot turn into a join)
# keeps it from reading the whole table to join them (tests/storage/test_plans.py).
SQL_PREVIOUS_SENDS = """
    WITH k AS (
        SELECT * FROM json_to_recordset(%s::json)
            AS k(room_id bigint, user_id bigint, client_id text)
    )
    SELECT m.room_id, m.user_id, m.client_id, m.seq, m.created_at, m.kind
    FROM k CROSS JOIN LATERAL (
        SELECT * FROM messages m
        WHERE m.room_id = k.room_id AND m.user_id = k.user_id AND m.client_id = k.client_id
        LIMIT 1
    ) m
    UNION ALL
    SELECT j.room_id, j.requested_by, j.client_id, NULL, j.created_at, 'job'
    FROM k CROSS JOIN LATERAL (
        SELECT * FROM bot_jobs j
        WHERE j.room_id = k.room_id AND j.requested_by = k.user_id AND j.client_id = k.client_id
        LIMIT 1
    ) j
"""
# Senders who are not members of the public room they post in: posting joins
# them (DESIGN §9). Silently: their message says they are there, and a join
# line before it would only repeat that (Zulip subscribes a sender the same way).
SQL_NOT_YET_MEMBERS = """
    SELECT DISTINCT k.room_id, k.user_id
    FROM unnest(%s::bigint[], %s::bigint[]) AS k(room_id, user_id)
    JOIN rooms r ON r.id = k.room_id AND NOT r.is_private
    WHERE NOT EXISTS (
        SELECT 1 FROM room_members m WHERE m.room_id = k.room_id AND m.user_id = k.user_id
    )
"""
SQL_INSERT_MEMBERS = """
    INSERT INTO room_members (room_id, user_id, last_read_seq)
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[])
    ON CONFLICT DO NOTHING
"""
SQL_INSERT_MESSAGES = """
    INSERT INTO messages (room_id, seq, user_id, content, client_id, html, kind,
                          thread_seq, also_in_room, quote_seq)
    SELECT room_id, seq, user_id, content, client_id, html, kind,
           thread_seq, coalesce(also_in_room, false), quote_seq
    FROM json_to_recordset(%s::json) AS k(
        room_id bigint, seq bigint, user_id bigint, content text, client_id text, html text,
        kind text, thread_seq bigint, also_in_room boolean, quote_seq bigint
    )
"""
# A message's first link, for the workers to fetch its preview (docs/files.md).
SQL_INSERT_PREVIEW_JOBS = """
    INSERT INTO work_jobs (kind, room_id, seq, url)
    SELECT 'preview', * FROM unnest(%s::bigint[], %s::bigint[], %s::text[])
"""
SQL_SET_LAST_SEQS = """
    UPDATE rooms SET last_seq = v.last_seq
    FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, last_seq)
    WHERE rooms.id = v.id
"""


def send_messages(conn: Connection, sends: Sequence[Send]) -> list[Sent | ChatError]:
    """Store `sends`, each with its room's next seq, and announce them, in one
    transaction; returns once it has committed. Inside a transaction of the
    caller's (a bot's answer closing its job) it is a savepoint, and the rows
    and NOTIFYs commit with the caller's transaction. Takes the rooms' row
    locks (in id order) until then; call it holding no other room's lock.

    One outcome per send, in order: its Sent, or the ChatError refusing it (a
    client_id the user already used in the room for an event or a bot request;
    'forbidden' in an archived room; 'bad_request' for a file that is not the
    sender's, not fully stored, or already sent) while the others go ahead. A
    send's files take its (room_id, seq) and their order with it, or it is
    refused whole. A client_id
    the same user already sent to the same room, before or earlier in `sends`,
    is a repeat: the first send's seq,
    duplicate=True, nothing stored. Seqs follow the order of `sends` per room.
    A room that does not exist raises LookupError, and nothing is stored.

    Two round trips in all, each a pipeline: BEGIN, the rooms' locks, the
    earlier uses of the client_ids (and the named files' locks, when a send has
    files); then the insert, the files' attachment, the preview jobs, the
    mentions, the deliveries to outgoing webhooks, the rooms' last_seq, the
    NOTIFYs (bus.CHANNEL, one per ~8 KB of frames) and COMMIT (db.pipelined;
    inside a caller's transaction there is no BEGIN or COMMIT). One more
    before the insert, only in rooms that have outgoing webhooks, reads those;
    one more after it, only when a send replies in a thread, tells the
    thread's followers, and then COMMIT is one more. Rows take
    created_at from the lock statement's now(), so frames are built before the
    insert and nothing waits for its answer. Any database error fails them all.
    """
    if not sends:
        return []
    outcomes: list[Sent | ChatError] = []
    new: list[tuple[Send, int]] = []
    joins: list[tuple[Send, int]] = []  # (first send of a joining sender, its seq)
    with db.pipelined(conn) as tx:
        last, created_at, previous, joining, archived, names, files, targets, hooks = _lock(
            conn, tx, sends
        )
        first: dict[tuple, Sent] = {}
        attached: dict[int, tuple[Attachment, ...]] = {}  # by index in `new`
        placements: dict[int, Placed] = {}  # replies and quotes, by index in `new`
        taken: set[str] = set()  # file keys earlier sends of the batch took
        for send in sends:
            if send.room.id in archived:
                outcomes.append(ChatError("forbidden", f"#{send.room.name} is archived"))
                continue
            key = (send.room.id, send.user.id, send.client_id)
            if send.client_id is not None:
                if key in previous:
                    outcomes.append(_repeat_of(previous[key]))
                    continue
                if key in first:
                    outcomes.append(replace(first[key], duplicate=True))
                    continue
            placed = place_reply(send, targets)
            if isinstance(placed, ChatError):
                outcomes.append(placed)
                continue
            if placed is not MAIN_FLOW:
                placements[len(new)] = placed
            if send.files:
                problem = file_problem(send.user.id, send.files, files, taken)
                if problem is not None:
                    placements.pop(len(new), None)
                    outcomes.append(problem)
                    continue
                taken.update(send.files)
                attached[len(new)] = tuple(Attachment.from_row(files[key]) for key in send.files)
            last[send.room.id] += 1
            sent = Sent(last[send.room.id], created_at, duplicate=False)
            if (send.room.id, send.user.id) in joining:
                joining.discard((send.room.id, send.user.id))
                joins.append((send, sent.seq))
            if send.client_id is not None:
                first[key] = sent
            outcomes.append(sent)
            new.append((send, sent.seq))
        if new:
            _store(
                conn, tx, new, created_at, last, joins, names, attached, files, placements, hooks
            )
    metrics.MESSAGES.inc(len(new))
    return outcomes


def _lock(
    conn: Connection, tx: db.Pipelined, sends: Sequence[Send]
) -> tuple[dict, datetime, dict, set, set, dict, dict, dict, list]:
    """Lock the sends' rooms; their last seqs, the transaction's now(), the
    first earlier use of each client_id by (room_id, user_id, client_id), the
    (room_id, user_id) of senders not yet members of a public room, the
    ids of the archived rooms among them, each room's name as of the lock
    (frames carry it: a rename may have come after a send's Room was read),
    the rows of the files the sends name, locked, by key ({} when no send
    has files: then no statement is sent for them), and the messages the
    sends reply to or quote, by (room_id, seq) (actions/threads.py; {} and no
    statement when none does), and the rooms' live outgoing webhooks
    (storage/outgoing.py SQL_LIVE_WEBHOOKS rows, read only for rooms whose
    count says they have some: usually no statement)."""
    room_ids = sorted({send.room.id for send in sends})
    keyed = [send for send in sends if send.client_id is not None]
    pairs = sorted({(send.room.id, send.user.id) for send in sends if send.joins})
    keys = sorted({key for send in sends for key in send.files})
    with conn.pipeline():
        tx.begin()
        locked = conn.execute(SQL_LOCK_ROOMS, (params.bigints(room_ids),))
        strangers = conn.execute(
            SQL_NOT_YET_MEMBERS,
            (params.bigints(p[0] for p in pairs), params.bigints(p[1] for p in pairs)),
        )
        earlier = None
        if keyed:
            keys_used = [
                {"room_id": s.room.id, "user_id": s.user.id, "client_id": s.client_id}
                for s in keyed
            ]
            earlier = conn.execute(SQL_PREVIOUS_SENDS, (params.records(keys_used),))
        named = lock_files(conn, keys) if keys else None
        replied = lock_reply_targets(conn, sends)
    rows = locked.fetchall()
    if len(rows) != len(room_ids):
        missing = set(room_ids) - {row["id"] for row in rows}
        raise LookupError(f"no room with id {sorted(missing)}")
    # Read under the rooms' locks, which creating or deleting a webhook takes
    # too; a round trip of its own, paid only by rooms that have webhooks.
    hooked = [row["id"] for row in rows if row["hooked"]]
    hooks = outgoing.live_webhooks(conn, hooked).fetchall() if hooked else []
    previous: dict[tuple, dict] = {}
    for row in earlier or ():
        previous.setdefault((row["room_id"], row["user_id"], row["client_id"]), row)
    joining = {(row["room_id"], row["user_id"]) for row in strangers.fetchall()}
    archived = {row["id"] for row in rows if row["archived"]}
    last = {row["id"]: row["last_seq"] for row in rows}
    names = {row["id"]: row["name"] for row in rows}
    files = {row["key"]: row for row in named} if named is not None else {}
    targets = reply_targets(replied)
    return last, rows[0]["now"], previous, joining, archived, names, files, targets, hooks


def _repeat_of(row: dict) -> Sent | ChatError:
    """The answer to a client_id used before: the first send, if it was a send."""
    if row["kind"] in kinds.MESSAGE_KINDS:
        return Sent(row["seq"], row["created_at"], duplicate=True)
    return reused_key()  # it named an event or a bot request


def _store(
    conn: Connection,
    tx: db.Pipelined,
    new: list[tuple[Send, int]],
    created_at: datetime,
    last: dict[int, int],
    joins: list[tuple[Send, int]],
    names: dict[int, str],
    attached: dict[int, tuple[Attachment, ...]],
    files: dict[str, dict],
    placements: dict[int, Placed],
    hooks: list[dict],
) -> None:
    """Insert the new rows, make senders posting in a public room for the first
    time members, attach the sends' files (`attached`, by index in `new`) and
    queue their links' preview jobs and the deliveries to the rooms' outgoing
    webhooks (`hooks`, actions/triggers.py), record the mentions, count the replies
    into their threads with their follows (`placements`, by index in `new`),
    move the rooms' last_seq and announce the rows, in one pipeline (inside
    send_messages' transaction); then, when there were replies, tell their
    threads' followers (a second round trip)."""
    sent_ms = bus.now_ms()
    announced = [
        bus.Stored(
            send.room.id,
            seq,
            outbound.chat_frame(
                names[send.room.id],
                seq,
                send.user.username,
                send.content,
                created_at,
                send.client_id,
                send.html,
                send.kind,
                attached.get(i, ()),
                placements.get(i, MAIN_FLOW).thread_seq,
                placements.get(i, MAIN_FLOW).also_in_room,
                placements.get(i, MAIN_FLOW).quote,
            ),
            sent_ms,
        )
        for i, (send, seq) in enumerate(new)
    ]
    placed = [placements.get(i, MAIN_FLOW) for i in range(len(new))]
    touched = sorted({send.room.id for send, _ in new})
    inserted = params.records(
        {
            "room_id": send.room.id,
            "seq": seq,
            "user_id": send.user.id,
            "content": send.content,
            "client_id": send.client_id,
            "html": send.html,
            "kind": send.kind,
            "thread_seq": p.thread_seq,
            "also_in_room": p.also_in_room,
            "quote_seq": p.quote.seq if p.quote else None,
        }
        for (send, seq), p in zip(new, placed, strict=True)
    )
    replies = [(send, seq, placed[i]) for i, (send, seq) in enumerate(new) if placed[i].thread_seq]
    followers = None
    with conn.pipeline():
        if joins:
            # A member who posted has read up to their own first message.
            conn.execute(
                SQL_INSERT_MEMBERS,
                (
                    params.bigints(s.room.id for s, _ in joins),
                    params.bigints(s.user.id for s, _ in joins),
                    params.bigints(seq for _, seq in joins),
                ),
            )
        conn.execute(SQL_INSERT_MESSAGES, (inserted,))
        if attached:
            rows = [
                (files[key]["id"], new[i][0].room.id, new[i][1], position)
                for i in attached
                for position, key in enumerate(new[i][0].files)
            ]
            attach_files(conn, rows)
        linked = [(send.room.id, seq, send.link) for send, seq in new if send.link]
        if linked:
            conn.execute(SQL_INSERT_PREVIEW_JOBS, [list(c) for c in zip(*linked, strict=True)])
            wake_workers(conn, "preview")
        if hooks:
            queue_deliveries(conn, hooks, new)
        record_mentions(conn, [(s.room.id, seq, s.user.id, s.html) for s, seq in new])
        if replies:
            followers = follow_replies(conn, replies, created_at)
        conn.execute(
            SQL_SET_LAST_SEQS,
            (params.bigints(touched), params.bigints(last[room_id] for room_id in touched)),
        )
        publish_stored(conn, announced)
        for send, seq in joins:  # their sidebars: the room, read up to their message
            room = replace(send.room, last_seq=seq)
            listing = RoomListing(room, unread=0, mentions=0, last_read_seq=seq)
            publish_user(conn, send.user.id, outbound.room_added_frame(listing))
        if not replies:
            tx.commit()
    if followers is not None:
        tell_followers(conn, followers)


def send_message(
    conn: Connection,
    room: Room,
    user: User,
    content: str,
    client_id: str | None,
    kind: str = kinds.KIND_CHAT,
    files: tuple[str, ...] = (),
    joins: bool = True,
    reply: ReplyTo = NO_REPLY,
) -> Sent:
    """Store one message with the room's next seq and announce it, in one transaction
    (send_messages with one send), with `files` (keys of the sender's uploads).

    A repeated client_id for the same user and room returns the first send's
    seq and changes nothing. A client_id the user already used in the room for
    an event or a bot request raises ChatError('bad_frame') and changes
    nothing. `kind` is KIND_ACTION for `/me waves`. `joins` and `reply`: see
    Send (a bad `reply` raises ChatError('not_found'), see actions/threads.py).
    """
    send = Send.of(room, user, content, client_id, kind, files, joins=joins, reply=reply)
    (outcome,) = send_messages(conn, [send])
    if isinstance(outcome, ChatError):
        raise outcome
    return outcome
