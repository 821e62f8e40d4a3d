"""Per-worker fan-out: the rooms this worker's clients follow, fed by its LISTEN connection.

The hub is the BusHandler of the worker's Listener (chat/realtime/listener.py),
which hears the bus (chat/storage/bus.py, whose docstring is the contract) and
hands on decoded events: stored messages and ephemeral frames go to the room
feeds kept here, revocations to the ControlHandler the hub was given (the
worker's real-time service).

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
from collections.abc import Callable, Iterable
from typing import Protocol

from psycopg_pool import ConnectionPool

from chat import metrics
from chat.domain.entities import Message, Room
from chat.domain.validate import SEQ_MAX
from chat.protocol import outbound
from chat.realtime.listener import Listener
from chat.realtime.peer import Peer, PeerClosed, wire
from chat.storage import bus, queries

log = logging.getLogger(__name__)

# Rows per query when catching up or filling a gap: large enough to amortise
# the round trip, small enough that one page never holds a lock for long.
PAGE = 200
# What a client gets on joining without `after` (DESIGN §5).
HISTORY_ON_JOIN = 50
# How long a join waits for the LISTEN connection before giving up.
LISTEN_WAIT = 10.0


class HubUnavailable(Exception):
    """The database cannot be listened to right now; the client should retry."""


class JoinCancelled(Exception):
    """The client left the room (or went away) while catching up."""


def _never() -> bool:
    return False


class ControlHandler(Protocol):
    """What the hub hands on, from the LISTEN loop's thread, of what it hears
    besides the room feeds it serves itself: what concerns users and their
    sessions. None of these may block for long: the LISTEN loop waits."""

    def on_control(self, event: bus.Control) -> None:
        """A revocation (bus.REVOKE_*): close the sockets it names."""

    def on_user(self, event: bus.UserEvent) -> None:
        """A frame for every socket of one user (bus.USER_CHANNEL)."""

    def on_resync(self) -> None:
        """The LISTEN connection was re-established: user events may have been
        missed, so every user socket needs its current state again."""


class _NoControl:
    """A hub with no sessions (tests, tools): what concerns sessions is dropped."""

    def on_control(self, event: bus.Control) -> None:
        pass

    def on_user(self, event: bus.UserEvent) -> None:
        pass

    def on_resync(self) -> None:
        pass


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
    """One per worker: the feeds of the rooms its clients follow, and its Listener.

    Takes the database's conninfo (for the Listener's own connection), the
    worker's pool (catch-up and gap reads, heartbeats), the ControlHandler
    that gets revocations (None drops them), the heartbeat's probe interval
    and the LISTEN connection's TCP timeout. Gives clients `join` and
    `leave`; the Listener starts on the first join and calls the on_*
    methods below from its thread until `stop`. Safe from any greenlet or
    thread: each feed has its own lock, and the feeds' map another.
    """

    def __init__(
        self,
        conninfo: str,
        pool: ConnectionPool,
        handler: ControlHandler | None = None,
        probe_interval: float = 15.0,
        tcp_timeout: float = 10.0,
    ):
        self._pool = pool
        self._handler = handler or _NoControl()
        self._feeds: dict[int, Feed] = {}
        self._feeds_lock = threading.Lock()
        self._listener = Listener(conninfo, pool, self, probe_interval, tcp_timeout)
        self.listening = self._listener.listening

    def start(self) -> None:
        """Start the LISTEN loop if it is not running, and wait until it listens:
        what is committed from then on is heard. HubUnavailable after LISTEN_WAIT
        seconds without it. A join does this itself; a socket that follows no
        room yet but hears its user's channel calls it."""
        self._listener.start()
        if not self.listening.wait(LISTEN_WAIT):
            raise HubUnavailable("not connected to the database")

    def listening_within(self, timeout: float) -> bool:
        """Start the LISTEN loop if it is not running; whether it listens within
        `timeout` seconds (for /readyz, which must answer promptly)."""
        self._listener.start()
        return self.listening.wait(timeout)

    def stop(self) -> None:
        """End the LISTEN loop (within a second); joined peers get nothing more."""
        self._listener.stop()

    # --- clients -----------------------------------------------------------

    def join(
        self,
        peer: Peer,
        room: Room,
        after: int | None,
        cancelled: Callable[[], bool] | None = None,
    ) -> int:
        """Send peer the room's messages after `after` (or the last 50), then `ready`,
        then every later message live. Returns the seq at which it went live.

        `room` is the Room (its id and name are used). Blocks the caller for the catch-up
        (flow-controlled by the peer's queue); call it holding no lock and no
        transaction. `cancelled()`, checked between pages, aborts the catch-up
        (JoinCancelled); HubUnavailable if the LISTEN connection is not up
        within LISTEN_WAIT seconds; PeerClosed if the peer was dropped. Every
        successful join needs its `leave`.
        """
        self.start()
        feed = self._acquire(room)
        try:
            return self._catch_up(peer, feed, after, cancelled or _never)
        except BaseException:
            self._release(feed, peer)
            raise

    def leave(self, peer: Peer, room_id: int) -> None:
        """Stop delivering the room to peer (after a join, or a join that failed)."""
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
                    if not peer.offer(outbound.ready_frame(feed.name, feed.last_seq)):
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
            for message in rows:
                peer.send(self._frame(feed, message))
                cursor = message.seq

    def _acquire(self, room: Room) -> Feed:
        with self._feeds_lock:
            feed = self._feeds.get(room.id)
            if feed is None:
                feed = self._feeds[room.id] = Feed(room.id, room.name)
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
            for message in rows:
                self._deliver(feed, message.seq, self._frame(feed, message))
            if len(rows) < PAGE:
                return

    def _read(self, room_id: int, after: int, before: int) -> list[Message]:
        with self._pool.connection() as conn:
            return queries.messages_between(conn, room_id, after, before, PAGE)

    @staticmethod
    def _frame(feed: Feed, message: Message) -> str:
        """A message in its current state, or an event (outbound.row_message)."""
        return outbound.row_frame(feed.name, message)

    # --- the BusHandler side: the Listener calls these from its thread ---------

    def serves(self, room_id: int) -> bool:
        """Whether a feed of this worker follows the room (joined, or joining).

        The listener skips the lines of other rooms undecoded. A feed that
        appears just after a line was skipped loses nothing: it reads its
        position from the table (`_ensure_loaded`) after it appeared, so after
        the commit of any line already heard, and a skipped line is one
        `_on_stored` would have ignored as already delivered. Reads the feeds'
        map without its lock, as `_on_stored` does: a lookup is atomic.
        """
        return room_id in self._feeds

    def on_stored(self, events: Iterable[bus.Stored]) -> None:
        """Deliver stored messages to the feeds that follow their rooms, in order.

        The next seq of a feed goes to its peers as received (its frame encoded
        once for all of them); one already delivered is ignored; anything else
        (a gap, a reference) is read from the table up to that seq. Called by
        the LISTEN loop; takes each feed's lock, so the caller holds none.
        """
        for event in events:
            self._on_stored(event)

    def _on_stored(self, event: bus.Stored) -> None:
        feed = self._feeds.get(event.room_id)
        if feed is None:
            return  # no client of this worker follows that room
        with feed.lock:
            self._ensure_loaded(feed)
            if event.seq <= feed.last_seq:
                return  # already delivered (read from the table after a gap)
            if event.frame is not None and event.seq == feed.last_seq + 1:
                self._deliver(feed, event.seq, event.frame)
            else:
                self._fill(feed, upto=event.seq)
        metrics.NOTIFY_TO_DELIVERY.observe(max(0.0, time.time() - event.sent_ms / 1000))

    def on_ephemeral(self, event: bus.Ephemeral) -> None:
        """Offer ephemeral frames to the room's peers here (the online list, sent by
        reference, read from the table). Takes the feed's lock: the caller holds none."""
        feed = self._feeds.get(event.room_id)
        if feed is None:
            return
        for frame in event.frames:
            if frame is None:
                frame = self._online_users_frame(feed)
            self.broadcast(feed, frame, event.skip_user_id)

    def broadcast(self, feed: Feed, frame: str, skip_user_id: int = 0) -> None:
        """Offer an ephemeral frame to the feed's peers (except skip_user_id's);
        takes the feed's lock (reentrant: the caller may hold it)."""
        with feed.lock:
            dropped = [
                peer
                for peer in feed.peers
                if peer.user.id != skip_user_id and not peer.offer(frame)
            ]
            for peer in dropped:
                feed.peers.discard(peer)

    def _online_users_frame(self, feed: Feed) -> str:
        with self._pool.connection() as conn:
            users = queries.online_users(conn, feed.room_id)
        return outbound.online_users_frame(feed.name, users)

    def on_listening(self, reconnected: bool) -> None:
        """After (re)connecting: deliver whatever was committed while not listening,
        and after a reconnect the current online lists (presence events are not
        stored). Takes each feed's lock: the caller holds none."""
        for feed in list(self._feeds.values()):
            with feed.lock:
                if feed.last_seq is not None:
                    self._fill(feed)
            if reconnected:
                self.broadcast(feed, self._online_users_frame(feed))
        if reconnected:
            self._handler.on_resync()

    def on_control(self, event: bus.Control) -> None:
        """A revocation, or a room's new name: frames this hub builds from the
        table carry the new name from now on (the rename's own event is next on
        the bus). Sessions are the ControlHandler's."""
        if event.kind == bus.RENAME_ROOM:
            room_id, _, name = event.key.partition(" ")
            feed = self._feeds.get(int(room_id))
            if feed is not None:
                with feed.lock:
                    feed.name = name
        self._handler.on_control(event)

    def on_user(self, event: bus.UserEvent) -> None:
        """A user's frame: their sessions are the ControlHandler's."""
        self._handler.on_user(event)
