"""The things the chat is about: a user, a room, a stored message.

Small immutable values. Each is built from a database row by its `from_row`,
and only the reads in chat/storage/queries.py (and the actions that create
or look up a room or a user) call it: everything above them takes these types,
never a row. Per-reader data that is not part of the thing itself (unread
counts, the partner of a direct room) lives in `RoomListing`, the shape of one
line of a reader's room list.

Nothing here touches the database: `Mapping` is all a row needs to be (psycopg's
dict_row gives a dict).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from chat.domain.kinds import KIND_CHAT
from chat.domain.users import device_label

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class User:
    """A person (or a bot) with an account; `username` keeps the case it was registered in."""

    id: int
    username: str

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row with `id` and `username` (other columns, e.g. a password hash, are left)."""
        return cls(row["id"], row["username"])


@dataclass(frozen=True, slots=True)
class Room:
    """A room: public, private (members only) or direct (a private room of two).

    `last_seq` is the room's newest seq as of the read that built this value;
    the room moves on while it is held, so it is not part of the room's
    identity: two reads of the same room compare equal whatever their
    `last_seq` (and hash alike). Read it again (queries.room_last_seq) where
    the current value matters.
    """

    id: int
    name: str
    is_private: bool = False
    is_direct: bool = False
    created_by: int | None = None
    last_seq: int = field(default=0, compare=False)
    topic: str = field(default="", compare=False)
    archived: bool = field(default=False, compare=False)

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row with `id` and `name`; `is_private`, `is_direct`, `created_by`
        and `last_seq` when the row has them (their defaults otherwise)."""
        return cls(
            row["id"],
            row["name"],
            row.get("is_private", False),
            row.get("is_direct", False),
            row.get("created_by"),
            row.get("last_seq", 0),
            row.get("topic") or "",
            row.get("archived_at") is not None,
        )


@dataclass(frozen=True, slots=True)
class RoomListing:
    """One line of a reader's room list: the room, and what it is to this reader.

    `unread` and `mentions` are None for a room the reader is not a member of
    (a public room they watch); `partner` is the other person of a direct
    room (`partner_display_name` theirs, None when not set); `muted` whether
    the member muted it (no badge, no notification). The room's own fields are
    repeated flat (name, is_direct, ...) so a template reads a listing and a
    `Room` alike.
    """

    room: Room
    unread: int | None = None
    mentions: int | None = None
    last_read_seq: int | None = None
    partner: str | None = None
    muted: bool = False
    partner_status: str | None = None
    partner_display_name: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row of queries.SQL_VISIBLE_ROOMS."""
        return cls(
            Room.from_row(row),
            row.get("unread"),
            row.get("mentions"),
            row.get("last_read_seq"),
            row.get("partner"),
            bool(row.get("muted")),
            row.get("partner_status"),
            row.get("partner_display_name"),
        )

    @property
    def id(self) -> int:
        return self.room.id

    @property
    def name(self) -> str:
        return self.room.name

    @property
    def is_private(self) -> bool:
        return self.room.is_private

    @property
    def is_direct(self) -> bool:
        return self.room.is_direct

    @property
    def last_seq(self) -> int:
        return self.room.last_seq

    @property
    def topic(self) -> str:
        return self.room.topic

    @property
    def archived(self) -> bool:
        return self.room.archived

    @property
    def is_member(self) -> bool:
        return self.unread is not None

    @property
    def title(self) -> str:
        """What people see: #name; for a direct room the other person's display
        name, or @username when they have none."""
        if self.room.is_direct and self.partner:
            return self.partner_display_name or f"@{self.partner}"
        return f"#{self.room.name}"


@dataclass(frozen=True, slots=True)
class Member:
    """A member of a room as its people panel shows them: `status` is their
    presence (online, away, offline), `display_name` None when they set none,
    `avatar_key` their avatar's file key once it can be shown (else None:
    their initials are shown)."""

    username: str
    status: str = "offline"
    display_name: str | None = None
    avatar_key: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row of queries.SQL_MEMBERS_WITH_STATUS."""
        return cls(row["username"], row["status"], row.get("display_name"), row.get("avatar_key"))

    @property
    def name(self) -> str:
        """What people see: the display name, else the username."""
        return self.display_name or self.username


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file of a message (or one uploaded and not sent yet): docs/files.md.

    `key` is what URLs name (22 URL-safe characters); `media_type` was sniffed
    from the content; `width` and `height` are a raster image's (orientation
    applied), else None; `thumb` says whether its thumbnail exists yet;
    `state` is the file's (files.state): stored (a raster image not processed
    yet), ready, or failed (an image the worker could not process: only its
    owner may download it).
    """

    key: str
    name: str
    size: int
    media_type: str
    width: int | None = None
    height: int | None = None
    thumb: bool = False
    state: str = "stored"

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row of `files` (or a JSON object of its columns) with `thumb`."""
        return cls(
            row["key"],
            row["name"],
            row["size"],
            row["media_type"],
            row.get("width"),
            row.get("height"),
            bool(row.get("thumb")),
            row.get("state") or "stored",
        )


@dataclass(frozen=True, slots=True)
class Preview:
    """A message's link preview card (link_previews): the page's `url` and what
    it says of itself; any of the rest may be None."""

    url: str
    title: str | None = None
    description: str | None = None
    site_name: str | None = None
    image_url: str | None = None

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row of `link_previews` (or a JSON object of its columns)."""
        return cls(
            row["url"],
            row.get("title"),
            row.get("description"),
            row.get("site_name"),
            row.get("image_url"),
        )


@dataclass(frozen=True, slots=True)
class Quote:
    """What a quote-reply shows of the message it answers (docs/protocol.md,
    Threads): its `seq`, author, and the start of its text as it is now
    (QUOTE_CHARS at most, the Markdown source); `deleted` when it is gone
    (then `content` is ''); `thread`, its thread's root seq when it is a
    reply (for the pages' links; not in frames)."""

    seq: int
    username: str
    content: str
    deleted: bool = False
    thread: int | None = None

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a JSON object of queries.SQL_QUOTE_OF_M (or the writer's read)."""
        deleted = bool(row.get("deleted"))
        content = "" if deleted else row["content"]
        return cls(row["seq"], row["username"], content, deleted, row.get("thread"))


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    """What the room shows under a thread's root: `count` replies not deleted,
    the last reply's `last_seq` and time, and `users`, the usernames of the
    latest repliers (most recent first, THREAD_FACES at most)."""

    count: int
    last_seq: int
    last_at: datetime
    users: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a JSON object of queries.SQL_REPLIES_OF_M."""
        last_at = row["last_at"]
        if isinstance(last_at, str):
            last_at = datetime.fromisoformat(last_at)
        return cls(row["count"], row["last_seq"], last_at, tuple(row.get("users") or ()))


@dataclass(frozen=True, slots=True)
class Message:
    """A stored row of a room: a message (kind chat or action) or an event that
    changes one (edit, delete, reaction_add, reaction_remove; `target_seq` names it).

    `username` is the author, or for an event who made it. `html` is `content`
    rendered (None for kinds that are not rendered). A message read from the
    table carries its current state: `edited_at`, `deleted_at` and
    `reactions` ({emoji: [usernames]} in the order first given, None when
    none). `reactions` is a dict, as the frame carries it; it takes no part in
    the hash (equality still compares it).
    """

    seq: int
    username: str
    content: str
    created_at: datetime
    html: str | None = None
    kind: str = KIND_CHAT
    client_id: str | None = None
    target_seq: int | None = None
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    reactions: dict[str, list[str]] | None = field(default=None, hash=False)
    # A message's files, in order; for a `files` event, its message's files now.
    files: tuple[Attachment, ...] = field(default=(), hash=False)
    # A message's link preview; for a preview event, its message's preview now
    # (None once removed).
    preview: Preview | None = field(default=None, hash=False)
    # A reply: its thread's root seq; `also_in_room` when it is shown in the
    # room's main flow too. An edit, deletion or reaction of a reply: the reply's.
    thread_seq: int | None = None
    also_in_room: bool = False
    # A quote-reply: what it quotes, as it is now.
    quote: Quote | None = field(default=None, hash=False)
    # A thread's root: its replies so far (None when it has none).
    replies: ThreadSummary | None = field(default=None, hash=False)
    # The author's display name, read for the history pages only (queries.history_before):
    # not part of the message, and never in a frame.
    display_name: str | None = field(default=None, compare=False)

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row of queries' message reads (_MESSAGE_ROWS); columns a row
        lacks take their defaults."""
        return cls(
            row["seq"],
            row["username"],
            row["content"],
            row["created_at"],
            row.get("html"),
            row.get("kind", KIND_CHAT),
            row.get("client_id"),
            row.get("target_seq"),
            row.get("edited_at"),
            row.get("deleted_at"),
            row.get("reactions"),
            tuple(Attachment.from_row(f) for f in row.get("files") or ()),
            Preview.from_row(row["preview"]) if row.get("preview") else None,
            thread_seq=row.get("thread_seq"),
            also_in_room=bool(row.get("also_in_room")),
            quote=Quote.from_row(row["quote"]) if row.get("quote") else None,
            replies=ThreadSummary.from_row(row["replies"]) if row.get("replies") else None,
            display_name=row.get("display_name"),
        )

    @property
    def in_main_flow(self) -> bool:
        """Shown in the room's main flow: not a reply, or a reply also sent to the room."""
        return self.thread_seq is None or self.also_in_room

    @property
    def author_name(self) -> str:
        """The author as people see them: their display name, else their username."""
        return self.display_name or self.username


@dataclass(frozen=True, slots=True)
class ThreadState:
    """A thread as one follower has it (docs/protocol.md, Threads): the room's
    name and the root's seq; whether they follow it; the last reply they have
    seen (`last_read_seq`) and the thread's last reply (`last_seq`); the
    replies by others after their read seq (`unread`, UNREAD_MAX at most) and
    the mentions of them among those (`mentions`)."""

    room: str
    thread: int
    following: bool
    last_read_seq: int
    last_seq: int
    unread: int
    mentions: int

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row of chat/storage/threads.py's state reads."""
        return cls(
            row["room"],
            row["root_seq"],
            row["following"],
            row["last_read_seq"],
            row["last_reply_seq"],
            row["unread"],
            row["mentions"],
        )


@dataclass(frozen=True, slots=True)
class FollowedThread:
    """One line of a person's Threads view: the thread's `state` for them, its
    root (a Message, possibly deleted) and its replies so far."""

    state: ThreadState
    root: "Message"
    replies: ThreadSummary


@dataclass(frozen=True, slots=True)
class LoginSession:
    """One of a person's login sessions (a browser they logged in with), as their
    settings page lists it. `id` names it in forms (its token never leaves the
    server); `current` is true for the session of the request that read it;
    `last_seen_at` is kept to the minute (actions.use_session)."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    user_agent: str | None = None
    current: bool = False

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row of queries.SQL_LOGIN_SESSIONS."""
        return cls(
            row["id"],
            row["created_at"],
            row["last_seen_at"],
            row.get("user_agent"),
            row.get("current", False),
        )

    @property
    def device(self) -> str:
        """The browser and system in words ("Firefox on Linux")."""
        return device_label(self.user_agent)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A personal API token as its owner sees it listed: never the token itself,
    which is shown once, when it is made (only its hash is kept). `name` is None
    for tokens made before tokens had names."""

    id: int
    name: str | None
    created_at: datetime
    last_used_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row with id, name, created_at and last_used_at (api_tokens)."""
        return cls(row["id"], row["name"], row["created_at"], row.get("last_used_at"))


@dataclass(frozen=True, slots=True)
class IncomingWebhook:
    """An incoming webhook of a room as its members see it listed (docs/webhooks.md):
    never its secret URL, which is shown once, when it is made. `username` is its
    bot account's; `created_by` None once its maker's account is gone."""

    id: int
    name: str
    username: str
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row with id, name, username, created_by, created_at and last_used_at."""
        return cls(
            row["id"],
            row["name"],
            row["username"],
            row["created_by"],
            row["created_at"],
            row["last_used_at"],
        )


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """An account as an operator lists it (`flask --app app list-users`): its
    state, whether it is an administrator, and how many login sessions and API
    tokens it holds."""

    id: int
    username: str
    display_name: str | None
    created_at: datetime
    disabled_at: datetime | None
    is_admin: bool
    sessions: int
    tokens: int

    @classmethod
    def from_row(cls, row: Row) -> Self:
        """From a row of chat/storage/accounts.py's SQL_ACCOUNTS."""
        return cls(
            row["id"],
            row["username"],
            row["display_name"],
            row["created_at"],
            row["disabled_at"],
            row["is_admin"],
            row["sessions"],
            row["tokens"],
        )
