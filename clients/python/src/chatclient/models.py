"""The shapes the client hands back: frames, rooms, the answer to a send.

A Frame is one JSON object of docs/protocol.md ("Server to client"), the same
whether it came over the WebSocket or from `GET /api/rooms/<name>/messages`
(the API lists messages and events as the socket's frames). The fields every
script reads are attributes; everything else stays in `data`, as sent, so a
field the server adds later is not lost.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Frames of rows stored in a room's sequence: each has a `seq`, gapless per
# room, and is replayed by a resume with `after` (docs/protocol.md). Only these
# carry the stream's exactly-once, in-order guarantee.
STORED_TYPES = frozenset(
    {
        "chat",
        "chat_edit",
        "chat_delete",
        "reaction",
        "chat_files",
        "link_preview",
        "member",
        "room_renamed",
    }
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One server frame. `type` is always there; `room`, `seq`, `username`,
    `content` and `ts` (ISO 8601 UTC text, milliseconds) are None where the
    frame has none. `data` is the whole frame as decoded JSON."""

    type: str
    room: str | None
    seq: int | None
    username: str | None
    content: str | None
    ts: str | None
    data: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Frame":
        seq = data.get("seq")
        return cls(
            type=str(data.get("type", "")),
            room=_text(data.get("room")),
            seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            username=_text(data.get("username")),
            content=_text(data.get("content")),
            ts=_text(data.get("ts")),
            data=data,
        )

    @property
    def stored(self) -> bool:
        """A row of the room's sequence (STORED_TYPES, with its seq): what the
        stream delivers exactly once, in order."""
        return self.type in STORED_TYPES and self.seq is not None


@dataclass(frozen=True, slots=True)
class Room:
    """A room the token's user is a member of, as `GET /api/rooms` lists it:
    `title` is what to show (`#name`, or a direct room's partner), `last_seq`
    the room's last seq, `unread`/`mentions` the user's counts."""

    name: str
    title: str
    private: bool
    direct: bool
    topic: str
    archived: bool
    muted: bool
    last_seq: int
    last_read_seq: int
    unread: int
    mentions: int
    data: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Room":
        return cls(
            name=data["name"],
            title=data.get("title") or data["name"],
            private=bool(data.get("private")),
            direct=bool(data.get("direct")),
            topic=data.get("topic") or "",
            archived=bool(data.get("archived")),
            muted=bool(data.get("muted")),
            last_seq=int(data.get("last_seq") or 0),
            last_read_seq=int(data.get("last_read_seq") or 0),
            unread=int(data.get("unread") or 0),
            mentions=int(data.get("mentions") or 0),
            data=data,
        )


@dataclass(frozen=True, slots=True)
class Sent:
    """What a send did. `seq` is the stored message's seq (None when the text
    was a command that stores nothing: then `notice` is the server's
    `{"code", "content"}`, e.g. `queued` for a bot request). `duplicate` is
    true when the server had already stored this `client_id` (a retry whose
    first try had got through). `not_members`: people the message mentions
    who are not members of the room (they were not notified)."""

    room: str
    seq: int | None
    client_id: str
    duplicate: bool
    notice: Mapping[str, Any] | None = None
    not_members: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any], client_id: str) -> "Sent":
        return cls(
            room=data["room"],
            seq=data.get("seq"),
            client_id=data.get("client_id") or client_id,
            duplicate=bool(data.get("duplicate")),
            notice=data.get("notice"),
            not_members=tuple(data.get("not_members") or ()),
        )


@dataclass(frozen=True, slots=True)
class Me:
    """The token's user (`GET /api/me`); `display_name` None when not set."""

    username: str
    display_name: str | None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
