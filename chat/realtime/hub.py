"""Per-worker fan-out: one LISTEN connection, and the rooms this worker's clients follow.

For each room with local clients the hub keeps a feed: the last seq it has
delivered and the peers to deliver to. A notification with the next seq is
handed to every peer as received (encoded once, by the sender). Anything else
— a skipped seq, a payload sent by reference, a LISTEN connection that had to
be re-established — is read back from the messages table, which is the truth.

A joining client first catches up from the table while the feed keeps moving,
and is added to the feed's peers only at the moment its cursor equals the
feed's last delivered seq; both happen under the feed's lock, so every seq
reaches it exactly once: from the table before that moment, live after it.
"""

import logging
import threading
import time

import psycopg
from psycopg_pool import ConnectionPool

from chat import metrics, protocol
from chat.actions import CHANNEL, CONTROL_CHANNEL, EVENTS_CHANNEL, ONLINE_USERS_REF
from chat.domain.validate import SEQ_MAX
from chat.realtime.peer import Peer, PeerClosed, wire
from chat.storage import queries
from chat.storage.db import tcp_options

log = logging.getLogger(__name__)

# Rows per query when catching up or filling a gap: large enough to amortise
# the round trip, small enough that one page never holds a lock for long.
PAGE = 200
# What a client gets on joining without `after` (DESIGN §5).
HISTORY_ON_JOIN = 50
# Reconnect backoff for the LISTEN connection: quick first retry, capped so a
# long outage costs one attempt per few seconds per worker.
BACKOFF_MIN, BACKOFF_MAX = 0.1, 5.0
# How long a join waits for the LISTEN connection before giving up.
LISTEN_WAIT = 10.0
# Shown in pg_stat_activity, so operators can find (and tests can kill) it.
LISTENER_NAME = "chat-listener"


class HubUnavailable(Exception):
    """The database cannot be listened to right now; the client should retry."""


class JoinCancelled(Exception):
    """The client left the room (or went away) while catching up."""


def _never() -> bool:
    return False


class Feed:
    """One room as seen by this worker."""

    __slots__ = ("room_id", "name", "last_seq", "peers", "lock", "holders")

    def __init__(self, room_id: int, name: str):
        self.room_id = room_id
        self.name = name
        self.last_seq: int | None = None  # read from the table on first use
        self.peers: set[Peer] = set()
        self.lock = threading.RLock()
        self.holders = 0  # joined peers plus joins in progress


class Hub:
    def __init__(
        self,
        conninfo: str,
        pool: ConnectionPool,
        probe_interval: float = 15.0,
        tcp_timeout: float = 10.0,
    ):
        self._conninfo = conninfo
        self._pool = pool
        # An idle LISTEN connection is probed this often so that a dead one is noticed.
        self._probe_interval = probe_interval
        self._tcp_timeout = tcp_timeout
        self._feeds: dict[int, Feed] = {}
        self._feeds_lock = threading.Lock()
        self._started = False
        self._stopping = False
        self.listening = threading.Event()
        self.reconnects = 0
        # Called with each CONTROL_CHANNEL payload (revocations); set by the owner.
        self.on_control = lambda payload: None

    # --- clients -----------------------------------------------------------

    def join(self, peer: Peer, room: dict, after: int | None, cancelled=None) -> int:
        """Send peer the room's messages after `after` (or the last 50), then `ready`,
        then every later message live. Returns the seq at which it went live.

        `cancelled()`, checked between pages, aborts the catch-up (JoinCancelled).
        """
        self._start()
        if not self.listening.wait(LISTEN_WAIT):
            raise HubUnavailable("not connected to the database")
        feed = self._acquire(room)
        try:
            return self._catch_up(peer, feed, after, cancelled or _never)
        except BaseException:
            self._release(feed, peer)
            raise

    def leave(self, peer: Peer, room_id: int) -> None:
        feed = self._feeds.get(room_id)
        if feed is not None:
            self._release(feed, peer)

    def _catch_up(self, peer: Peer, feed: Feed, after: int | None, cancelled) -> int:
        with feed.lock:
            self._ensure_loaded(feed)
            head = feed.last_seq
        # A cursor past the room's end (a client that saw another database, or
        # lies) is clamped: it gets what comes next rather than a silent gap.
        cursor = max(0, head - HISTORY_ON_JOIN) if after is None else min(after, head)
        while True:
            if cancelled() or peer.closed:
                raise JoinCancelled()
            with feed.lock:
                if cursor >= feed.last_seq:
                    if not peer.offer(protocol.ready_frame(feed.name, feed.last_seq)):
                        raise PeerClosed()  # dropped as too slow
                    feed.peers.add(peer)
                    return feed.last_seq
                head = feed.last_seq
            rows = self._read(feed.room_id, cursor, head + 1)
            metrics.CATCH_UP_ROWS.inc(len(rows))
            metrics.DELIVERIES.inc(len(rows))
            if not rows:
                log.error("room %s: seqs %d..%d missing from the table", feed.name, cursor, head)
                cursor = head
            for row in rows:
                peer.send(self._frame(feed, row))
                cursor = row["seq"]

    def _acquire(self, room: dict) -> Feed:
        with self._feeds_lock:
            feed = self._feeds.get(room["id"])
            if feed is None:
                feed = self._feeds[room["id"]] = Feed(room["id"], room["name"])
            feed.holders += 1
        return feed

    def _release(self, feed: Feed, peer: Peer) -> None:
        with feed.lock:
            feed.peers.discard(peer)
        with self._feeds_lock:
            feed.holders -= 1
            if feed.holders <= 0 and self._feeds.get(feed.room_id) is feed:
                del self._feeds[feed.room_id]

    # --- delivery ----------------------------------------------------------

    def _ensure_loaded(self, feed: Feed) -> None:
        """Start a new feed at the room's current end (caller holds feed.lock)."""
        if feed.last_seq is None:
            with self._pool.connection() as conn:
                feed.last_seq = queries.room_last_seq(conn, feed.room_id)

    def _deliver(self, feed: Feed, seq: int, frame: str) -> None:
        """Hand one frame to every peer of the feed (caller holds feed.lock)."""
        frame = wire(frame)  # once, for every peer
        dropped = [peer for peer in feed.peers if not peer.offer(frame)]
        for peer in dropped:
            feed.peers.discard(peer)
        feed.last_seq = seq
        metrics.DELIVERIES.inc(len(feed.peers))

    def _fill(self, feed: Feed, upto: int = SEQ_MAX) -> None:
        """Deliver rows after the feed's last seq up to `upto` from the table."""
        while feed.last_seq < upto:
            rows = self._read(feed.room_id, feed.last_seq, upto + 1)
            for row in rows:
                self._deliver(feed, row["seq"], self._frame(feed, row))
            if len(rows) < PAGE:
                return

    def _read(self, room_id: int, after: int, before: int) -> list[dict]:
        with self._pool.connection() as conn:
            return queries.messages_between(conn, room_id, after, before, PAGE)

    @staticmethod
    def _frame(feed: Feed, row: dict) -> str:
        """A message in its current state, or an event (protocol.row_message)."""
        return protocol.row_frame(feed.name, row)

    def on_notify(self, payload: str) -> None:
        """Handle a payload of one or more lines (a batch of sends, chat/realtime/writer.py)."""
        for line in payload.split("\n"):
            self._on_message(line)

    def _on_message(self, payload: str) -> None:
        """Handle '<room_id> <seq> <sent_ms> [frame]' (a sender of an older version
        leaves out sent_ms: its frame starts with '{')."""
        room_id, _, rest = payload.partition(" ")
        seq, _, rest = rest.partition(" ")
        sent_ms, frame = ("", rest) if rest.startswith("{") else rest.partition(" ")[::2]
        try:
            feed = self._feeds.get(int(room_id))
            seq = int(seq)
            sent = int(sent_ms) / 1000 if sent_ms else None
        except ValueError:
            log.error("ignoring a malformed notification (%d bytes)", len(payload))
            return
        if feed is None:
            return  # no client of this worker follows that room
        with feed.lock:
            self._ensure_loaded(feed)
            if seq <= feed.last_seq:
                return  # already delivered (read from the table after a gap)
            if frame and seq == feed.last_seq + 1:
                self._deliver(feed, seq, frame)
            else:
                self._fill(feed, upto=seq)
        if sent is not None:
            metrics.NOTIFY_TO_DELIVERY.observe(max(0.0, time.time() - sent))

    def on_event(self, payload: str) -> None:
        """Handle '<room_id> <skip_user_id> <frame>[\\n<frame>...]': ephemeral frames."""
        room_id, _, rest = payload.partition(" ")
        skip, _, frames = rest.partition(" ")
        try:
            feed = self._feeds.get(int(room_id))
            skip = int(skip)
        except ValueError:
            log.error("ignoring a malformed event (%d bytes)", len(payload))
            return
        if feed is None or not frames:
            return
        for frame in frames.split("\n"):
            if frame == ONLINE_USERS_REF:
                frame = self._online_users_frame(feed)
            self.broadcast(feed, frame, skip)

    def broadcast(self, feed: Feed, frame: str, skip_user_id: int = 0) -> None:
        """Offer an ephemeral frame to the feed's peers (except skip_user_id's)."""
        with feed.lock:
            dropped = [
                peer
                for peer in feed.peers
                if peer.user["id"] != skip_user_id and not peer.offer(frame)
            ]
            for peer in dropped:
                feed.peers.discard(peer)

    def _online_users_frame(self, feed: Feed) -> str:
        with self._pool.connection() as conn:
            users = queries.online_users(conn, feed.room_id)
        return protocol.online_users_frame(feed.name, users)

    def _fill_all(self) -> None:
        """After (re)connecting: deliver whatever was committed while not listening,
        and the current online lists (presence events are not stored)."""
        for feed in list(self._feeds.values()):
            with feed.lock:
                if feed.last_seq is not None:
                    self._fill(feed)
            if self.reconnects:
                self.broadcast(feed, self._online_users_frame(feed))

    # --- the LISTEN connection ----------------------------------------------

    def _start(self) -> None:
        with self._feeds_lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._listen_forever, daemon=True, name="hub-listener").start()

    def stop(self) -> None:
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
            conn.execute(f"LISTEN {CHANNEL}")
            conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            conn.execute(f"LISTEN {CONTROL_CHANNEL}")
            # Listening from here on: anything committed earlier is read back.
            self._fill_all()
            self.listening.set()
            log.info("listening on channel %r", CHANNEL)
            heartbeat = _Heartbeat(self._pool, self._probe_interval)
            while not self._stopping:
                for notify in conn.notifies(timeout=1.0):
                    self._dispatch(notify, heartbeat)
                if heartbeat.overdue():
                    # Our own NOTIFY did not come back: the connection looks open
                    # but hears nothing (a silent partition). Start over.
                    raise psycopg.OperationalError("LISTEN connection silent; reconnecting")
                heartbeat.maybe_send()

    def _dispatch(self, notify, heartbeat: "_Heartbeat") -> None:
        try:
            if notify.channel == CHANNEL:
                self.on_notify(notify.payload)
            elif notify.channel == EVENTS_CHANNEL:
                self.on_event(notify.payload)
            elif not heartbeat.heard(notify.payload):
                self.on_control(notify.payload)
        except psycopg.Error:
            raise
        except Exception:
            log.exception("delivering a notification on %s failed", notify.channel)


class _Heartbeat:
    """A NOTIFY this worker sends itself every interval, through the pool.

    If it has not come back through the LISTEN connection within another
    interval, that connection is dead however healthy TCP says it is.
    """

    def __init__(self, pool: ConnectionPool, interval: float):
        self._pool = pool
        self._interval = interval
        self._token = f"ping {id(self):x}-{time.monotonic_ns()}"
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
                conn.execute("SELECT pg_notify(%s, %s)", (CONTROL_CHANNEL, self._token))
        except Exception as exc:  # the database is down: the reconnect loop handles it
            log.warning("LISTEN heartbeat not sent: %s", exc)

    def heard(self, payload: str) -> bool:
        """Whether payload is our heartbeat (consumed here, not a revocation)."""
        if payload.startswith("ping "):
            if payload == self._token:
                self._sent_at = None
                self._next = time.monotonic() + self._interval
            return True
        return False

    def overdue(self) -> bool:
        return self._sent_at is not None and time.monotonic() - self._sent_at > self._interval
