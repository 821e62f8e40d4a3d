"""Frames clients send (DESIGN §5, docs/protocol.md "Client to server"): read
one WebSocket message into a request, or refuse it with a ChatError.

The fields are checked by the domain's rules (chat/domain/validate.py), the
same ones the JSON API and the HTML form apply. An error frame echoes the
refused frame's client_id and room: `echoed` reads them, where the error
frame is built.
"""

import json
import re
from dataclasses import dataclass

import orjson

from chat.domain.errors import ChatError
from chat.domain.text import first_unstorable, unstorable
from chat.domain.threads import NO_REPLY, ReplyTo
from chat.domain.validate import (
    CLIENT_ID_MAX,
    ROOM_NAME_MAX,
    SEQ_MAX,
    validate_client_id,
    validate_content,
    validate_emoji,
    validate_file_keys,
    validate_reply_to,
)


@dataclass(frozen=True)
class ChatIn:
    """A chat message a client wants to send."""

    room: str | None
    content: str
    client_id: str | None
    # Keys of uploaded files the message carries, in order (docs/files.md).
    files: tuple[str, ...] = ()
    # A reply in a thread, a quote-reply (docs/protocol.md, Threads).
    reply: ReplyTo = NO_REPLY


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
    """Stop following a room."""

    room: str


@dataclass(frozen=True)
class TypingIn:
    """The user is typing in a room they joined (with `thread`, a reply in the
    thread of that root seq)."""

    room: str | None
    thread: int | None = None


@dataclass(frozen=True)
class ReadIn:
    """The client has shown the user every message up to `seq` (of the room's
    main flow, or with `thread` every reply of that thread up to `seq`)."""

    room: str | None
    seq: int
    thread: int | None = None


@dataclass(frozen=True)
class FollowIn:
    """Follow (`following` true) or unfollow thread `thread` of a room."""

    room: str | None
    thread: int
    following: bool


@dataclass(frozen=True)
class PresenceIn:
    """The person is away (idle, or the page hidden) or active again, as this
    socket sees them."""

    away: bool
    room: None = None


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


ClientFrame = (
    ChatIn
    | JoinIn
    | LeaveIn
    | TypingIn
    | ReadIn
    | PresenceIn
    | EditIn
    | DeleteIn
    | ReactIn
    | FollowIn
)

# An object with a first key: what nobody types as a chat line by accident.
_LOOKS_LIKE_A_FRAME = re.compile(r'\s*\{\s*"')


def parse(data: str | bytes, max_chars: int, plain_text: bool = True) -> ClientFrame:
    """Turn one client message into a request; `max_chars` limits message text.

    On a one-room socket (plain_text=True) a text frame that is not a JSON
    object is a chat message to the socket's room, so `websocat` users can
    just type, and frames may leave `room` out. On /ws every frame must be a
    JSON object naming its room (DESIGN §5).

    Raises ChatError: `bad_frame`, `too_large` (text over max_chars) or
    `unknown_type`.
    """
    if isinstance(data, bytes):
        raise ChatError("bad_frame", "send text frames: UTF-8 JSON objects")
    frame = None
    if data.lstrip().startswith("{"):
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            # A line that opens like a JSON object ({") is a frame, on /ws/<room>
            # too: a broken one is refused, never posted to the room as text.
            if not plain_text or _LOOKS_LIKE_A_FRAME.match(data):
                raise _malformed(exc) from None
    if not isinstance(frame, dict):
        if not plain_text:
            raise ChatError("bad_frame", "frames must be JSON objects with a type")
        text = data.rstrip("\r\n")
        return ChatIn(room=None, content=validate_content(text, max_chars), client_id=None)
    # Checked for the whole frame first: a field no rule below reads (or a
    # room name, which goes to a query) must not carry text PostgreSQL
    # cannot store either.
    reason = first_unstorable(frame)
    if reason is not None:
        raise ChatError("bad_frame", reason)
    return _parse_object(frame, max_chars, plain_text)


def echoed(data: str | bytes) -> tuple[str | None, str | None]:
    """The (client_id, room) a refused frame names, for its error frame to echo:
    each when it can be read as a short storable string, else None; (None, None)
    for plain text and binary frames.

    A frame that is not valid JSON is read leniently here (Python's parser
    takes lone surrogates), so a client can match the refusal of a half-pasted
    emoji to what it sent. Called only for refused frames: the second parse
    costs nothing on the way of accepted ones.
    """
    if isinstance(data, bytes) or not data.lstrip().startswith("{"):
        return None, None
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            frame = json.loads(data)
        except (ValueError, RecursionError):
            return None, None
    if not isinstance(frame, dict):
        return None, None
    client_id = _readable(frame.get("client_id"), CLIENT_ID_MAX)
    return client_id, _readable(frame.get("room"), ROOM_NAME_MAX)


def json_text_error(exc: orjson.JSONDecodeError) -> str | None:
    """Why JSON did not parse, if it was its text (a lone surrogate escape, bytes
    that are not UTF-8: orjson's messages say so), as a sentence; else None."""
    if "surrogate" in str(exc) or "UTF-8" in str(exc):
        return "text must be valid Unicode (UTF-8, no lone surrogates)"
    return None


def _malformed(exc: orjson.JSONDecodeError) -> ChatError:
    """The refusal of a frame that is not valid JSON, saying why."""
    reason = json_text_error(exc) or f"not valid JSON ({str(exc).split(':', 1)[0]})"
    return ChatError("bad_frame", reason)


def _readable(value: object, max_chars: int) -> str | None:
    """A field worth echoing back in an error frame: a short storable string."""
    if isinstance(value, str) and 1 <= len(value) <= max_chars and unstorable(value) is None:
        return value
    return None


def _room(frame: dict, required: bool) -> str | None:
    room = frame.get("room")
    if room is None and not required:
        return None
    if not isinstance(room, str) or not 1 <= len(room) <= ROOM_NAME_MAX:
        raise ChatError("bad_frame", "room must be a room name")
    return room


def _seq(frame: dict, field: str, required: bool) -> int | None:
    value = frame.get(field)
    if value is None and not required:
        return None
    # bool is an int in Python, and 1.0 is a float: neither is a seq.
    if type(value) is not int or not 0 <= value <= SEQ_MAX:
        raise ChatError("bad_frame", f"{field} must be a non-negative whole number")
    return value


def _parse_object(frame: dict, max_chars: int, plain_text: bool) -> ClientFrame:
    client_id = validate_client_id(frame.get("client_id"))
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise ChatError("bad_frame", "type must be a string")
    # Where a socket has a room of its own, frames may leave `room` out.
    room_required = not plain_text
    if kind == "chat":
        room = _room(frame, room_required)
        files = validate_file_keys(frame.get("files"))
        content = validate_content(frame.get("content"), max_chars, blank_ok=bool(files))
        return ChatIn(room, content, client_id, files, validate_reply_to(frame))
    if kind == "join":
        watch = frame.get("watch", False)
        if type(watch) is not bool:
            raise ChatError("bad_frame", "watch must be true or false")
        return JoinIn(_room(frame, True), _seq(frame, "after", False), watch)
    if kind == "leave":
        return LeaveIn(_room(frame, True))
    if kind == "typing":
        return TypingIn(_room(frame, room_required), _seq(frame, "thread", False))
    if kind == "read":
        return ReadIn(
            _room(frame, room_required), _seq(frame, "seq", True), _seq(frame, "thread", False)
        )
    if kind == "follow":
        following = frame.get("following", True)
        if type(following) is not bool:
            raise ChatError("bad_frame", "following must be true or false")
        return FollowIn(_room(frame, room_required), _seq(frame, "thread", True), following)
    if kind == "presence":
        status = frame.get("status")
        if status not in ("online", "away"):
            raise ChatError("bad_frame", 'status must be "online" or "away"')
        return PresenceIn(away=status == "away")
    if kind in ("edit", "delete", "react"):
        room = _room(frame, room_required)
        seq = _seq(frame, "seq", True)
        if kind == "edit":
            return EditIn(room, seq, validate_content(frame.get("content"), max_chars), client_id)
        if kind == "delete":
            return DeleteIn(room, seq, client_id)
        return ReactIn(room, seq, validate_emoji(frame.get("emoji")), client_id)
    raise ChatError("unknown_type", f"unknown frame type: {kind[:40]!r}")
