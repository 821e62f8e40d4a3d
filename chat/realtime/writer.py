"""Group commit: the sends of one worker written together, one transaction per batch.

PostgreSQL serialises the commits of transactions that sent a NOTIFY (one
global lock from the NOTIFY through the commit's WAL flush), so one message
per transaction tops out at a few thousand a second for the whole database
(bench/notify_ceiling.py). Here each worker has one writer greenlet: a send
waits in its queue while the previous batch commits, and everything that
queued meanwhile goes out together through actions.send_messages, the one
write path of messages (one transaction, one NOTIFY per 8 KB of frames).
Quiet, a batch is one message and adds nothing to latency; busy, batches
grow by themselves.

This module only schedules: the queue, the batches, and each caller's answer
or error. A caller's send returns once its batch has committed, exactly as a
lone send would: same seq rules, same duplicate answer, same errors.
"""

import logging
import queue
import threading
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import ConnectionPool

from chat import actions, metrics
from chat.actions import Send, Sent
from chat.domain import kinds
from chat.domain.entities import Room, User
from chat.domain.threads import NO_REPLY, ReplyTo

log = logging.getLogger(__name__)

# Messages in one transaction at most: a batch's insert and its NOTIFY payloads
# stay small (hundreds of KB) while amortising the commit over many sends.
BATCH_MAX = 500


def next_batch(waiting: queue.SimpleQueue, limit: int) -> list:
    """The next batch of a writer greenlet: waits for one item, then takes what
    else is already queued, `limit` items at most, in queue order."""
    batch = [waiting.get()]
    while len(batch) < limit:
        try:
            batch.append(waiting.get_nowait())
        except queue.Empty:
            break
    return batch


class SingleWriter:
    """Each send in its own transaction, in the caller's greenlet (WRITE_BATCH=0,
    the benchmarks' naive baseline)."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool

    def send(
        self,
        room: Room,
        user: User,
        content: str,
        client_id: str | None,
        kind: str = kinds.KIND_CHAT,
        files: tuple[str, ...] = (),
        reply: ReplyTo = NO_REPLY,
    ) -> Sent:
        """actions.send_message on a connection of the pool."""
        with self._pool.connection() as conn:
            return actions.send_message(
                conn, room, user, content, client_id, kind, files, reply=reply
            )


@dataclass
class _Pending:
    """A send waiting in the queue, then its outcome for the waiting caller."""

    send: Send
    done: threading.Event = field(default_factory=threading.Event)
    result: Sent | None = None
    error: BaseException | None = None


class Writer:
    """One per worker; `send` is safe from any greenlet or thread."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def send(
        self,
        room: Room,
        user: User,
        content: str,
        client_id: str | None,
        kind: str = kinds.KIND_CHAT,
        files: tuple[str, ...] = (),
        reply: ReplyTo = NO_REPLY,
    ) -> Sent:
        """Store a message (or find its earlier copy) and announce it; like
        actions.send_message, but sharing a transaction with concurrent sends.

        Blocks the calling greenlet until its batch has committed; call it
        outside any transaction. Raises what actions.send_message would.
        """
        item = _Pending(Send.of(room, user, content, client_id, kind, files, reply=reply))
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
            self._write_batch(next_batch(self._queue, BATCH_MAX))

    def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            with self._pool.connection() as conn:
                outcomes = actions.send_messages(conn, [item.send for item in batch])
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
            metrics.WRITER_BATCHES.inc()
            for item, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Sent):
                    item.result = outcome
                else:
                    item.error = outcome  # refused; its batch-mates went ahead
        for item in batch:
            item.done.set()
