"""Reads of outgoing webhooks (docs/webhooks.md "Outgoing webhooks"): a room's
webhooks for its page and the API, those the send path matches against, and
what one delivery job needs.

Only reads: the writes are chat/actions/outgoing.py (webhooks, replies) and
chat/actions/triggers.py (the jobs queued by the send path).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection, Cursor

# The live webhooks of a batch's rooms, with their bot users' names: run in
# the send path's first pipeline, after the rooms' locks (a webhook made or
# deleted under the room's lock is seen by every later send, by no earlier
# one). Its partial index makes it one probe per room, finding nothing in a
# room without webhooks. A statement of its own, not a subquery of the lock
# statement: a subquery would read with the lock statement's snapshot, taken
# before it waited for the lock, and miss a webhook committed meanwhile by
# the creation that held the lock. Measured (batches of one, interleaved, a
# loaded 2-core VM): ~60 µs of client CPU per batch, ~6% of a lone send's.
SQL_LIVE_WEBHOOKS = """
    SELECT w.id, w.room_id, w.bot_user_id, w.trigger_words, u.username AS bot_name
    FROM outgoing_webhooks w JOIN users u ON u.id = w.bot_user_id
    WHERE w.room_id = ANY(%s::bigint[]) AND w.deleted_at IS NULL
"""
SQL_ROOM_WEBHOOKS = """
    SELECT w.id, u.username AS bot_name, w.url, w.trigger_words, c.username AS created_by,
           w.created_at, w.last_status, w.last_delivery_at
    FROM outgoing_webhooks w
    JOIN users u ON u.id = w.bot_user_id
    LEFT JOIN users c ON c.id = w.created_by
    WHERE w.room_id = %s AND w.deleted_at IS NULL
    ORDER BY w.id
"""
# Everything a delivery needs: the webhook (and whether it is still live), the
# message as it is now (deleted or not), its author, and its room's name.
SQL_DELIVERY = """
    SELECT w.id AS webhook_id, w.url, w.secret, w.deleted_at IS NOT NULL AS webhook_deleted,
           w.bot_user_id, b.username AS bot_name,
           r.id AS room_id, r.name AS room_name, r.is_private, r.is_direct, r.created_by,
           m.seq, m.thread_seq, m.content, m.created_at, m.deleted_at IS NOT NULL AS deleted,
           a.id AS author_id, a.username AS author_name, a.display_name AS author_display_name
    FROM outgoing_webhooks w
    JOIN users b ON b.id = w.bot_user_id
    JOIN rooms r ON r.id = w.room_id
    JOIN messages m ON m.room_id = w.room_id AND m.seq = %(seq)s
    JOIN users a ON a.id = m.user_id
    WHERE w.id = %(webhook_id)s
"""


@dataclass(frozen=True, slots=True)
class Webhook:
    """An outgoing webhook as a room's members see it (never its secret)."""

    id: int
    bot_name: str
    url: str
    trigger_words: tuple[str, ...]
    created_by: str | None
    created_at: datetime
    last_status: str | None
    last_delivery_at: datetime | None

    @classmethod
    def from_row(cls, row: dict) -> "Webhook":
        return cls(
            row["id"],
            row["bot_name"],
            row["url"],
            tuple(row["trigger_words"]),
            row["created_by"],
            row["created_at"],
            row["last_status"],
            row["last_delivery_at"],
        )


def live_webhooks(conn: Connection, room_ids: Sequence[int]) -> Cursor:
    """Send SQL_LIVE_WEBHOOKS for `room_ids` (inside the send path's pipeline:
    the rows are fetched once it is synced)."""
    return conn.execute(SQL_LIVE_WEBHOOKS, (list(room_ids),))


def room_webhooks(conn: Connection, room_id: int) -> list[Webhook]:
    """The room's webhooks that are not deleted, oldest first."""
    return [Webhook.from_row(row) for row in conn.execute(SQL_ROOM_WEBHOOKS, (room_id,))]


def delivery(conn: Connection, webhook_id: int, seq: int) -> dict | None:
    """SQL_DELIVERY's row for a job's webhook and message; None if either is gone."""
    return conn.execute(SQL_DELIVERY, {"webhook_id": webhook_id, "seq": seq}).fetchone()
