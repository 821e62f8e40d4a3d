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
"""

import logging
import os
import secrets
import socket
import threading
import time

from psycopg_pool import ConnectionPool

from chat import actions
from chat.domain.entities import Room, User

log = logging.getLogger(__name__)

# Presence changes of one (room, user) pair must not interleave (a leave's
# delete racing a join's insert); striped locks serialise them without a lock
# object per pair.
_STRIPES = 64


class Presence:
    """This worker's share of who is in which room: counts of its own sockets per
    (room, user), written through chat/actions/presence.py, and the heartbeat
    thread that proves the worker alive and reaps dead workers' rows.

    `heartbeat`, `timeout` and `grace` are seconds. `arrive`/`depart` take a Room and
    a User and may block on the database; call
    them from a session's greenlet, never while holding a feed's lock.
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
        self._start_lock = threading.Lock()
        self._stopping = False

    def _stripe(self, key: tuple[int, int]) -> threading.Lock:
        return self._stripes[hash(key) % _STRIPES]

    def start(self) -> None:
        with self._start_lock:
            if self._started:
                return
            self._started = True
        with self._pool.connection() as conn:
            actions.register_worker(conn, self.worker_id)
        threading.Thread(target=self._beat_forever, daemon=True, name="presence").start()

    def arrive(self, room: Room, user: User) -> None:
        """A connection of user's now follows room."""
        key = (room.id, user.id)
        with self._stripe(key):
            count = self._counts.get(key, 0)
            self._counts[key] = count + 1
            self._who[key] = (room, user)
            if count == 0:
                self._write(actions.arrive, room, user)

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
            self._write(actions.depart, room, user)

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
        with self._people_stripes[user.id % _STRIPES]:
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
        with self._people_stripes[user.id % _STRIPES]:
            leaving = self._leaving.get(user.id)
            if leaving is not None and leaving[1] is token:
                del self._leaving[user.id]
                self._record(user, None)

    def _record(self, user: User, state: bool | None) -> None:
        """Write this worker's share of the person (caller holds their stripe)."""
        try:
            with self._pool.connection() as conn:
                actions.set_status(conn, self.worker_id, user, state)
        except Exception as exc:  # the heartbeat's reconcile repairs it
            log.warning("presence of %s not recorded: %s", user.username, exc)

    @staticmethod
    def _state(count: list[int]) -> bool | None:
        """This worker's share of a person: None (no sockets), away or not."""
        if count[0] <= 0:
            return None
        return count[1] >= count[0]

    def _write(self, action, room: Room, user: User) -> None:
        try:
            with self._pool.connection() as conn:
                action(conn, self.worker_id, room, user)
        except Exception as exc:  # the heartbeat's reconcile repairs it
            log.warning("presence of %s in %s not recorded: %s", user.username, room.name, exc)

    def _beat_forever(self) -> None:
        while not self._stopping:
            time.sleep(self._heartbeat)
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
        with self._pool.connection() as conn:
            pairs = actions.worker_presence(conn, self.worker_id)
        stored = {(room.id, user.id): (room, user) for room, user in pairs}
        for key in set(self._who) - set(stored):
            with self._stripe(key):
                if key in self._who:
                    self._write(actions.arrive, *self._who[key])
        for key in set(stored) - set(self._who):
            with self._stripe(key):
                if key not in self._who:
                    self._write(actions.depart, *stored[key])
        with self._pool.connection() as conn:
            people = actions.worker_people_away(conn, self.worker_id)
            stored_people = actions.worker_people(conn, self.worker_id)
        for user in [*self._person.values(), *stored_people]:
            if user.id in self._leaving:
                continue  # within its grace: the timer records it
            with self._people_stripes[user.id % _STRIPES]:
                count = self._people.get(user.id)
                wanted = self._state(count) if count else None
                if people.get(user.id) is not wanted:
                    with self._pool.connection() as conn:
                        actions.set_status(conn, self.worker_id, user, wanted)
                    people[user.id] = wanted

    def stop(self) -> None:
        """The worker is exiting: everyone connected through it leaves now."""
        self._stopping = True
        if not self._started:
            return
        try:
            with self._pool.connection() as conn:
                actions.retire_worker(conn, self.worker_id)
        except Exception as exc:
            log.warning("could not retire worker %s: %s", self.worker_id, exc)
