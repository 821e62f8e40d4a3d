"""WebSocket frames (DESIGN §5): parse and validate what clients send, encode what we send.

A chat frame is encoded here exactly once per message per worker: by the
sender inside its transaction (the NOTIFY payload carries it verbatim) or by
a worker reading the row back from the table. Both go through `chat_frame`,
so live and caught-up frames are byte-for-byte the same.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

CLIENT_ID_MAX = 64


class FrameError(Exception):
    """A client frame we refuse; `code` is the stable error code sent back."""

    def __init__(self, code: str, message: str, client_id: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_id = client_id


@dataclass(frozen=True)
class ChatIn:
    """A chat message a client wants to send."""

    room: str | None
    content: str
    client_id: str | None


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
) -> dict:
    """One stored message as the `chat` frame (and the API) shows it."""
    frame = {
        "type": "chat",
        "room": room,
        "seq": seq,
        "username": username,
        "content": content,
        "ts": timestamp(created_at),
    }
    if client_id is not None:
        frame["client_id"] = client_id
    return frame


def chat_frame(
    room: str,
    seq: int,
    username: str,
    content: str,
    created_at: datetime,
    client_id: str | None,
) -> str:
    """The encoded `chat` frame for one stored message."""
    return encode(chat_message(room, seq, username, content, created_at, client_id))


def ready_frame(room: str, last_seq: int) -> str:
    return encode({"type": "ready", "room": room, "last_seq": last_seq})


def ack_frame(client_id: str | None, seq: int, room: str) -> str:
    return encode({"type": "ack", "client_id": client_id, "seq": seq, "room": room})


def error_frame(code: str, message: str, client_id: str | None = None) -> str:
    frame = {"type": "error", "code": code, "message": message}
    if client_id is not None:
        frame["client_id"] = client_id
    return encode(frame)


def validate_client_id(value: object) -> str | None:
    """A client_id is an optional non-empty string of at most 64 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= CLIENT_ID_MAX:
        raise FrameError("bad_frame", f"client_id must be a string of 1 to {CLIENT_ID_MAX} chars")
    return value


def validate_content(value: object, max_chars: int, client_id: str | None = None) -> str:
    """Message text: a non-blank string of at most max_chars characters."""
    if not isinstance(value, str):
        raise FrameError("bad_frame", "content must be a string", client_id)
    if not value.strip():
        raise FrameError("bad_frame", "content must not be empty", client_id)
    if len(value) > max_chars:
        raise FrameError("too_large", f"content is over {max_chars} characters", client_id)
    if "\x00" in value:
        raise FrameError("bad_frame", "content must not contain NUL characters", client_id)
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate from "\ud800" in JSON
        raise FrameError("bad_frame", "content must be valid Unicode text", client_id) from None
    return value


def parse(data: str | bytes, max_chars: int) -> ChatIn:
    """Turn one client message into a request, or raise FrameError.

    A text frame that is not a JSON object is a chat message to the socket's
    room, so `websocat` users can just type. JSON objects follow DESIGN §5.
    """
    if isinstance(data, bytes):
        raise FrameError("bad_frame", "send text frames (UTF-8 JSON or plain text)")
    frame = None
    if data.lstrip().startswith("{"):
        try:
            frame = orjson.loads(data)
        except orjson.JSONDecodeError:
            frame = None
    if not isinstance(frame, dict):
        text = data.rstrip("\r\n")
        return ChatIn(room=None, content=validate_content(text, max_chars), client_id=None)

    kind = frame.get("type")
    client_id = validate_client_id(frame.get("client_id"))
    if kind != "chat":
        raise FrameError("unknown_type", f"unknown frame type: {kind!r}", client_id)
    room = frame.get("room")
    if room is not None and not isinstance(room, str):
        raise FrameError("bad_frame", "room must be a string", client_id)
    content = validate_content(frame.get("content"), max_chars, client_id)
    return ChatIn(room=room, content=content, client_id=client_id)
