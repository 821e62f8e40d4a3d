"""One WebSocket client's session: the rooms it follows, its limits, and what its frames do.

Both endpoints run a ClientSession: `/ws/<room>` joins its room at once and
lets frames leave `room` out; `/ws` joins and leaves rooms by frame. Each
join catches up in its own greenlet, so a long catch-up never stalls the
client's other rooms or its own sends.
"""

import contextvars
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import replace

import psycopg
from psycopg_pool import PoolTimeout

from chat import actions, metrics
from chat.domain.entities import Room, User
from chat.domain.errors import ChatError
from chat.protocol import inbound, outbound
from chat.realtime import commands
from chat.realtime.buckets import TokenBucket
from chat.realtime.closes import DATABASE_DOWN, INTERNAL_ERROR, RESTARTING
from chat.realtime.hub import Hub, HubUnavailable, JoinCancelled
from chat.realtime.peer import Peer, PeerClosed
from chat.realtime.presence import Presence
from chat.realtime.service import Realtime
from chat.storage import db, queries, threads

log = logging.getLogger(__name__)

_DB_DOWN = (psycopg.OperationalError, PoolTimeout, HubUnavailable)
SLOW_DOWN = "too many frames at once: slow down and send again in a moment"
# The refusal of a frame over the connection's rate: it is dropped unread.
RATE_LIMITED = ChatError("rate_limited", SLOW_DOWN)
# The refusal of a frame the database failed to act on (it may be resent: sends
# are idempotent by client_id).
UNAVAILABLE = ChatError(
    "unavailable", "the database is unavailable; resend with the same client_id"
)


def write_event(
    conn, room: Room, user: User, frame: inbound.EditIn | inbound.DeleteIn | inbound.ReactIn
) -> actions.Event:
    """The action a client's edit, delete or react frame asks for; the Event it
    wrote. Raises ChatError as the action does (forbidden, not_found, ...)."""
    if isinstance(frame, inbound.EditIn):
        return actions.edit_message(conn, room, user, frame.seq, frame.content, frame.client_id)
    if isinstance(frame, inbound.DeleteIn):
        return actions.delete_message(conn, room, user, frame.seq, frame.client_id)
    return actions.toggle_reaction(conn, room, user, frame.seq, frame.emoji, frame.client_id)


class Membership:
    """This connection's relation to one room: joining → joined → left.

    `present` says whether this connection counts in the room's presence; a
    re-join hands it on to the new membership, so others see no leave and join.
    """

    __slots__ = ("room", "state", "present", "watch", "lock")

    def __init__(self, room: Room, present: bool = False, watch: bool = False):
        self.room = room
        self.state = "joining"
        self.present = present
        self.watch = watch  # following without being in the room
        self.lock = threading.Lock()


class ClientSession:
    """One WebSocket connection from its upgrade to its close: the user behind it,
    the rooms it follows (`Membership` per room name), its rate limit and its
    outbound `Peer`. `serve()` does the connect work and hands the socket to its
    reader, which passes frames to `take` one at a time (`run()` reads them in
    its own greenlet instead); each room's catch-up runs in a greenlet of its own.

    `user` is the User; `default_room` is the Room of `/ws/<room>`
    (None for `/ws`); `session_hash` is the login session's token hash (None for
    an API token), which a revocation of that session matches; `token_hash`
    the API token's (None for a login session), which its revocation matches.
    """

    def __init__(
        self,
        ws,
        user: User,
        realtime: Realtime,
        default_room: Room | None = None,
        session_hash: bytes | None = None,
        token_hash: bytes | None = None,
    ):
        settings = realtime.settings
        self.ws = ws
        self.user = user
        self.rt = realtime
        self.hub: Hub = realtime.hub
        self.presence: Presence = realtime.presence
        self.default_room = default_room
        self.peer = Peer(ws, user, settings.outbound_queue)
        self.rooms: dict[str, Membership] = {}
        self.bucket = TokenBucket(settings.rate_limit_per_sec, settings.rate_limit_burst)
        self.max_rooms = settings.max_rooms_per_connection
        self.max_chars = settings.max_message_chars
        # The login session this socket was opened with (None: an API token).
        self.session_hex = session_hash.hex() if session_hash else None
        self.token_hex = token_hash.hex() if token_hash else None
        # Per-user frames that arrive while the `rooms` frame is being read are
        # held here and sent after it (None: send them at once).
        self._user_backlog: list[str] | None = None
        self._user_lock = threading.Lock()
        # Whether this socket last reported its person away (a `presence` frame).
        self.away = False
        self._counted = False  # counted in the person's presence
        self._started = time.monotonic()

    def revoked_by(self, kind: str, key: str) -> bool:
        user_id = str(self.user.id)
        if kind == "member":  # '<room_id>:<user_id>': removed from a private room
            room_id, _, member = key.partition(":")
            if member != user_id:
                return False
            names = [n for n, m in list(self.rooms.items()) if str(m.room.id) == room_id]
            if self.default_room is None:
                # A /ws socket stops following the room (its client hears
                # room_removed); only a socket of that one room is closed.
                for name in names:
                    threading.Thread(target=self._leave, args=(name,), daemon=True).start()
                return False
            return bool(names)
        if kind == "session":
            return self.session_hex == key
        if kind == "token":
            return self.token_hex == key
        if kind == "sessions":
            return self.session_hex is not None and user_id == key
        return kind == "user" and user_id == key

    def renamed(self, room_id: int, name: str) -> None:
        """The room `room_id` is called `name` from now on (bus.RENAME_ROOM, from
        the LISTEN loop's thread, just before the rename's own frame): frames
        naming it by its new name find it; the old name still reaches it by
        lookup (an alias)."""
        if self.default_room is not None and self.default_room.id == room_id:
            self.default_room = replace(self.default_room, name=name)
        for old, membership in list(self.rooms.items()):
            if membership.room.id == room_id and old != name:
                membership.room = replace(membership.room, name=name)
                if self.rooms.get(old) is membership:
                    del self.rooms[old]
                self.rooms[name] = membership

    # --- the connection's life -----------------------------------------------

    def run(self, after: int | None = None) -> None:
        """Serve a client this greenlet reads (`ws.receive()`: tests' scripted
        sockets, whose receive raises PeerClosed once the client has gone)
        until it goes away; any failure ends this connection only."""
        try:
            with self._failures():
                self.open(after)
                # Once the close is decided (by anyone: a revocation, a shutdown, the
                # client, a frame over the limit) nothing more from the client is acted on.
                while not self.peer.closing:
                    data = self.ws.receive()
                    if data is not None and not self.peer.closing:
                        self.handle(data)
        finally:
            self.end()

    def serve(self, after: int | None = None) -> None:
        """The connect work, in the request's greenlet; then the socket's reader
        (chat/realtime/reader.py) hands each frame to `take` and calls `end` once."""
        with self._failures():
            self.open(after)
        # The log's fields of the request (its id, the user, the room) stay on the
        # lines of this socket's frames and its end, logged from other greenlets.
        context = contextvars.copy_context()
        self.ws.start(
            lambda data: context.run(self.take, data), lambda: context.run(self.end), self.peer
        )

    def take(self, data: str | bytes) -> None:
        """One frame from the reader, in arrival order, never two at once."""
        if not self.peer.closing:
            with self._failures():
                self.handle(data)

    def open(self, after: int | None = None) -> None:
        """Count the socket in, join its room (or send the user's rooms)."""
        self._started = time.monotonic()
        log.info("connect user=%s room=%s", self.user.username, self._label())
        self.rt.add(self)
        metrics.CONNECTIONS.inc()
        if self.rt.closing:  # the upgrade raced the shutdown
            self.peer.close_for(RESTARTING)
            return
        self.presence.start()
        self.presence.connect(self.user)
        self._counted = True
        if self.default_room is not None:
            self._join(self.default_room, after)
        else:
            self._send_current_rooms()

    @contextmanager
    def _failures(self):
        """A failure closes this connection only, with the close code it calls for."""
        try:
            yield
        except PeerClosed:
            pass
        except _DB_DOWN as exc:
            log.warning("user=%s: database unavailable: %s", self.user.username, exc)
            self.peer.close_for(DATABASE_DOWN)
        except Exception:
            log.exception("user=%s room=%s: connection failed", self.user.username, self._label())
            self.peer.close_for(INTERNAL_ERROR)

    def end(self) -> None:
        """The connection is over (called once): count it out, leave its rooms."""
        self.rt.discard(self)
        metrics.CONNECTIONS.dec()
        rooms = len(self.rooms)
        self.close()
        log.info(
            "disconnect user=%s rooms=%d duration=%.1fs",
            self.user.username,
            rooms,
            time.monotonic() - self._started,
        )

    # --- the per-user channel (DESIGN §9) ---------------------------------------

    def _send_current_rooms(self) -> None:
        """The user's rooms as of now, first thing on a /ws socket: user events
        committed after this read are held and follow it, so none is lost
        between the read and the frame."""
        with self._user_lock:
            self._user_backlog = []
        try:
            self.hub.start()  # listening before the read: nothing falls between
            with self.rt.pool.connection() as conn:
                listings = queries.member_rooms(conn, self.user.id)
                unread = threads.unread_threads(conn, self.user.id)
            self.peer.send(outbound.rooms_frame(listings))
            self.peer.send(outbound.threads_frame(unread))
        finally:
            with self._user_lock:
                backlog, self._user_backlog = self._user_backlog, None
            for frame in backlog:
                self.peer.offer(frame)

    def user_frame(self, frame: str) -> None:
        """A frame of the user's channel (from the LISTEN loop's thread): offered
        to a /ws socket (a slow one is dropped, as for room traffic)."""
        if self.default_room is not None:
            return  # a socket of one room speaks that room's protocol only
        with self._user_lock:
            if self._user_backlog is not None:
                self._user_backlog.append(frame)
                return
        self.peer.offer(frame)

    def send_rooms(self, listings: list, unread_threads: list) -> None:
        """The user's current rooms and unread threads again (after the worker's
        LISTEN reconnected)."""
        if self.default_room is None:
            self.peer.offer(outbound.rooms_frame(listings))
            self.peer.offer(outbound.threads_frame(unread_threads))

    def _label(self) -> str:
        return self.default_room.name if self.default_room else "*"

    def close(self) -> None:
        """Leave every room, then wait for the connection's close (if one was decided)
        to be through: the socket is closed as soon as the handler returns."""
        for name in list(self.rooms):
            self._leave(name)
        if self._counted:
            self._counted = False
            self.presence.disconnect(self.user, self.away)
        self.peer.close()

    # --- frames --------------------------------------------------------------

    def handle(self, data: str | bytes) -> None:
        """Act on one client frame; a refusal is an error frame and changes nothing."""
        # Every frame takes a token, whatever it turns out to be: a flood of
        # unparseable or unknown frames costs its sender the same as chat.
        allowed = self.bucket.allow()
        try:
            frame = inbound.parse(data, self.max_chars, plain_text=self.default_room is not None)
        except ChatError as err:
            client_id, room_name = inbound.echoed(data)
            self._refuse(err if allowed else RATE_LIMITED, client_id, room_name)
            return
        client_id = getattr(frame, "client_id", None)
        room_name = frame.room or (self.default_room and self.default_room.name)
        if not allowed:
            self._refuse(RATE_LIMITED, client_id, room_name)
            return
        try:
            self._act(frame, room_name)
        except ChatError as err:  # a refused frame or change: nothing was stored
            self._refuse(err, client_id, room_name)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            log.warning("user=%s: frame failed, database unavailable: %s", self.user.username, exc)
            self._refuse(UNAVAILABLE, client_id, room_name)

    def _act(self, frame: inbound.ClientFrame, room_name: str | None) -> None:
        if isinstance(frame, inbound.ChatIn):
            self._chat(room_name, frame)
        elif isinstance(frame, inbound.JoinIn):
            self._join_frame(frame)
        elif isinstance(frame, inbound.LeaveIn):
            self._leave_frame(frame)
        elif isinstance(frame, inbound.TypingIn):
            self._typing(room_name, frame.thread)
        elif isinstance(frame, inbound.ReadIn):
            self._read(room_name, frame.seq, frame.thread)
        elif isinstance(frame, inbound.FollowIn):
            room = self._visible(room_name)
            with self.rt.pool.connection() as conn:
                actions.set_following(conn, room, self.user, frame.thread, frame.following)
        elif isinstance(frame, inbound.PresenceIn):
            if frame.away != self.away:
                self.away = frame.away
                self.presence.set_away(self.user, frame.away)
        else:  # EditIn, DeleteIn, ReactIn
            self._event(room_name, frame)

    def _refuse(self, err: ChatError, client_id: str | None, room_name: str | None) -> None:
        """Send the error frame for a refused frame (with what it named, to match it)."""
        room_name = room_name or (self.default_room and self.default_room.name)
        self.peer.send(outbound.error_frame(err, client_id, room_name))

    def _visible(self, name: str) -> dict:
        """The room by name if this user may see it; ChatError('not_found') otherwise."""
        membership = self.rooms.get(name)
        if membership is not None:
            return membership.room
        if self.default_room is not None and name == self.default_room.name:
            return self.default_room
        with db.reading(self.rt.pool) as conn:
            room = queries.visible_room(conn, name, self.user.id)
        if room is None:
            raise ChatError("not_found", f"no room named {name!r}")
        return room

    def _joined(self, name: str) -> dict:
        """The room if this connection is in it (joined, not only watching)."""
        membership = self.rooms.get(name)
        if membership is None or membership.state == "left" or membership.watch:
            raise ChatError("not_joined", f"join {name!r} first")
        return membership.room

    def _chat(self, room_name: str, frame: inbound.ChatIn) -> None:
        command = commands.parse(frame.content)
        room = self._visible(room_name)
        outcome = commands.dispatch(
            command,
            room,
            self.user,
            frame.client_id,
            self.rt.pool.connection,
            self.rt.writer,
            frame.files,
            frame.reply,
        )
        if outcome.notice is not None:  # for this socket only: nothing was stored
            notice = outcome.notice
            self.peer.send(
                outbound.notice_frame(room.name, notice.code, notice.content, frame.client_id)
            )
        else:
            self.peer.send(outbound.ack_frame(frame.client_id, outcome.sent.seq, room.name))
            if outcome.absent:
                self.peer.send(
                    outbound.not_members_frame(room.name, outcome.sent.seq, outcome.absent)
                )

    def _event(
        self, room_name: str, frame: inbound.EditIn | inbound.DeleteIn | inbound.ReactIn
    ) -> None:
        """An edit, deletion or reaction toggle; acked with the event's seq."""
        room = self._visible(room_name)
        with self.rt.pool.connection() as conn:
            event = write_event(conn, room, self.user, frame)
        self.peer.send(outbound.ack_frame(frame.client_id, event.seq, room.name))

    def _typing(self, room_name: str, thread: int | None) -> None:
        room = self._joined(room_name)
        if self.rt.typing.allow(self.user.id, room.id, thread is not None):
            with self.rt.pool.connection() as conn:
                actions.announce_typing(conn, room, self.user, thread)

    def _read(self, room_name: str, seq: int, thread: int | None) -> None:
        room = self._visible(room_name)
        with self.rt.pool.connection() as conn:
            if thread is None:
                actions.mark_read(conn, room.id, self.user.id, seq)
            else:
                actions.read_thread(conn, room, self.user, thread, seq)

    # --- joining and leaving ---------------------------------------------------

    def _join_frame(self, frame: inbound.JoinIn) -> None:
        if self.default_room is not None:
            raise ChatError("unknown_type", "this socket follows one room; use /ws")
        present = False
        if frame.room in self.rooms:
            # A re-join restarts the catch-up from `after`; presence carries over.
            present = self._leave(frame.room, keep_presence=True)
        room = self._visible(frame.room)
        if room.name != frame.room and room.name in self.rooms:
            # Joined again by a name the room had before a rename.
            present = self._leave(room.name, keep_presence=True) or present
        if len(self.rooms) >= self.max_rooms:
            raise ChatError(
                "too_many_rooms", f"a connection follows at most {self.max_rooms} rooms"
            )
        self._join(room, frame.after, present, frame.watch)

    def _leave_frame(self, frame: inbound.LeaveIn) -> None:
        if self.default_room is not None:
            raise ChatError("unknown_type", "this socket follows one room; use /ws")
        name = frame.room
        if name not in self.rooms:  # perhaps a name the room had before a rename
            with self.rt.pool.connection() as conn:
                room = queries.visible_room(conn, name, self.user.id)
            name = room.name if room is not None else name
        self._leave(name)

    def _join(
        self, room: Room, after: int | None, present: bool = False, watch: bool = False
    ) -> None:
        if watch and present:
            # Was in the room, now only watches it: the presence ends now.
            self.presence.depart(room, self.user)
            present = False
        membership = Membership(room, present, watch)
        self.rooms[room.name] = membership
        threading.Thread(
            target=self._catch_up, args=(membership, after), daemon=True, name="join"
        ).start()

    def _catch_up(self, membership: Membership, after: int | None) -> None:
        room = membership.room
        try:
            self.hub.join(self.peer, room, after, cancelled=lambda: membership.state == "left")
            with membership.lock:
                if membership.state == "left":
                    self.hub.leave(self.peer, room.id)
                    return
                membership.state = "joined"
                if membership.watch:
                    return
                if not membership.present:
                    membership.present = True
                    self.presence.arrive(room, self.user)
            with db.reading(self.rt.pool) as conn:
                users = queries.online_users(conn, room.id)
            self.peer.send(outbound.online_users_frame(room.name, users))
        except (JoinCancelled, PeerClosed):
            pass
        except _DB_DOWN as exc:
            log.warning(
                "user=%s join %s: database unavailable: %s",
                self.user.username,
                room.name,
                exc,
            )
            self.peer.close_for(DATABASE_DOWN)
        except Exception:
            log.exception("user=%s join %s failed", self.user.username, room.name)
            self.peer.close_for(INTERNAL_ERROR)

    def _leave(self, name: str, keep_presence: bool = False) -> bool:
        """Stop following the room; returns whether its presence was kept (re-join)."""
        membership = self.rooms.pop(name, None)
        if membership is None:
            return False  # leaving a room not joined is already done
        with membership.lock:
            was = membership.state
            membership.state = "left"
            if was == "joined":
                self.hub.leave(self.peer, membership.room.id)
            if not membership.present:
                return False
            if keep_presence:
                return True
            membership.present = False
            self.presence.depart(membership.room, self.user)
            return False
