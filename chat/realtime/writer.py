"""Group commit: the sends of one worker written together, one transaction per batch.

PostgreSQL serialises the commits of transactions that sent a NOTIFY (one
global lock from the NOTIFY through the commit's WAL flush), so one message
per transaction tops out at a few thousand a second for the whole database
(bench/notify_ceiling.py). Here each worker has one writer greenlet: a send
waits in its queue while the previous batch commits, and everything that
queued meanwhile goes out together, in one transaction with one NOTIFY per
8 KB of frames. Quiet, a batch is one message and adds nothing to latency;
busy, batches grow by themselves.

Per batch, in one transaction: lock the batch's rooms in id order (two
workers' batches cannot deadlock), drop repeats of a (room, user, client_id)
already stored or earlier in the batch, give the rest the next seqs of their
rooms, insert them in one statement, move each room's last_seq, NOTIFY. A
caller's send returns once the batch has committed, exactly as a lone send
would: same seq rules, same duplicate answer, same errors.
"""

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import ConnectionPool

from chat import actions, metrics, protocol
from chat.actions import CHANNEL, NOTIFY_PAYLOAD_MAX, SQL_NOTIFY, Sent
from chat.domain.render import render

log = logging.getLogger(__name__)

# Messages in one transaction at most: a batch's insert and its NOTIFY payloads
# stay small (hundreds of KB) while amortising the commit over many sends.
BATCH_MAX = 500

# now() is the transaction's start: every row of the batch gets it as created_at.
SQL_LOCK_ROOMS = """
    SELECT id, last_seq, now() AS now FROM rooms WHERE id = ANY(%s) ORDER BY id FOR UPDATE
"""
# As actions.SQL_PREVIOUS_USE, for a batch: what each key was used for
# before (a message or event's kind, or 'job' for a bot request).
SQL_PREVIOUS_SENDS = """
    WITH k AS (
        SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::text[])
            AS k(room_id, user_id, client_id)
    )
    SELECT m.room_id, m.user_id, m.client_id, m.seq, m.created_at, m.kind
    FROM messages m JOIN k USING (room_id, user_id, client_id)
    UNION ALL
    SELECT j.room_id, j.requested_by, j.client_id, NULL, j.created_at, 'job'
    FROM bot_jobs j
    JOIN k ON k.room_id = j.room_id AND k.user_id = j.requested_by AND k.client_id = j.client_id
"""
SQL_INSERT_MESSAGES = """
    INSERT INTO messages (room_id, seq, user_id, content, client_id, html, kind)
    SELECT * FROM unnest(
        %s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[]
    )
"""
SQL_SET_LAST_SEQS = """
    UPDATE rooms SET last_seq = v.last_seq
    FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, last_seq)
    WHERE rooms.id = v.id
"""


class SingleWriter:
    """Each send in its own transaction, in the caller's greenlet."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool

    def send(
        self,
        room: dict,
        user: dict,
        content: str,
        client_id: str | None,
        kind: str = protocol.KIND_CHAT,
    ) -> Sent:
        with self._pool.connection() as conn:
            return actions.send_message(conn, room, user, content, client_id, kind)


@dataclass
class _Send:
    room: dict
    user: dict
    content: str
    client_id: str | None
    html: str
    kind: str = protocol.KIND_CHAT
    done: threading.Event = field(default_factory=threading.Event)
    result: Sent | None = None
    error: BaseException | None = None


class Writer:
    """One per worker; `send` is safe from any greenlet or thread."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool
        self._queue: queue.SimpleQueue[_Send] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(
        self,
        room: dict,
        user: dict,
        content: str,
        client_id: str | None,
        kind: str = protocol.KIND_CHAT,
    ) -> Sent:
        """Store a message (or find its earlier copy) and announce it; like
        actions.send_message, but sharing a transaction with concurrent sends."""
        item = _Send(room, user, content, client_id, render(content), kind)
        self._start()
        self._queue.put(item)
        item.done.wait()
        if item.error is not None:
            raise item.error
        return item.result

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="writer")
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write_batch(batch)

    def _write_batch(self, batch: list[_Send]) -> None:
        try:
            with self._pool.connection() as conn:
                stored = write(conn, batch)
        except psycopg.OperationalError as exc:
            for item in batch:
                item.error = exc  # the database is away: each caller says so
        except Exception as exc:  # noqa: BLE001 - one bad send must not fail its batch-mates
            if len(batch) > 1:
                log.warning("batch of %d failed (%s); writing them one by one", len(batch), exc)
                for item in batch:
                    self._write_batch([item])
                return
            batch[0].error = exc
        else:
            metrics.MESSAGES.inc(stored)
        for item in batch:
            item.done.set()


def write(conn: psycopg.Connection, batch: list[_Send]) -> int:
    """Write a batch in one transaction; fills each item's result; returns how many
    new rows were stored.

    Two round trips before the commit, each a pipeline: the room locks and the
    earlier copies of the batch's client_ids (the second statement runs after
    the first has its locks, so it sees every earlier send), then the insert,
    the mentions, the rooms' last_seq and the NOTIFYs. Rows take created_at
    from now(), the transaction's start, which the lock statement returns, so
    frames are built before the insert and nothing waits for its answer.
    """
    with conn.transaction():
        room_ids = sorted({item.room["id"] for item in batch})
        keyed = [item for item in batch if item.client_id is not None]
        with conn.pipeline():
            locked = conn.execute(SQL_LOCK_ROOMS, (room_ids,))
            earlier = None
            if keyed:
                earlier = conn.execute(
                    SQL_PREVIOUS_SENDS,
                    (
                        [i.room["id"] for i in keyed],
                        [i.user["id"] for i in keyed],
                        [i.client_id for i in keyed],
                    ),
                )
        rows = locked.fetchall()
        last = {row["id"]: row["last_seq"] for row in rows}
        created_at = rows[0]["now"]
        previous = {}
        if earlier is not None:
            previous = {(r["room_id"], r["user_id"], r["client_id"]): r for r in earlier}
        new: list[tuple[_Send, int]] = []
        first_in_batch: dict[tuple, _Send] = {}
        repeats: list[tuple[_Send, _Send]] = []
        for item in batch:
            key = (item.room["id"], item.user["id"], item.client_id)
            if item.client_id is not None:
                if key in previous:
                    row = previous[key]
                    if row["kind"] in protocol.MESSAGE_KINDS:
                        item.result = Sent(row["seq"], row["created_at"], duplicate=True)
                    else:  # the key was used for an event or a bot request
                        item.error = actions.reused_key()
                    continue
                if key in first_in_batch:
                    repeats.append((item, first_in_batch[key]))
                    continue
                first_in_batch[key] = item
            last[item.room["id"]] += 1
            new.append((item, last[item.room["id"]]))
        if not new:
            return 0
        lines = []
        sent_ms = int(time.time() * 1000)
        for item, seq in new:
            frame = protocol.chat_frame(
                item.room["name"],
                seq,
                item.user["username"],
                item.content,
                created_at,
                item.client_id,
                item.html,
                item.kind,
            )
            lines.append(actions.notify_payload(item.room["id"], seq, frame, sent_ms))
        touched = sorted({i.room["id"] for i, _ in new})
        with conn.pipeline():
            conn.execute(
                SQL_INSERT_MESSAGES,
                (
                    [i.room["id"] for i, _ in new],
                    [seq for _, seq in new],
                    [i.user["id"] for i, _ in new],
                    [i.content for i, _ in new],
                    [i.client_id for i, _ in new],
                    [i.html for i, _ in new],
                    [i.kind for i, _ in new],
                ),
            )
            actions.record_mentions(
                conn, [(i.room["id"], seq, i.user["id"], i.html) for i, seq in new]
            )
            conn.execute(SQL_SET_LAST_SEQS, (touched, [last[r] for r in touched]))
            for payload in pack(lines):
                conn.execute(SQL_NOTIFY, (CHANNEL, payload))
        for item, seq in new:
            item.result = Sent(seq, created_at, duplicate=False)
    for item, first in repeats:
        item.result = Sent(first.result.seq, first.result.created_at, duplicate=True)
    return len(new)


def pack(lines: list[str]) -> list[str]:
    """Newline-joined payloads of at most NOTIFY_PAYLOAD_MAX bytes (a frame never
    holds a raw newline: JSON escapes them)."""
    payloads, current, size = [], [], 0
    for line in lines:
        n = len(line.encode()) + 1
        if current and size + n > NOTIFY_PAYLOAD_MAX:
            payloads.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += n
    if current:
        payloads.append("\n".join(current))
    return payloads
