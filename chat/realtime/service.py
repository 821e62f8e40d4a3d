"""The parts of real-time chat one worker's sessions share: the hub, presence,
the writer, the typing throttle and the registry of open sessions (for
revocations, shutdown and the per-user socket cap)."""

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from psycopg_pool import ConnectionPool

from chat.domain.entities import User
from chat.realtime.closes import REMOVED, RESTARTING, REVOKED
from chat.realtime.hub import Hub
from chat.realtime.peer import Peer
from chat.realtime.presence import Presence
from chat.realtime.writer import SingleWriter, Writer
from chat.storage import queries, threads
from chat.storage.bus import RENAME_ROOM, REVOKE_MEMBER, Control, UserEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings real time runs with (chat/config.py says why each value);
    times in seconds."""

    database_url: str
    listen_probe_interval: float
    db_tcp_timeout: float
    presence_heartbeat: float
    presence_timeout: float
    typing_interval: float
    outbound_queue: int  # frames waiting for one client before it is dropped (1013)
    rate_limit_per_sec: float  # frames a second per socket; 0 is unlimited
    rate_limit_burst: int
    max_rooms_per_connection: int
    max_message_chars: int
    write_batch: bool  # group commit (False: one transaction per message)
    presence_grace: float = 5.0  # seconds before a person's last close is `offline`

    @classmethod
    def from_config(cls, config: Mapping) -> "Settings":
        """From the app's settings (chat/config.py's keys)."""
        return cls(
            database_url=config["DATABASE_URL"],
            listen_probe_interval=config["LISTEN_PROBE_INTERVAL"],
            db_tcp_timeout=config["DB_TCP_TIMEOUT"],
            presence_heartbeat=config["PRESENCE_HEARTBEAT"],
            presence_timeout=config["PRESENCE_TIMEOUT"],
            typing_interval=config["TYPING_INTERVAL"],
            outbound_queue=config["OUTBOUND_QUEUE"],
            rate_limit_per_sec=config["RATE_LIMIT_PER_SEC"],
            rate_limit_burst=config["RATE_LIMIT_BURST"],
            max_rooms_per_connection=config["MAX_ROOMS_PER_CONNECTION"],
            max_message_chars=config["MAX_MESSAGE_CHARS"],
            write_batch=config["WRITE_BATCH"],
            presence_grace=config["PRESENCE_GRACE"],
        )


class Session(Protocol):
    """What the service needs of an open socket's session (chat/realtime/client.py)."""

    user: User
    peer: Peer

    def revoked_by(self, kind: str, key: str) -> bool: ...

    def user_frame(self, frame: str) -> None:
        """A frame of the per-user channel, for this socket if it takes them."""

    def send_rooms(self, listings: list, unread_threads: list) -> None:
        """The user's current rooms (a `rooms` frame), if this socket takes them."""


class TypingThrottle:
    """At most one `typing` per user per room per interval, per worker; the
    room's main flow and its threads apart (one may type in the room's box
    and a thread's at once), all threads together (a new thread number must
    not buy another frame)."""

    # Entries older than this many intervals are forgotten when the map grows.
    _PRUNE_AT = 10_000

    def __init__(self, interval: float):
        self.interval = interval
        self._last: dict[tuple[int, int, bool], float] = {}

    def allow(self, user_id: int, room_id: int, in_thread: bool = False) -> bool:
        now = time.monotonic()
        key = (user_id, room_id, in_thread)
        if now - self._last.get(key, -self.interval) < self.interval:
            return False
        if len(self._last) >= self._PRUNE_AT:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        self._last[key] = now
        return True


# What closes a socket for each kind of revocation (any other: REVOKED).
_REVOKED = {REVOKE_MEMBER: REMOVED}


class Realtime:
    """The per-worker parts every session shares: the hub (LISTEN loop and room
    feeds), presence, the writer, the typing throttle and the open sessions.

    One per gunicorn worker (chat/web/worker.py makes it on the first socket);
    its methods are called from the worker's greenlets, never from two threads.
    """

    def __init__(
        self,
        settings: Settings,
        pool: ConnectionPool,
        writer: Writer | SingleWriter | None = None,
    ):
        self.settings = settings
        self.pool = pool
        # Sends from every socket of this worker (chat/realtime/writer.py).
        self.writer = writer or (Writer if settings.write_batch else SingleWriter)(pool)
        self.hub = Hub(
            settings.database_url,
            pool,
            handler=self,  # revocations: on_control
            probe_interval=settings.listen_probe_interval,
            tcp_timeout=settings.db_tcp_timeout,
        )
        self.presence = Presence(
            pool, settings.presence_heartbeat, settings.presence_timeout, settings.presence_grace
        )
        self.typing = TypingThrottle(settings.typing_interval)
        self.sessions: set[Session] = set()
        self._by_user: dict[int, set[Session]] = {}
        # Set on SIGTERM: gunicorn's worker keeps accepting for up to a second
        # after it, and a socket opened then must go too.
        self.closing = False

    def sockets_of(self, user_id: int) -> int:
        """The user's open sockets on this worker (kept per user: counting them by
        walking every session made each connect cost O(sockets))."""
        return len(self._by_user.get(user_id, ()))

    def add(self, session: Session) -> None:
        self.sessions.add(session)
        self._by_user.setdefault(session.user.id, set()).add(session)

    def discard(self, session: Session) -> None:
        if session in self.sessions:
            self.sessions.remove(session)
            user_id = session.user.id
            mine = self._by_user[user_id]
            mine.discard(session)
            if not mine:
                del self._by_user[user_id]

    def on_user(self, event: UserEvent) -> None:
        """Hand a per-user frame to each of the user's sockets on this worker (the
        hub's ControlHandler; called from its LISTEN loop's thread)."""
        for session in list(self._by_user.get(event.user_id, ())):
            session.user_frame(event.frame)

    def on_resync(self) -> None:
        """After the LISTEN connection was re-established: every socket gets its
        user's rooms again (read once per user), since user events are not replayed."""
        for user_id, sessions in list(self._by_user.items()):
            try:
                with self.pool.connection() as conn:
                    listings = queries.member_rooms(conn, user_id)
                    unread = threads.unread_threads(conn, user_id)
            except Exception:
                log.exception("resync of user %s failed", user_id)
                continue
            for session in list(sessions):
                session.send_rooms(listings, unread)

    def on_control(self, event: Control) -> None:
        """Close (1008) this worker's sockets whose credential was just revoked
        (the hub's ControlHandler; called from its LISTEN loop's thread).

        bus.REVOKE_SESSION: one login session logged out; REVOKE_SESSIONS: all
        of a user's login sessions (password change); REVOKE_USER: everything
        of a user (account disabled); REVOKE_MEMBER: the user's sockets that
        follow a private room they were removed from; REVOKE_TOKEN: the
        sockets opened with an API token its owner revoked. bus.RENAME_ROOM is
        no revocation: every socket following the room knows it by its new name.
        """
        kind, key = event.kind, event.key
        if kind == RENAME_ROOM:
            room_id, _, name = key.partition(" ")
            for session in list(self.sessions):
                session.renamed(int(room_id), name)
            return
        for session in list(self.sessions):
            if session.revoked_by(kind, key):
                log.info("closing socket of %s: %s revoked", session.user.username, kind)
                session.peer.close_for(_REVOKED.get(kind, REVOKED))

    def going_away(self) -> None:
        """The worker is shutting down: close every socket with 1001 so clients resume."""
        self.closing = True
        sessions = list(self.sessions)
        log.info("shutting down: closing %d sockets with 1001", len(sessions))
        for session in sessions:
            session.peer.close_for(RESTARTING)

    def stop(self) -> None:
        self.presence.stop()
        self.hub.stop()
