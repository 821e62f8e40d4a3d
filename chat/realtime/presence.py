"""Presence across every worker and host, kept in PostgreSQL.

Each worker counts its own connections per (room, user) and writes one row
per pair it has, so a user with five tabs on two workers is two rows and one
online user. The first row of a user in a room announces `user_joined`, the
removal of the last one `user_left` (chat/actions/presence.py, under a per-room lock).

A worker proves it is alive with a heartbeat; any worker removes the rows of a
worker whose heartbeat stopped (kill -9, a lost host) and announces the
departures, so presence converges within PRESENCE_TIMEOUT + PRESENCE_HEARTBEAT.
The heartbeat also reconciles this worker's rows with its own counts, which
repairs whatever a failed write or a database outage left behind.

Per person (DESIGN §9) the worker also counts each user's sockets and how many
of them reported the person away (idle, or the page hidden), and writes one
`user_presence` row per user: away when all of their sockets here are. A
change of the person's status across every worker is announced to the rooms
they are a member of (chat/actions/presence.py set_status). The close of a
person's last socket here is recorded only `grace` seconds later, and not at
all if a socket of theirs opens meanwhile: a browser moving from page to page
closes one socket and opens the next, which is not going offline.

Writes are batched (issue 20: thousands of sockets connecting within seconds
after a deploy): a change is decided under its stripe's lock and queued
there, so the queue holds each (room, user) pair's and each person's changes
in the order they happened; one writer greenlet drains it, everything queued
while the previous batch committed going out in one transaction
(actions.apply_changes), as chat/realtime/writer.py does for messages. Every
call returns once the change it made (or the earlier one its state rests on:
a second tab's arrival waits for the first's) has committed, as a lone write
did: the joiner's online list, read right after its arrival, has it in.
"""

import logging
import os
import queue
import secrets
import socket
import threading
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from chat import actions
from chat.domain.entities import Room, User
from chat.realtime.writer import next_batch

log = logging.getLogger(__name__)

# Presence changes of one (room, user) pair must not interleave (a leave's
# delete racing a join's insert); striped locks serialise them without a lock
# object per pair.
_STRIPES = 64
# Changes in one transaction at most. Each takes an advisory lock on its room
# or person until the commit, and PostgreSQL's lock table holds about 64 per
# connection in all (max_locks_per_transaction): a few hundred per worker keep
# a storm on several workers well inside it, and 100 changes already share
# one commit a hundredfold.
BATCH_MAX = 100
# How long a stopping worker waits for the batch in flight before retiring its
# rows (a batch committed after the retirement would fail on the forgotten
# worker's key): longer than a batch takes, shorter than gunicorn's
# graceful_timeout.
STOP_WAIT = 5.0


@dataclass(eq=False)
class _Pending:
    """A change waiting in the writer's queue (None: a marker that the queue is
    drained up to here); `done` is set once its batch has committed or failed."""

    change: actions.Change | None
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> None:
        self.done.wait()


class Presence:
    """This worker's share of who is in which room: counts of its own sockets per
    (room, user), written through chat/actions/presence.py, and the heartbeat
    thread that proves the worker alive and reaps dead workers' rows.

    `heartbeat`, `timeout` and `grace` are seconds. `arrive`/`depart` take a Room and
    a User; they and the per-person calls block until the batch that carries
    their change has committed: call them from a session's greenlet, never
    while holding a feed's lock.
    """

    def __init__(self, pool: ConnectionPool, heartbeat: float, timeout: float, grace: float = 0.0):
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._pool = pool
        self._heartbeat = heartbeat
        self._timeout = timeout
        self._counts: dict[tuple[int, int], int] = {}
        self._who: dict[tuple[int, int], tuple[Room, User]] = {}
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        # Per person: user id -> [sockets, of which away], and the User.
        self._people: dict[int, list[int]] = {}
        self._person: dict[int, User] = {}
        self._people_stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._grace = grace
        # People whose last socket here closed, not yet recorded: user id -> the
        # share still recorded for them (away or not), and the timer's token.
        self._leaving: dict[int, tuple[bool, object]] = {}
        self._started = False
        self._start_lock = threading.Lock()  # the writer's start
        self._register_lock = threading.Lock()
        self._stopping = False
        # The last change queued per (room, user) pair and per person: a call
        # returns once it has committed. Set under the key's stripe.
        self._written: dict[tuple[int, int], _Pending] = {}
        self._person_written: dict[int, _Pending] = {}
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._wake = threading.Event()  # the heartbeat's sleep, cut short by stop

    def _stripe(self, key: tuple[int, int]) -> threading.Lock:
        return self._stripes[hash(key) % _STRIPES]

    def start(self) -> None:
        """Register the worker (once; every caller returns after it has: a change
        written before the worker's row would fail on its key)."""
        if self._started:
            return
        with self._register_lock:
            if self._started:
                return
            with self._pool.connection() as conn:
                actions.register_worker(conn, self.worker_id)  # raises: the next start retries
            self._started = True
        threading.Thread(target=self._beat_forever, daemon=True, name="presence").start()

    def arrive(self, room: Room, user: User) -> None:
        """A connection of user's now follows room; returns once the user's
        presence there is recorded (by this call or an earlier one)."""
        key = (room.id, user.id)
        with self._stripe(key):
            count = self._counts.get(key, 0)
            self._counts[key] = count + 1
            self._who[key] = (room, user)
            if count == 0:
                self._written[key] = self._submit(
                    actions.RoomChange(self.worker_id, room, user, True)
                )
            pending = self._written.get(key)
        self._settle(pending, self._written, key, self._stripe(key))

    def depart(self, room: Room, user: User) -> None:
        """A connection of user's stopped following room."""
        key = (room.id, user.id)
        with self._stripe(key):
            count = self._counts.get(key, 0) - 1
            if count > 0:
                self._counts[key] = count
                return
            self._counts.pop(key, None)
            self._who.pop(key, None)
            pending = self._written[key] = self._submit(
                actions.RoomChange(self.worker_id, room, user, False)
            )
        self._settle(pending, self._written, key, self._stripe(key))

    def _settle(self, pending: "_Pending | None", written: dict, key, stripe) -> None:
        """Wait for `pending` to commit; then forget it if it was the key's last
        change and the key has no sockets left (the dicts stay as big as the
        keys in use)."""
        if pending is None:
            return
        pending.wait()
        with stripe:
            if written.get(key) is pending and not self._in_use(written, key):
                del written[key]

    def _in_use(self, written: dict, key) -> bool:
        if written is self._written:
            return key in self._counts
        return key in self._people or key in self._leaving

    # --- the writer: one batch of changes per transaction -----------------------

    def _submit(self, change: actions.Change | None) -> _Pending:
        """Queue a change (the caller holds its key's stripe: the queue keeps the
        key's order); the writer greenlet starts with the first."""
        item = _Pending(change)
        with self._start_lock:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_forever, daemon=True, name="presence-writer"
                )
                self._writer.start()
        self._queue.put(item)
        return item

    def _write_forever(self) -> None:
        while True:
            batch = next_batch(self._queue, BATCH_MAX)
            try:
                self._write_batch([item.change for item in batch if item.change is not None])
            except Exception:  # the writer must outlive any batch: callers wait on it
                log.exception("presence batch of %d failed", len(batch))
            finally:
                for item in batch:
                    item.done.set()

    def _write_batch(self, changes: list, retried: bool = False) -> None:
        """Write `changes` in one transaction. A failed batch is written again
        one change at a time (one bad change, a user deleted meanwhile, must not
        cost its batch-mates theirs), or once more whole if the database was
        away (a connection broken by a restart); what still fails is logged and
        left to the heartbeat's reconcile, which writes this worker's counts."""
        if not changes or self._stopping:
            return  # a stopping worker's rows all go at once (stop)
        try:
            with self._pool.connection() as conn:
                actions.apply_changes(conn, changes)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if not retried:
                log.warning("presence batch of %d: %s; writing it again", len(changes), exc)
                self._write_batch(changes, retried=True)
                return
            log.warning(
                "presence: %d change(s) not recorded, database unavailable (%s);"
                " the next heartbeat writes them",
                len(changes),
                exc,
            )
        except Exception as exc:  # noqa: BLE001 - one bad change must not fail its batch-mates
            if len(changes) > 1:
                log.warning(
                    "presence batch of %d failed (%s); writing one by one", len(changes), exc
                )
                for change in changes:
                    self._write_batch([change], retried=True)
                return
            log.warning("presence change not recorded (%s): %s", exc, _describe(changes[0]))

    # --- per person ---------------------------------------------------------

    def connect(self, user: User) -> None:
        """A socket of the user's opened here (active)."""
        self._person_change(user, sockets=1, away=0)

    def disconnect(self, user: User, was_away: bool) -> None:
        """A socket of the user's closed here (`was_away`: it had reported away)."""
        self._person_change(user, sockets=-1, away=-1 if was_away else 0)

    def set_away(self, user: User, away: bool) -> None:
        """One socket of the user's reported the person away (True) or back (False)."""
        self._person_change(user, sockets=0, away=1 if away else -1)

    def _person_change(self, user: User, sockets: int, away: int) -> None:
        stripe = self._people_stripes[user.id % _STRIPES]
        with stripe:
            self._person_locked(user, sockets, away)
            pending = self._person_written.get(user.id)
        self._settle(pending, self._person_written, user.id, stripe)

    def _person_locked(self, user: User, sockets: int, away: int) -> None:
        """Count the change; queue the person's new share if it changed (the
        caller holds their stripe)."""
        count = self._people.setdefault(user.id, [0, 0])
        before = self._state(count)
        count[0] += sockets
        count[1] += away
        after = self._state(count)
        if count[0] <= 0:
            del self._people[user.id]
            self._person.pop(user.id, None)
        else:
            self._person[user.id] = user
        if before is None and user.id in self._leaving:
            before = self._leaving.pop(user.id)[0]  # back within the grace: still recorded
        if after == before:
            return
        if after is None and self._grace > 0:
            token = object()
            self._leaving[user.id] = (before, token)
            timer = threading.Timer(self._grace, self._left, args=(user, token))
            timer.daemon = True
            timer.start()
            return
        self._record(user, after)

    def _left(self, user: User, token: object) -> None:
        """The grace after a person's last close here is over: record it, unless
        a socket of theirs opened meanwhile (and perhaps closed again: then a
        later timer, with its own token, records that)."""
        if self._stopping:
            return  # the worker's rows go with it (stop)
        stripe = self._people_stripes[user.id % _STRIPES]
        with stripe:
            leaving = self._leaving.get(user.id)
            if leaving is None or leaving[1] is not token:
                return
            del self._leaving[user.id]
            self._record(user, None)
            pending = self._person_written.get(user.id)
        self._settle(pending, self._person_written, user.id, stripe)

    def _record(self, user: User, state: bool | None) -> None:
        """Queue this worker's share of the person (caller holds their stripe)."""
        self._person_written[user.id] = self._submit(
            actions.StatusChange(self.worker_id, user, state)
        )

    @staticmethod
    def _state(count: list[int]) -> bool | None:
        """This worker's share of a person: None (no sockets), away or not."""
        if count[0] <= 0:
            return None
        return count[1] >= count[0]

    def _beat_forever(self) -> None:
        while not self._stopping:
            self._wake.wait(self._heartbeat)
            if self._stopping:
                return
            try:
                self.beat()
            except Exception as exc:
                log.warning("presence heartbeat failed: %s", exc)

    def beat(self) -> None:
        """Refresh this worker's heartbeat, repair its rows, retire dead workers."""
        with self._pool.connection() as conn:
            if not actions.heartbeat(conn, self.worker_id):
                log.warning("worker %s was presumed dead; registering again", self.worker_id)
                actions.register_worker(conn, self.worker_id)
        self._reconcile()
        with self._pool.connection() as conn:
            for worker_id in actions.reap_dead_workers(conn, self._timeout):
                log.info("retired dead worker %s and its presence", worker_id)

    def _reconcile(self) -> None:
        """Queue whatever makes the table say what this worker's counts say, and
        wait for it. A change queued meanwhile is not undone: each queued change
        states the key's wanted state (the table is read before the counts, and
        a change to a state already stored writes and announces nothing)."""
        with self._pool.connection() as conn:
            pairs = actions.worker_presence(conn, self.worker_id)
            people = actions.worker_people_away(conn, self.worker_id)
            stored_people = actions.worker_people(conn, self.worker_id)
        stored = {(room.id, user.id): (room, user) for room, user in pairs}
        queued: list[tuple] = []  # what _settle takes, per change queued
        for key in set(self._who) ^ set(stored):
            with self._stripe(key):
                pair = self._who.get(key) or stored.get(key)
                if pair is None:
                    continue  # came and went since the read: nothing to repair
                room, user = pair
                change = actions.RoomChange(self.worker_id, room, user, key in self._who)
                self._written[key] = self._submit(change)
                queued.append((self._written[key], self._written, key, self._stripe(key)))
        for user in [*self._person.values(), *stored_people]:
            with self._people_stripes[user.id % _STRIPES]:
                if user.id in self._leaving:
                    continue  # within its grace: the timer records it
                count = self._people.get(user.id)
                wanted = self._state(count) if count else None
                if people.get(user.id, None) is not wanted:
                    self._record(user, wanted)
                    pending = self._person_written[user.id]
                    stripe = self._people_stripes[user.id % _STRIPES]
                    queued.append((pending, self._person_written, user.id, stripe))
                    people[user.id] = wanted
        for args in queued:
            self._settle(*args)

    def stop(self) -> None:
        """The worker is exiting: everyone connected through it leaves now."""
        self._stopping = True
        self._wake.set()
        if not self._started:
            return
        # Changes still queued are dropped (the retirement removes every row);
        # the batch in flight commits first.
        self._submit(None).done.wait(STOP_WAIT)
        try:
            with self._pool.connection() as conn:
                actions.retire_worker(conn, self.worker_id)
        except Exception as exc:
            log.warning("could not retire worker %s: %s", self.worker_id, exc)


def _describe(change) -> str:
    """A change as a log line names it."""
    if isinstance(change, actions.RoomChange):
        verb = "arrival" if change.present else "departure"
        return f"{verb} of {change.user.username} in {change.room.name}"
    return f"status of {change.user.username} ({change.away})"
