"""WebSocket frames (DESIGN §5): parse and validate what clients send, encode what we send.

A frame is encoded here exactly once per stored row per worker: by the
writer inside its transaction (the NOTIFY payload carries it verbatim) or by
a worker reading the row back from the table. Both go through `row_message`
(a new message through `chat_message`, which it uses), so a live frame and
one caught up from the table are built by the same code.

A row is a message (kind chat or action) or an event that changes one (edit,
delete, reaction_add, reaction_remove; `target_seq` names the message). A
message read from the table shows its current state (text, "edited",
"deleted", "reactions"); the events after it replay to the same state.
"""

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from chat.domain import reactions
from chat.domain.render import render
from chat.domain.text import first_unstorable, is_blank, unstorable

CLIENT_ID_MAX = 64
ROOM_NAME_MAX = 40
# Far beyond any real room, and within PostgreSQL's bigint.
SEQ_MAX = 2**62
# Message kinds (messages.kind): what people type, and `/me waves`. Frames of
# ordinary messages carry no `kind`, exactly as before kinds existed.
KIND_CHAT = "chat"
KIND_ACTION = "action"
# Events in the room's sequence, each changing the message at its target_seq.
KIND_EDIT = "edit"
KIND_DELETE = "delete"
KIND_REACTION_ADD = "reaction_add"
KIND_REACTION_REMOVE = "reaction_remove"
MESSAGE_KINDS = (KIND_CHAT, KIND_ACTION)
# The schema's limit (reactions.emoji): an emoji sequence (a family, a flag
# with its tags) is a handful of code points; 32 also allows ":party_parrot:".
EMOJI_MAX = 32
# The length of an emoji as sent, before it is made canonical: NFC and the
# emoji lookup run only on texts this long (a frame may hold 65,536 bytes).
# 8 per stored character leaves room for selectors, joiners and decomposed
# accents around each character of a 32-character reaction.
EMOJI_RAW_MAX = 256
# Bidirectional controls are refused, not taken out as other invisible
# characters are: they reorder the text around them, and in a reaction only
# serve to make one text look like another.
_BIDI_CONTROLS = set("\u200e\u200f\u061c") | set(map(chr, range(0x202A, 0x202F)))
_BIDI_CONTROLS |= set(map(chr, range(0x2066, 0x206A)))
# Control, surrogate and private-use characters, spaces and line separators.
_REFUSED_CATEGORIES = {"Cc", "Cs", "Co", "Zs", "Zl", "Zp"}


class FrameError(Exception):
    """A client frame we refuse; `code` is the stable error code sent back."""

    def __init__(
        self, code: str, message: str, client_id: str | None = None, room: str | None = None
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_id = client_id
        self.room = room


@dataclass(frozen=True)
class ChatIn:
    """A chat message a client wants to send."""

    room: str | None
    content: str
    client_id: str | None


@dataclass(frozen=True)
class JoinIn:
    """Follow a room: catch up after `after` (or the last 50), then live.

    `watch` follows it without being in it: no presence, no membership (a
    sidebar keeping unread badges current).
    """

    room: str
    after: int | None
    watch: bool = False


@dataclass(frozen=True)
class LeaveIn:
    room: str


@dataclass(frozen=True)
class TypingIn:
    room: str | None


@dataclass(frozen=True)
class ReadIn:
    """The client has shown the user every message up to `seq`."""

    room: str | None
    seq: int


@dataclass(frozen=True)
class EditIn:
    """Replace the text of one's own message `seq`."""

    room: str | None
    seq: int
    content: str
    client_id: str | None


@dataclass(frozen=True)
class DeleteIn:
    """Delete message `seq` (one's own, or any in a room one owns)."""

    room: str | None
    seq: int
    client_id: str | None


@dataclass(frozen=True)
class ReactIn:
    """Toggle one's reaction `emoji` on message `seq`."""

    room: str | None
    seq: int
    emoji: str
    client_id: str | None


ClientFrame = ChatIn | JoinIn | LeaveIn | TypingIn | ReadIn | EditIn | DeleteIn | ReactIn


def timestamp(dt: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as in DESIGN §5: 2026-11-25T13:00:00.123Z."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def encode(frame: dict) -> str:
    """One frame as the text of a WebSocket message."""
    return orjson.dumps(frame).decode()


def chat_message(
    room: str,
    seq: int,
    username: str,
    content: str,
    created_at: datetime,
    client_id: str | None,
    html: str | None = None,
    kind: str = KIND_CHAT,
) -> dict:
    """One stored message as the `chat` frame (and the API) shows it.

    `html` is what was rendered at send; rows older than that are rendered now.
    """
    frame = {
        "type": "chat",
        "room": room,
        "seq": seq,
        "username": username,
        "content": content,
        "html": html if html is not None else render(content),
        "ts": timestamp(created_at),
    }
    if client_id is not None:
        frame["client_id"] = client_id
    if kind != KIND_CHAT:
        frame["kind"] = kind
    return frame


def chat_frame(
    room: str,
    seq: int,
    username: str,
    content: str,
    created_at: datetime,
    client_id: str | None,
    html: str | None = None,
    kind: str = KIND_CHAT,
) -> str:
    """The encoded `chat` frame for one stored message."""
    return encode(chat_message(room, seq, username, content, created_at, client_id, html, kind))


def row_message(room: str, row: dict) -> dict:
    """The frame for one stored row, as sockets, the API and catch-up show it.

    `row` has the columns of queries.messages_between: seq, username (the
    author, or for an event who made it), content, html, client_id,
    created_at, kind, and for messages edited_at, deleted_at and reactions
    ({emoji: [usernames]}, or None); target_seq for events. A message comes
    as its current state; an event as what it did.
    """
    kind = row["kind"]
    if kind in MESSAGE_KINDS:
        frame = chat_message(
            room,
            row["seq"],
            row["username"],
            row["content"],
            row["created_at"],
            row["client_id"],
            row["html"],
            kind,
        )
        if row.get("edited_at") is not None:
            frame["edited"] = timestamp(row["edited_at"])
        if row.get("deleted_at") is not None:
            frame["deleted"] = True
            frame["content"] = frame["html"] = ""
        if row.get("reactions"):
            frame["reactions"] = row["reactions"]
        return frame
    frame = {
        "type": _EVENT_TYPES[kind],
        "room": room,
        "seq": row["seq"],
        "target_seq": row["target_seq"],
        "username": row["username"],
    }
    if kind == KIND_EDIT:
        frame["content"] = row["content"]
        frame["html"] = row["html"] if row["html"] is not None else render(row["content"])
    elif kind in (KIND_REACTION_ADD, KIND_REACTION_REMOVE):
        frame["emoji"] = row["content"]
        frame["on"] = kind == KIND_REACTION_ADD
    frame["ts"] = timestamp(row["created_at"])
    if row["client_id"] is not None:
        frame["client_id"] = row["client_id"]
    return frame


_EVENT_TYPES = {
    KIND_EDIT: "chat_edit",
    KIND_DELETE: "chat_delete",
    KIND_REACTION_ADD: "reaction",
    KIND_REACTION_REMOVE: "reaction",
}


def row_frame(room: str, row: dict) -> str:
    """The encoded frame for one stored row (see row_message)."""
    return encode(row_message(room, row))


def ready_frame(room: str, last_seq: int) -> str:
    return encode({"type": "ready", "room": room, "last_seq": last_seq})


def ack_frame(client_id: str | None, seq: int, room: str) -> str:
    return encode({"type": "ack", "client_id": client_id, "seq": seq, "room": room})


def error_frame(
    code: str, message: str, client_id: str | None = None, room: str | None = None
) -> str:
    frame = {"type": "error", "code": code, "message": message}
    if client_id is not None:
        frame["client_id"] = client_id
    if room is not None:
        frame["room"] = room
    return encode(frame)


def notice_frame(room: str, code: str, content: str, client_id: str | None = None) -> str:
    """Something for the sender only, never stored: `/help`, or "a bot will answer"."""
    frame = {"type": "notice", "room": room, "code": code, "content": content}
    if client_id is not None:
        frame["client_id"] = client_id
    return encode(frame)


def _presence_frame(kind: str, room: str, username: str, verb: str) -> str:
    return encode(
        {"type": kind, "room": room, "username": username, "content": f"{username} {verb} the room"}
    )


def user_joined_frame(room: str, username: str) -> str:
    return _presence_frame("user_joined", room, username, "joined")


def user_left_frame(room: str, username: str) -> str:
    return _presence_frame("user_left", room, username, "left")


def online_users_frame(room: str, usernames: list[str]) -> str:
    return encode(
        {"type": "online_users", "room": room, "users": usernames, "content": ",".join(usernames)}
    )


def typing_frame(room: str, username: str) -> str:
    return encode({"type": "typing", "room": room, "username": username})


def validate_client_id(value: object) -> str | None:
    """A client_id is an optional non-empty string of at most 64 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= CLIENT_ID_MAX:
        raise FrameError("bad_frame", f"client_id must be a string of 1 to {CLIENT_ID_MAX} chars")
    reason = unstorable(value)
    if reason is not None:
        raise FrameError("bad_frame", f"client_id: {reason}")
    return value


def validate_content(value: object, max_chars: int, client_id: str | None = None) -> str:
    """Message text: a string that is not blank (by Unicode: zero-width and other
    invisible characters are blank too, text.is_blank), storable, and of at most
    max_chars characters (code points)."""
    if not isinstance(value, str):
        raise FrameError("bad_frame", "content must be a string", client_id)
    reason = unstorable(value)
    if reason is not None:
        raise FrameError("bad_frame", f"content: {reason}", client_id)
    if len(value) > max_chars:
        raise FrameError("too_large", f"content is over {max_chars} characters", client_id)
    if is_blank(value):
        raise FrameError("bad_frame", "content must not be empty", client_id)
    return value


def validate_emoji(value: object, client_id: str | None = None) -> str:
    """A reaction, in its canonical form (chat/domain/reactions.py `canonical`): a
    text that shows something, of 1 to 32 characters once canonical, sent as
    at most 256 characters with no spaces, separators, control characters or
    bidirectional controls.

    Visually identical reactions are one: ❤ and ❤️ both come back as ❤️, a
    letter with a combining accent as the precomposed letter, 👍 with a
    zero-width space or a variation selector after it as 👍. Joiners,
    selectors and tags stay inside the emoji sequences the `emoji` package
    knows, and go everywhere else; a text of nothing but them shows nothing
    and is refused. Every limit but the raw one holds for the canonical form,
    which is what is stored; a second call returns what the first did.
    """
    if not isinstance(value, str):
        raise FrameError("bad_frame", "emoji must be a string", client_id)
    if len(value) > EMOJI_RAW_MAX:
        raise FrameError(
            "bad_frame", f"emoji must be at most {EMOJI_RAW_MAX} chars as sent", client_id
        )
    for char in value:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or char in _BIDI_CONTROLS:
            raise FrameError(
                "bad_frame", "emoji must not contain spaces or control characters", client_id
            )
    emoji = reactions.canonical(value)
    if is_blank(emoji):  # "", or U+200B, U+FE0F... alone: canonical takes them out
        raise FrameError("bad_frame", "a reaction must show something", client_id)
    if len(emoji) > EMOJI_MAX:  # NFC can lengthen, and so can U+FE0F put in
        raise FrameError(
            "bad_frame", f"emoji must be a string of 1 to {EMOJI_MAX} chars", client_id
        )
    return emoji


def _room(frame: dict, client_id: str | None, required: bool) -> str | None:
    room = frame.get("room")
    if room is None and not required:
        return None
    if not isinstance(room, str) or not 1 <= len(room) <= ROOM_NAME_MAX:
        raise FrameError("bad_frame", "room must be a room name", client_id)
    return room


def _seq(frame: dict, field: str, client_id: str | None, required: bool) -> int | None:
    value = frame.get(field)
    if value is None and not required:
        return None
    # bool is an int in Python, and 1.0 is a float: neither is a seq.
    if type(value) is not int or not 0 <= value <= SEQ_MAX:
        raise FrameError("bad_frame", f"{field} must be a non-negative whole number", client_id)
    return value


def parse(data: str | bytes, max_chars: int, plain_text: bool = True) -> ClientFrame:
    """Turn one client message into a request, or raise FrameError.

    On a one-room socket (plain_text=True) a text frame that is not a JSON
    object is a chat message to the socket's room, so `websocat` users can
    just type. On /ws every frame must be a JSON object (DESIGN §5).
    """
    if isinstance(data, bytes):
        raise FrameError("bad_frame", "send text frames: UTF-8 JSON objects")
    frame = None
    if data.lstrip().startswith("{"):
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            # A line that opens like a JSON object ({") is a frame, on /ws/<room>
            # too: a broken one is refused, never posted to the room as text.
            if not plain_text or _LOOKS_LIKE_A_FRAME.match(data):
                raise _malformed(data, exc) from None
    if not isinstance(frame, dict):
        if not plain_text:
            raise FrameError("bad_frame", "frames must be JSON objects with a type")
        text = data.rstrip("\r\n")
        return ChatIn(room=None, content=validate_content(text, max_chars), client_id=None)

    try:
        # Checked for the whole frame first: a field no rule below reads (or a
        # room name, which goes to a query) must not carry text PostgreSQL
        # cannot store either.
        reason = first_unstorable(frame)
        if reason is not None:
            raise FrameError("bad_frame", reason, _readable(frame.get("client_id")))
        return _parse_object(frame, max_chars, plain_text)
    except FrameError as exc:
        room = _readable(frame.get("room"), ROOM_NAME_MAX)
        if exc.room is None and room is not None:
            exc.room = room  # so the client knows which room's frame was refused
        raise


# An object with a first key: what nobody types as a chat line by accident.
_LOOKS_LIKE_A_FRAME = re.compile(r'\s*\{\s*"')


def json_text_error(exc: orjson.JSONDecodeError) -> str | None:
    """Why JSON did not parse, if it was its text (a lone surrogate escape, bytes
    that are not UTF-8: orjson's messages say so), as a sentence; else None."""
    if "surrogate" in str(exc) or "UTF-8" in str(exc):
        return "text must be valid Unicode (UTF-8, no lone surrogates)"
    return None


def _malformed(data: str, exc: orjson.JSONDecodeError) -> FrameError:
    """The refusal of a frame that is not valid JSON, saying why, with its client_id
    and room when a lenient reading finds them (so a client can match the error
    to what it sent: a lone surrogate from a half-pasted emoji, say)."""
    reason = json_text_error(exc) or f"not valid JSON ({str(exc).split(':', 1)[0]})"
    try:
        lenient = json.loads(data)  # accepts lone surrogates; only for the error frame
    except (ValueError, RecursionError):
        lenient = None
    if not isinstance(lenient, dict):
        return FrameError("bad_frame", reason)
    return FrameError(
        "bad_frame",
        reason,
        _readable(lenient.get("client_id")),
        _readable(lenient.get("room"), ROOM_NAME_MAX),
    )


def _readable(value: object, max_chars: int = CLIENT_ID_MAX) -> str | None:
    """A field worth echoing back in an error frame: a short storable string."""
    if isinstance(value, str) and 1 <= len(value) <= max_chars and unstorable(value) is None:
        return value
    return None


def _parse_object(frame: dict, max_chars: int, plain_text: bool) -> ClientFrame:
    client_id = validate_client_id(frame.get("client_id"))
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise FrameError("bad_frame", "type must be a string", client_id)
    # Where a socket has a room of its own, frames may leave `room` out.
    room_required = not plain_text
    if kind == "chat":
        room = _room(frame, client_id, room_required)
        return ChatIn(room, validate_content(frame.get("content"), max_chars, client_id), client_id)
    if kind == "join":
        watch = frame.get("watch", False)
        if type(watch) is not bool:
            raise FrameError("bad_frame", "watch must be true or false", client_id)
        return JoinIn(_room(frame, client_id, True), _seq(frame, "after", client_id, False), watch)
    if kind == "leave":
        return LeaveIn(_room(frame, client_id, True))
    if kind == "typing":
        return TypingIn(_room(frame, client_id, room_required))
    if kind == "read":
        return ReadIn(_room(frame, client_id, room_required), _seq(frame, "seq", client_id, True))
    if kind in ("edit", "delete", "react"):
        room = _room(frame, client_id, room_required)
        seq = _seq(frame, "seq", client_id, True)
        if kind == "edit":
            content = validate_content(frame.get("content"), max_chars, client_id)
            return EditIn(room, seq, content, client_id)
        if kind == "delete":
            return DeleteIn(room, seq, client_id)
        return ReactIn(room, seq, validate_emoji(frame.get("emoji"), client_id), client_id)
    raise FrameError("unknown_type", f"unknown frame type: {kind[:40]!r}", client_id)
