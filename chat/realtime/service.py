"""The parts of real-time chat one worker's sessions share: the hub, presence,
the writer, the typing throttle and the registry of open sessions (for
revocations, shutdown and the per-user socket cap)."""

import logging
import time
from collections import Counter
from typing import TYPE_CHECKING

from chat.realtime.closes import REMOVED, RESTARTING, REVOKED
from chat.realtime.hub import Hub
from chat.realtime.presence import Presence
from chat.realtime.writer import SingleWriter, Writer

if TYPE_CHECKING:
    from chat.realtime.client import ClientSession

log = logging.getLogger(__name__)


class TypingThrottle:
    """At most one `typing` per user per room per interval, per worker."""

    # Entries older than this many intervals are forgotten when the map grows.
    _PRUNE_AT = 10_000

    def __init__(self, interval: float):
        self.interval = interval
        self._last: dict[tuple[int, int], float] = {}

    def allow(self, user_id: int, room_id: int) -> bool:
        now = time.monotonic()
        key = (user_id, room_id)
        if now - self._last.get(key, -self.interval) < self.interval:
            return False
        if len(self._last) >= self._PRUNE_AT:
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        self._last[key] = now
        return True


# What closes a socket for each kind of revocation (any other: REVOKED).
_REVOKED = {"member": REMOVED}


class Realtime:
    """The per-worker parts every session shares: hub, presence, typing throttle."""

    def __init__(self, config: dict, pool, writer=None):
        self.config = config
        self.pool = pool
        # Sends from every socket of this worker (chat/realtime/writer.py).
        self.writer = writer or (Writer if config.get("WRITE_BATCH", True) else SingleWriter)(pool)
        self.hub = Hub(
            config["DATABASE_URL"], pool, config["LISTEN_PROBE_INTERVAL"], config["DB_TCP_TIMEOUT"]
        )
        self.presence = Presence(pool, config["PRESENCE_HEARTBEAT"], config["PRESENCE_TIMEOUT"])
        self.typing = TypingThrottle(config["TYPING_INTERVAL"])
        self.sessions: set[ClientSession] = set()
        self._per_user: Counter[int] = Counter()
        # Set on SIGTERM: gunicorn's worker keeps accepting for up to a second
        # after it, and a socket opened then must go too.
        self.closing = False
        self.hub.on_control = self.revoke

    def sockets_of(self, user_id: int) -> int:
        """The user's open sockets on this worker (kept per user: counting them by
        walking every session made each connect cost O(sockets))."""
        return self._per_user[user_id]

    def add(self, session: "ClientSession") -> None:
        self.sessions.add(session)
        self._per_user[session.user["id"]] += 1

    def discard(self, session: "ClientSession") -> None:
        if session in self.sessions:
            self.sessions.remove(session)
            user_id = session.user["id"]
            self._per_user[user_id] -= 1
            if not self._per_user[user_id]:
                del self._per_user[user_id]

    def revoke(self, payload: str) -> None:
        """Close (1008) this worker's sockets whose credential was just revoked.

        'session <hash>': one login session logged out; 'sessions <user_id>':
        all of a user's login sessions (password change); 'user <user_id>':
        everything of a user (account disabled); 'member <room_id>:<user_id>':
        the user's sockets that follow a private room they were removed from.
        """
        kind, _, key = payload.partition(" ")
        for session in list(self.sessions):
            if session.revoked_by(kind, key):
                log.info("closing socket of %s: %s revoked", session.user["username"], kind)
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
