"""The bus: PostgreSQL LISTEN/NOTIFY between the writers and every worker.

This module is the bus's contract: its channels, what each payload means,
and how payloads are encoded and decoded. It only encodes and decodes; the
NOTIFYs are executed by chat/actions (chat/actions/channels.py), inside the
transaction whose change they announce, and heard by each worker's LISTEN
loop (chat/realtime/hub.py) and by the bots (chat/bots/runner.py).

Channels (every worker LISTENs on the first four, bots on the fifth, the
`flask work` processes on the sixth)
    CHANNEL ("chat")           stored messages and events, as `Stored`
    EVENTS_CHANNEL             ephemeral frames, never stored, as `Ephemeral`
    USER_CHANNEL               frames for every socket of one user, as `UserEvent`
    CONTROL_CHANNEL            revocations as `Control`, and heartbeats as `Heartbeat`
    JOBS_CHANNEL ("bot_jobs")  a bot's wake-up: the payload is the bot's name
    WORK_CHANNEL ("work_jobs") a worker's wake-up (docs/files.md): the payload is
                               the job's kind, `image` or `preview`

The per-user channel (DESIGN §9)
    What concerns one person wherever it happens (added to or removed from a
    room, a room renamed or archived, their read state) reaches every socket
    of theirs on every worker as a `UserEvent`. Like EVENTS_CHANNEL it is at
    most once and nothing replays it: a socket gets the user's current state
    (their rooms with counts) when it connects, and again after its worker's
    LISTEN connection was re-established, so a lost notification costs
    nothing but a moment.

Stored messages: position, order, truth
    Every row of `messages` (a message, or an event such as an edit) has a
    `seq` in its room: 1, 2, 3 ... without gaps, taken from `rooms.last_seq`
    in the writing transaction under the room row's lock. So within a room
    seq order is commit order, and since NOTIFY is delivered at commit and in
    commit order, it is also notification order. A `Stored(room_id, seq,
    frame, sent_ms)` says "row seq of room_id is committed; here is its frame".
    There is no epoch: seqs are never reused, so (room_id, seq) names one row
    for ever, and a client resumes with `after=<the last seq it saw>`.

    NOTIFY is at most once. A notification is lost when the LISTEN
    connection drops (PostgreSQL keeps nothing for a listener that is not
    listening), and its frame is left out on purpose when it is too big. The
    `messages` table is the truth: a listener that keeps, per room, the last
    seq it delivered, delivers `Stored` whose seq is exactly the next one as
    received, ignores seqs it already has, and reads every other range (a gap,
    a reference, everything after a reconnect) from the table.

    Every listener hears every room's lines, and may skip those of rooms it
    does not serve having read no more than their room id (`decode_stored`'s
    `serves`): nothing of a room is owed to a listener that does not follow
    it, and one that starts to follow a room takes the room's position from
    the table at that moment, later than the commit of any line it skipped.

The 8,000-byte rule
    PostgreSQL refuses a payload of 8,000 bytes or more, and the whole
    transaction with it. No payload encoded here passes NOTIFY_PAYLOAD_MAX
    (7,999 bytes): a stored frame too big travels by reference (its `Stored`
    has frame None; listeners read the row), an online list too big travels
    as ONLINE_USERS_REF (listeners read `presence`), and many stored lines
    share a payload up to the limit (`encode_stored` packs them, one per line;
    JSON frames hold no raw newline).

Idempotency by client_id
    A send or event may carry a client_id (<= 64 characters). One
    (room, user, client_id) names one operation: repeated, it changes nothing
    and answers with the first one's seq, and nothing is announced twice; a
    client_id used for a different operation is refused. The bus itself never
    carries a duplicate: a repeated operation commits no row and no NOTIFY.

Heartbeat
    Each worker NOTIFYs itself on CONTROL_CHANNEL (`Heartbeat`, a token unique
    to that LISTEN connection: "ping <hex>-<ns>") every probe interval,
    through another connection. If it has not come back through the LISTEN
    connection within another interval, that connection is dead however
    healthy TCP says it is; the worker reconnects and reads what it missed
    from the table. Other workers hear the token and ignore it.
"""

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Channel names: fixed, short (PostgreSQL truncates names at 63 bytes), never
# built from data; rooms travel in the payloads.
CHANNEL = "chat"
EVENTS_CHANNEL = "chat_events"
USER_CHANNEL = "chat_user"
CONTROL_CHANNEL = "chat_control"
JOBS_CHANNEL = "bot_jobs"
WORK_CHANNEL = "work_jobs"

# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more (and with it the
# whole transaction); anything longer travels by reference instead.
NOTIFY_PAYLOAD_MAX = 7999
# An EVENTS_CHANNEL line meaning "send this room's online_users, read from the
# table": used when the list itself would not fit in a NOTIFY.
ONLINE_USERS_REF = "?"
# Heartbeat tokens start with this; no Control kind does.
HEARTBEAT_PREFIX = "ping "

# Control kinds: whose sockets a revocation closes (chat/realtime/client.py).
REVOKE_SESSION = "session"  # key: the login session's token hash, hex
REVOKE_SESSIONS = "sessions"  # key: a user id; every login session of theirs
REVOKE_USER = "user"  # key: a user id; everything of theirs (account disabled)
REVOKE_MEMBER = "member"  # key: '<room_id>:<user_id>'; removed from a private room
REVOKE_TOKEN = "token"  # key: an API token's hash, hex; revoked by its owner
# Not a revocation: the sockets that follow the room know it by its new name.
RENAME_ROOM = "rename"  # key: '<room_id> <new name>'


@dataclass(frozen=True, slots=True)
class Stored:
    """Row `seq` of room `room_id` is committed. `frame` is its encoded frame, or
    None when it travels by reference (read the row). `sent_ms` is the sender's
    clock at sending (Unix milliseconds; the delivery latency metric)."""

    room_id: int
    seq: int
    frame: str | None
    sent_ms: int


@dataclass(frozen=True, slots=True)
class Ephemeral:
    """Frames for a room's clients, never stored: presence, typing. None in
    `frames` is the room's online_users, to be read from the table.
    `skip_user_id`'s own connections do not get them (0: nobody is skipped)."""

    room_id: int
    skip_user_id: int
    frames: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class UserEvent:
    """A frame for every socket of user `user_id`, never stored (a room added or
    removed, read state). Frames are small: a room's listing at most."""

    user_id: int
    frame: str


@dataclass(frozen=True, slots=True)
class Control:
    """A revocation every worker acts on at once (`kind` one of REVOKE_*), or a
    room's new name (RENAME_ROOM); `key` is what it names (see there)."""

    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A worker's NOTIFY to itself, proving its LISTEN connection hears."""

    token: str


# --- CHANNEL: stored messages and events --------------------------------------


def now_ms() -> int:
    """This host's clock in Unix milliseconds: a Stored's sent_ms."""
    return int(time.time() * 1000)


def stored_line(event: Stored) -> str:
    """'<room_id> <seq> <sent_ms> <frame>', or '<room_id> <seq> <sent_ms>' (by
    reference) when the frame is None or the line would pass NOTIFY_PAYLOAD_MAX."""
    head = f"{event.room_id} {event.seq} {event.sent_ms}"
    if event.frame is None:
        return head
    line = f"{head} {event.frame}"
    if len(line.encode()) > NOTIFY_PAYLOAD_MAX:
        return head
    return line


def encode_stored(events: Iterable[Stored]) -> list[str]:
    """The CHANNEL payloads announcing `events`: one line each, in order, packed."""
    return pack([stored_line(event) for event in events])


def pack(lines: Sequence[str]) -> list[str]:
    """Newline-joined payloads of at most NOTIFY_PAYLOAD_MAX bytes, lines in order
    (each line itself under the limit, and without a raw newline)."""
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


def decode_stored(payload: str, serves: Callable[[int], bool] | None = None) -> list[Stored]:
    """A CHANNEL payload's announcements in order; a malformed line is logged and
    left out (the next good one's seq gap makes the listener read the table).

    With `serves`, only the lines of rooms it accepts: every other line is
    skipped once its room id is read, its seq, clock and frame never parsed or
    copied (a worker hears every room's lines and follows few of them). A line
    whose room id cannot be read is malformed whatever `serves` says.
    """
    events = []
    start, end = 0, len(payload)
    while start <= end:
        stop = payload.find("\n", start)
        if stop < 0:
            stop = end
        if serves is not None:
            space = payload.find(" ", start, stop)
            try:
                room_id = int(payload[start : stop if space < 0 else space])
            except ValueError:
                room_id = None
            if room_id is not None and not serves(room_id):
                start = stop + 1
                continue
        event = _stored(payload[start:stop])
        if event is not None:
            events.append(event)
        start = stop + 1
    return events


def _stored(line: str) -> Stored | None:
    """One CHANNEL line's announcement; None (logged) if malformed."""
    room_id, _, rest = line.partition(" ")
    seq, _, rest = rest.partition(" ")
    sent_ms, _, frame = rest.partition(" ")
    try:
        return Stored(int(room_id), int(seq), frame or None, int(sent_ms))
    except ValueError:
        log.error("ignoring a malformed notification (%d bytes)", len(line))
        return None


# --- EVENTS_CHANNEL: ephemeral frames ------------------------------------------


def encode_ephemeral(event: Ephemeral) -> str:
    """'<room_id> <skip_user_id> <frame>[\\n<frame>...]'; None is ONLINE_USERS_REF.

    Callers keep such payloads small (a typing notice) or use presence_changes,
    which applies the 8,000-byte rule to the one frame that can grow.
    """
    lines = (ONLINE_USERS_REF if frame is None else frame for frame in event.frames)
    return f"{event.room_id} {event.skip_user_id} " + "\n".join(lines)


def presence_changes(
    room_id: int, change_frames: Sequence[str], online_frame: str | None = None
) -> list[Ephemeral]:
    """Several presence frames of one room, in order, then its online_users frame
    if given: as few events as fit NOTIFY_PAYLOAD_MAX each, the online list in
    the last one (by reference if it does not fit). One payload per room and batch also
    keeps PostgreSQL from folding two identical ones (the same user's `away`
    twice, with `online` between) into one delivery: NOTIFY drops a payload
    repeated in its transaction."""
    events: list[Ephemeral] = []
    chunk: list[str | None] = []
    header = size = len(f"{room_id} 0 ")
    tail = () if online_frame is None else (online_frame,)
    for frame in (*change_frames, *tail):
        if header + len(frame.encode()) > NOTIFY_PAYLOAD_MAX:
            frame = None  # only the online list can grow this big: read it from the table
        length = len(ONLINE_USERS_REF if frame is None else frame.encode())
        grown = size + length + (1 if chunk else 0)
        if chunk and grown > NOTIFY_PAYLOAD_MAX:
            events.append(Ephemeral(room_id, 0, tuple(chunk)))
            chunk, grown = [], header + length
        chunk.append(frame)
        size = grown
    events.append(Ephemeral(room_id, 0, tuple(chunk)))
    return events


def decode_ephemeral(payload: str) -> Ephemeral | None:
    """An EVENTS_CHANNEL payload's event; None (logged) if malformed."""
    room_id, _, rest = payload.partition(" ")
    skip, _, frames = rest.partition(" ")
    try:
        room_id, skip = int(room_id), int(skip)
    except ValueError:
        log.error("ignoring a malformed event (%d bytes)", len(payload))
        return None
    lines = frames.split("\n") if frames else []
    return Ephemeral(room_id, skip, tuple(None if f == ONLINE_USERS_REF else f for f in lines))


# --- USER_CHANNEL: frames for one user's sockets -----------------------------------


def encode_user(event: UserEvent) -> str:
    """'<user_id> <frame>'. A frame that would pass NOTIFY_PAYLOAD_MAX is a
    programming error (ValueError): user frames carry one room at most."""
    payload = f"{event.user_id} {event.frame}"
    if len(payload.encode()) > NOTIFY_PAYLOAD_MAX:
        raise ValueError(f"a user frame of {len(payload.encode())} bytes does not fit a NOTIFY")
    return payload


def decode_user(payload: str) -> UserEvent | None:
    """A USER_CHANNEL payload's event; None (logged) if malformed."""
    user_id, _, frame = payload.partition(" ")
    try:
        return UserEvent(int(user_id), frame)
    except ValueError:
        log.error("ignoring a malformed user event (%d bytes)", len(payload))
        return None


# --- CONTROL_CHANNEL: revocations and heartbeats --------------------------------


def encode_control(event: Control | Heartbeat) -> str:
    """'<kind> <key>' for a revocation; the token itself for a heartbeat."""
    if isinstance(event, Heartbeat):
        return event.token
    return f"{event.kind} {event.key}"


def decode_control(payload: str) -> Control | Heartbeat:
    """A CONTROL_CHANNEL payload's event (an unknown kind is a Control that
    revokes nothing)."""
    if payload.startswith(HEARTBEAT_PREFIX):
        return Heartbeat(payload)
    kind, _, key = payload.partition(" ")
    return Control(kind, key)


def new_heartbeat(owner: object) -> Heartbeat:
    """A token no other LISTEN connection sends: `owner`'s id and the clock."""
    return Heartbeat(f"{HEARTBEAT_PREFIX}{id(owner):x}-{time.monotonic_ns()}")


# --- JOBS_CHANNEL --------------------------------------------------------------


def job_payload(bot: str) -> str:
    """The JOBS_CHANNEL payload waking `bot`: its name, verbatim (a bot compares
    payloads to its name and ignores the others)."""
    return bot


# --- WORK_CHANNEL ----------------------------------------------------------------


def work_payload(kind: str) -> str:
    """The WORK_CHANNEL payload waking the workers for a job of `kind` (work_jobs.kind,
    verbatim: a worker wakes for the kinds it serves and ignores the others)."""
    return kind
