"""Sending messages: stored with the room's next seq and announced in one transaction.

NOTIFY is delivered only at commit, so no worker hears of a message that
could still roll back, and notifications leave in commit order, which is seq
order within a room. chat/realtime/writer.py batches many sends into one transaction
with the same rules.
"""

import time
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection, Rollback

from chat import metrics, protocol
from chat.actions.channels import CHANNEL, NOTIFY_PAYLOAD_MAX, SQL_NOTIFY
from chat.domain.errors import ChatError
from chat.domain.render import mentioned, render


@dataclass(frozen=True)
class Sent:
    """The outcome of a send: the message's seq, and whether it was a repeat."""

    seq: int
    created_at: datetime
    duplicate: bool


# Taking the room row's lock first serialises the room's writers: the seq
# bump below and the client_id check after it see every earlier send.
SQL_NEXT_SEQ = "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq"
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


def previous_use(conn: Connection, room: dict, user: dict, client_id: str) -> dict | None:
    """What the user already did with `client_id` in the room (SQL_PREVIOUS_USE's
    row), or None. Under the room's row lock, so no earlier use is missed."""
    params = {"room_id": room["id"], "user_id": user["id"], "client_id": client_id}
    return conn.execute(SQL_PREVIOUS_USE, params).fetchone()


def reused_key() -> ChatError:
    """The refusal of a client_id already used for a different operation."""
    return ChatError(
        "bad_frame", "that client_id was already used for something else; use a new one"
    )


SQL_INSERT_MESSAGE = """
    INSERT INTO messages (room_id, seq, user_id, content, client_id, html, kind)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
    RETURNING created_at
"""


# The members among the named users, not the sender, and not disabled: a
# mention of someone outside the room (or of nobody) records nothing. A
# mention in the text as sent appeared with the message: since_seq is its seq.
SQL_INSERT_MENTIONS = """
    INSERT INTO mentions (user_id, room_id, seq, since_seq)
    SELECT u.id, k.room_id, k.seq, k.seq
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[])
         AS k(room_id, seq, sender_id, username)
    JOIN users u ON lower(u.username) = k.username AND u.disabled_at IS NULL
    JOIN room_members m ON m.room_id = k.room_id AND m.user_id = u.id
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
        (room_id, seq, sender_id, name)
        for room_id, seq, sender_id, html in stored
        for name in mentioned(html)
    ]
    if keys:
        conn.execute(SQL_INSERT_MENTIONS, [list(column) for column in zip(*keys, strict=True)])


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


def send_message(
    conn: Connection,
    room: dict,
    user: dict,
    content: str,
    client_id: str | None,
    kind: str = protocol.KIND_CHAT,
) -> Sent:
    """Store one message with the room's next seq and announce it, in one transaction.

    A repeated client_id for the same user and room returns the first send's
    seq and changes nothing: the seq bump is rolled back with the transaction.
    A client_id the user already used in the room for an event or a bot
    request raises ChatError('bad_frame') and changes nothing.
    `kind` is KIND_ACTION for `/me waves`.
    """
    repeat = None
    html = render(content)  # before taking the room's lock: rendering is the slow part
    with conn.transaction():
        seq = conn.execute(SQL_NEXT_SEQ, (room["id"],)).fetchone()["last_seq"]
        if client_id is not None:
            previous = previous_use(conn, room, user, client_id)
            if previous is not None:
                if previous["kind"] not in protocol.MESSAGE_KINDS:
                    raise reused_key()
                repeat = Sent(previous["seq"], previous["created_at"], duplicate=True)
                raise Rollback()
        created_at = conn.execute(
            SQL_INSERT_MESSAGE, (room["id"], seq, user["id"], content, client_id, html, kind)
        ).fetchone()["created_at"]
        record_mentions(conn, [(room["id"], seq, user["id"], html)])
        frame = protocol.chat_frame(
            room["name"], seq, user["username"], content, created_at, client_id, html, kind
        )
        conn.execute(SQL_NOTIFY, (CHANNEL, notify_payload(room["id"], seq, frame)))
    if repeat is not None:
        return repeat
    metrics.MESSAGES.inc()
    return Sent(seq, created_at, duplicate=False)


def notify_payload(room_id: int, seq: int, frame: str, sent_ms: int | None = None) -> str:
    """'<room_id> <seq> <sent_ms> <frame>', or without the frame when it is too big.

    Listeners fetch a referenced message from the table, so size never loses one.
    `sent_ms` (this host's clock, Unix milliseconds; now unless given) lets each
    worker measure how long the message took to reach it
    (metrics.NOTIFY_TO_DELIVERY). A batch (chat/realtime/writer.py) sends one per line.
    """
    if sent_ms is None:
        sent_ms = int(time.time() * 1000)
    head = f"{room_id} {seq} {sent_ms}"
    payload = f"{head} {frame}"
    if len(payload.encode()) > NOTIFY_PAYLOAD_MAX:
        return head
    return payload
