"""A worker's LISTEN connection: it hears the bus and hands decoded events to a handler.

The connection is its own (outside the pool), in autocommit and idle between
notifications: a connection inside a transaction hears nothing until it
ends. It LISTENs on the workers' three channels, decodes each notification
(chat/storage/bus.py) and calls its BusHandler, which never sees a payload;
of bus.CHANNEL's lines it decodes only those of rooms the handler serves.
Lost, it is reopened with backoff, and the handler is told each time it
listens again, so it can read from the table what it may have missed (NOTIFY
is at most once). A heartbeat (a NOTIFY to itself) proves that it hears;
one that does not come back within an interval means a silently dead
connection, which is replaced.

The listener never imports the hub: chat/realtime/hub.py is its handler.
"""

import logging
import select
import threading
import time
from collections.abc import Sequence
from typing import Protocol

import gevent
import psycopg
from gevent import monkey
from psycopg_pool import ConnectionPool

from chat import actions, metrics
from chat.storage import bus
from chat.storage.bus import CHANNEL, CONTROL_CHANNEL, EVENTS_CHANNEL, USER_CHANNEL
from chat.storage.db import tcp_options

log = logging.getLogger(__name__)

# Reconnect backoff for the LISTEN connection: quick first retry, capped so a
# long outage costs one attempt per few seconds per worker.
BACKOFF_MIN, BACKOFF_MAX = 0.1, 5.0
# Shown in pg_stat_activity, so operators can find (and tests can kill) it.
LISTENER_NAME = "chat-listener"


class BusHandler(Protocol):
    """What the listener hands decoded events to, one at a time, from its own thread.

    Each call blocks the LISTEN loop: keep it short. An exception other than
    psycopg.Error is logged and the loop goes on; a psycopg.Error reopens the
    connection.
    """

    def on_listening(self, reconnected: bool) -> None:
        """LISTEN is active (again, if `reconnected`): read back from the table
        whatever may have been committed while not listening."""

    def serves(self, room_id: int) -> bool:
        """Whether anything here follows the room: a stored line of a room this
        refuses is skipped with its room id read and nothing more parsed."""

    def on_stored(self, events: Sequence[bus.Stored]) -> None:
        """Rows committed and announced on bus.CHANNEL, in notification order
        (only those of rooms `serves` accepted, a moment before)."""

    def on_ephemeral(self, event: bus.Ephemeral) -> None:
        """Frames for a room's clients, never stored (bus.EVENTS_CHANNEL)."""

    def on_user(self, event: bus.UserEvent) -> None:
        """A frame for one user's sockets (bus.USER_CHANNEL)."""

    def on_control(self, event: bus.Control) -> None:
        """A revocation (bus.CONTROL_CHANNEL; heartbeats are the listener's own)."""


class Listener:
    """One per worker. Takes the conninfo of its connection, the pool its heartbeats
    go out through, the handler, the heartbeat's interval and the TCP timeout.
    `start` is idempotent and safe from any thread; `listening` is set while
    LISTEN is active."""

    def __init__(
        self,
        conninfo: str,
        pool: ConnectionPool,
        handler: BusHandler,
        probe_interval: float = 15.0,
        tcp_timeout: float = 10.0,
    ):
        self._conninfo = conninfo
        self._pool = pool
        self._handler = handler
        # An idle LISTEN connection is probed this often so that a dead one is noticed.
        self._probe_interval = probe_interval
        self._tcp_timeout = tcp_timeout
        self._lock = threading.Lock()
        self._started = False
        self._stopping = False
        self.listening = threading.Event()
        self.reconnects = 0

    def start(self) -> None:
        """Open the connection and listen, in a thread of its own, until `stop`."""
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._listen_forever, daemon=True, name="hub-listener").start()

    def stop(self) -> None:
        """End the loop (within a second); the handler gets nothing more."""
        self._stopping = True

    def _listen_forever(self) -> None:
        delay = BACKOFF_MIN
        while not self._stopping:
            try:
                self._listen_once()
                delay = BACKOFF_MIN
            except Exception as exc:
                self.listening.clear()
                self.reconnects += 1
                metrics.LISTEN_RECONNECTS.inc()
                log.warning("LISTEN connection lost (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    def _listen_once(self) -> None:
        with psycopg.connect(
            self._conninfo,
            autocommit=True,
            application_name=LISTENER_NAME,
            connect_timeout=max(2, int(self._tcp_timeout)),
            **tcp_options(self._tcp_timeout),
        ) as conn:
            # What arrives while the statements run is psycopg's to read: kept
            # here, handed on once the handler knows it listens.
            early: list[psycopg.Notify] = []
            conn.add_notify_handler(early.append)
            conn.execute(
                f"LISTEN {CHANNEL}; LISTEN {EVENTS_CHANNEL};"
                f" LISTEN {USER_CHANNEL}; LISTEN {CONTROL_CHANNEL}"
            )
            conn.remove_notify_handler(early.append)
            # Listening from here on: anything committed earlier is read back.
            self._handler.on_listening(reconnected=self.reconnects > 0)
            self.listening.set()
            log.info(
                "listening on %s, %s, %s and %s",
                CHANNEL,
                EVENTS_CHANNEL,
                USER_CHANNEL,
                CONTROL_CHANNEL,
            )
            heartbeat = _Heartbeat(self._pool, self._probe_interval)
            for notify in early:
                self._dispatch(notify.channel, notify.payload, heartbeat)
            self._hear(conn.pgconn, heartbeat)

    def _hear(self, pgconn: "psycopg.pq.abc.PGconn", heartbeat: "_Heartbeat") -> None:
        """Hand on what the connection hears until `stop`, checking the heartbeat
        at least once a second.

        Read at libpq's level (psycopg.pq): wait until the socket is readable,
        take in what came, hand on each notification. Connection.notifies()
        costs a worker about 1.5 times as much CPU per wake under gevent (it
        builds a poller and its watchers for every wait: ~81 against ~53 µs a
        notification, bench/listen_wake.py), and every worker pays it for every
        batch any worker commits. A broken connection raises OperationalError
        from consume_input: the caller reconnects.
        """
        readable = _Readable(pgconn.socket)
        try:
            while not self._stopping:
                readable.wait(1.0)
                pgconn.consume_input()
                while (notify := pgconn.notifies()) is not None:
                    self._dispatch(notify.relname.decode(), notify.extra.decode(), heartbeat)
                if heartbeat.overdue():
                    # Our own NOTIFY did not come back: the connection looks open
                    # but hears nothing (a silent partition). Start over.
                    raise psycopg.OperationalError("LISTEN connection silent; reconnecting")
                heartbeat.maybe_send()
        finally:
            readable.close()

    def _dispatch(self, channel: str, payload: str, heartbeat: "_Heartbeat") -> None:
        """Decode one notification and hand it on."""
        try:
            if channel == CHANNEL:
                events = bus.decode_stored(payload, self._handler.serves)
                if events:
                    self._handler.on_stored(events)
            elif channel == EVENTS_CHANNEL:
                event = bus.decode_ephemeral(payload)
                if event is not None:
                    self._handler.on_ephemeral(event)
            elif channel == USER_CHANNEL:
                event = bus.decode_user(payload)
                if event is not None:
                    self._handler.on_user(event)
            elif channel == CONTROL_CHANNEL:
                event = bus.decode_control(payload)
                if isinstance(event, bus.Heartbeat):
                    heartbeat.heard(event)
                else:
                    self._handler.on_control(event)
        except psycopg.Error:
            raise
        except Exception:
            log.exception("delivering a notification on %s failed", channel)


class _Readable:
    """Waits until a socket has something to read, or a timeout passes.

    In a gevent worker (select monkey-patched) with one watcher kept for the
    socket's life, so a wait costs a switch and no set-up; elsewhere (tests
    with real threads, tools) with select()."""

    def __init__(self, fd: int):
        self._fd = fd
        self._watcher = None
        if monkey.is_module_patched("select"):
            self._hub = gevent.get_hub()
            self._watcher = self._hub.loop.io(fd, 1)  # 1: readable
            # Under load the next notifications are often in before the last
            # ones are handed on: a look (no switch) finds them.
            self._poller = monkey.get_original("select", "poll")()
            self._poller.register(fd, select.POLLIN)

    def wait(self, timeout: float) -> None:
        if self._watcher is None:
            select.select([self._fd], [], [], timeout)
            return
        if self._poller.poll(0):
            return
        with gevent.Timeout(timeout, False):
            self._hub.wait(self._watcher)

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()


class _Heartbeat:
    """A NOTIFY this worker sends itself every interval, through the pool.

    If it has not come back through the LISTEN connection within another
    interval, that connection is dead however healthy TCP says it is.
    """

    def __init__(self, pool: ConnectionPool, interval: float):
        self._pool = pool
        self._interval = interval
        self._token = bus.new_heartbeat(self)
        self._sent_at: float | None = None
        self._next = time.monotonic() + interval

    def maybe_send(self) -> None:
        now = time.monotonic()
        if self._sent_at is None and now >= self._next:
            self._sent_at = now
            threading.Thread(target=self._send, daemon=True, name="listen-heartbeat").start()

    def _send(self) -> None:
        try:
            with self._pool.connection() as conn:
                actions.publish_heartbeat(conn, self._token)
        except Exception as exc:  # the database is down: the reconnect loop handles it
            log.warning("LISTEN heartbeat not sent: %s", exc)

    def heard(self, heartbeat: bus.Heartbeat) -> None:
        """A heartbeat came back: ours proves the connection hears (another
        worker's is ignored)."""
        if heartbeat == self._token:
            self._sent_at = None
            self._next = time.monotonic() + self._interval

    def overdue(self) -> bool:
        return self._sent_at is not None and time.monotonic() - self._sent_at > self._interval
