"""Frames the server sends (DESIGN §5, docs/protocol.md "Server to client").

A frame is encoded here exactly once per stored row per worker: by the
writer inside its transaction (the NOTIFY payload carries it verbatim) or by
a worker reading the row back from the table (a chat/domain/entities.Message).
Both go through `row_message` (a new message through `chat_message`, which it
uses), so a live frame and one caught up from the table are built by the same
code.

A row is a message (kind chat or action) or an event that changes one (edit,
delete, reaction_add, reaction_remove; `target_seq` names the message). A
message read from the table shows its current state (text, "edited",
"deleted", "reactions"); the events after it replay to the same state.

Nothing here renders Markdown: a row's `html` is rendered when it is written
(chat/actions), or when a row stored without it is read
(chat/storage/queries.py); frames carry it as given.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import quote

import orjson

from chat.domain.entities import (
    Attachment,
    Message,
    Preview,
    Quote,
    RoomListing,
    ThreadState,
    ThreadSummary,
)
from chat.domain.errors import ChatError
from chat.domain.kinds import (
    KIND_CHAT,
    KIND_DELETE,
    KIND_EDIT,
    KIND_FILES,
    KIND_PREVIEW,
    KIND_PREVIEW_REMOVE,
    KIND_REACTION_ADD,
    KIND_REACTION_REMOVE,
    KIND_RENAME,
    MEMBER_KINDS,
    MESSAGE_KINDS,
)

# The frame type of each event kind.
_EVENT_TYPES = {
    KIND_EDIT: "chat_edit",
    KIND_DELETE: "chat_delete",
    KIND_REACTION_ADD: "reaction",
    KIND_REACTION_REMOVE: "reaction",
    # docs/files.md: a message's files now (a thumbnail made), its preview now.
    KIND_FILES: "chat_files",
    KIND_PREVIEW: "link_preview",
    KIND_PREVIEW_REMOVE: "link_preview",
}


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
    html: str,
    kind: str = KIND_CHAT,
    files: Sequence[Attachment] = (),
    thread_seq: int | None = None,
    also_in_room: bool = False,
    quote: Quote | None = None,
) -> dict:
    """One stored message as the `chat` frame (and the API) shows it: `html` is
    `content` rendered (chat/domain/render.py); `kind` is KIND_CHAT or
    KIND_ACTION (a frame of an ordinary message carries no `kind`, exactly as
    before kinds existed); `files` its attachments in order (a message
    without any has no `files` key). A reply carries `thread` (its root's
    seq) and, shown in the room too, `also_in_room`; a quote-reply `quote`
    (docs/protocol.md, Threads). Messages without them have no such keys."""
    frame = {
        "type": "chat",
        "room": room,
        "seq": seq,
        "username": username,
        "content": content,
        "html": html,
        "ts": timestamp(created_at),
    }
    if client_id is not None:
        frame["client_id"] = client_id
    if kind != KIND_CHAT:
        frame["kind"] = kind
    if files:
        frame["files"] = [file_json(f) for f in files]
    if thread_seq is not None:
        frame["thread"] = thread_seq
        if also_in_room:
            frame["also_in_room"] = True
    if quote is not None:
        frame["quote"] = quote_json(quote)
    return frame


def quote_json(quote: Quote) -> dict:
    """What a quote-reply shows of the message it quotes (its text as it is now,
    cut to QUOTE_CHARS; '' and `deleted` once it is gone)."""
    return {
        "seq": quote.seq,
        "username": quote.username,
        "content": quote.content,
        "deleted": quote.deleted,
    }


def replies_json(replies: ThreadSummary) -> dict:
    """A root's thread as the room shows it under the root: `count` replies,
    the last one's `last_seq` and `last_ts`, `users` the latest repliers."""
    return {
        "count": replies.count,
        "last_seq": replies.last_seq,
        "last_ts": timestamp(replies.last_at),
        "users": list(replies.users),
    }


def file_json(file: Attachment) -> dict:
    """One attachment as frames and the API show it (docs/files.md): `url`
    downloads it (the name is for the save dialog), `thumb` is its thumbnail's
    URL once made (None before, and for anything but a raster image), `state`
    the file's: stored, ready or failed (an image the worker could not
    process: served to its owner only)."""
    return {
        "id": file.key,
        "name": file.name,
        "size": file.size,
        "type": file.media_type,
        "width": file.width,
        "height": file.height,
        "url": f"/files/{file.key}/{quote(file.name, safe='')}",
        "thumb": f"/thumbs/{file.key}" if file.thumb else None,
        "state": file.state,
    }


def preview_json(preview: Preview | None) -> dict | None:
    """A link preview card as frames show it; None for no preview (removed)."""
    if preview is None:
        return None
    return {
        "url": preview.url,
        "title": preview.title,
        "description": preview.description,
        "site_name": preview.site_name,
        "image": preview.image_url,
    }


def chat_frame(
    room: str,
    seq: int,
    username: str,
    content: str,
    created_at: datetime,
    client_id: str | None,
    html: str,
    kind: str = KIND_CHAT,
    files: Sequence[Attachment] = (),
    thread_seq: int | None = None,
    also_in_room: bool = False,
    quote: Quote | None = None,
) -> str:
    """The encoded `chat` frame for one stored message (see chat_message)."""
    return encode(
        chat_message(
            room,
            seq,
            username,
            content,
            created_at,
            client_id,
            html,
            kind,
            files,
            thread_seq,
            also_in_room,
            quote,
        )
    )


def row_message(room: str, message: Message) -> dict:
    """The frame (a dict) for one stored Message, as sockets, the API and
    catch-up show it: a message in its current state ("edited", "deleted",
    "reactions"), an event as what it did. `room` is the room's name.
    """
    kind = message.kind
    if kind in MESSAGE_KINDS:
        frame = chat_message(
            room,
            message.seq,
            message.username,
            message.content,
            message.created_at,
            message.client_id,
            message.html,
            kind,
            message.files,
            message.thread_seq,
            message.also_in_room,
            message.quote,
        )
        if message.replies is not None:
            frame["replies"] = replies_json(message.replies)
        if message.preview is not None and message.deleted_at is None:
            frame["preview"] = preview_json(message.preview)
        if message.edited_at is not None:
            frame["edited"] = timestamp(message.edited_at)
        if message.deleted_at is not None:
            frame["deleted"] = True
            frame["content"] = frame["html"] = ""
            frame.pop("files", None)
        if message.reactions:
            frame["reactions"] = message.reactions
        return frame
    if kind in MEMBER_KINDS:
        return member_message(
            room,
            message.seq,
            kind,
            message.username,
            message.content,
            message.created_at,
            message.client_id,
        )
    if kind == KIND_RENAME:
        previous, _, name = message.content.partition(" ")
        return renamed_message(
            room, message.seq, message.username, previous, name, message.created_at
        )
    frame = {
        "type": _EVENT_TYPES[kind],
        "room": room,
        "seq": message.seq,
        "target_seq": message.target_seq,
        "username": message.username,
    }
    if message.thread_seq is not None:
        frame["thread"] = message.thread_seq
    if kind == KIND_EDIT:
        frame["content"] = message.content
        frame["html"] = message.html
    elif kind in (KIND_REACTION_ADD, KIND_REACTION_REMOVE):
        frame["emoji"] = message.content
        frame["on"] = kind == KIND_REACTION_ADD
    elif kind == KIND_FILES:
        frame["files"] = [file_json(f) for f in message.files]
    elif kind in (KIND_PREVIEW, KIND_PREVIEW_REMOVE):
        frame["preview"] = preview_json(message.preview)
    frame["ts"] = timestamp(message.created_at)
    if message.client_id is not None:
        frame["client_id"] = message.client_id
    return frame


def member_message(
    room: str,
    seq: int,
    kind: str,
    username: str,
    member: str,
    created_at: datetime,
    client_id: str | None = None,
) -> dict:
    """A membership event (chat/domain/kinds.py MEMBER_KINDS) as the `member` frame:
    `event` is join, leave, add or remove; `username` who did it; `member` whom it
    concerns (the same person for join and leave)."""
    frame = {
        "type": "member",
        "room": room,
        "seq": seq,
        "event": kind,
        "username": username,
        "member": member or username,
        "ts": timestamp(created_at),
    }
    if client_id is not None:
        frame["client_id"] = client_id
    return frame


def renamed_message(
    room: str, seq: int, username: str, previous: str, name: str, created_at: datetime
) -> dict:
    """A rename of the room (kind rename) as the `room_renamed` frame: `username`
    renamed it from `previous` to `name` (the names then). `room` is the name
    the frame is sent under: the new name live, the current one on catch-up. A
    client that knows the room as `previous` knows it as `room` from here on."""
    return {
        "type": "room_renamed",
        "room": room,
        "seq": seq,
        "username": username,
        "previous": previous,
        "name": name,
        "ts": timestamp(created_at),
    }


def row_frame(room: str, message: Message) -> str:
    """The encoded frame (text) for one stored Message (see row_message)."""
    return encode(row_message(room, message))


def ready_frame(room: str, last_seq: int) -> str:
    """The catch-up of a join is complete; `last_seq` is the last seq sent so far."""
    return encode({"type": "ready", "room": room, "last_seq": last_seq})


def ack_frame(client_id: str | None, seq: int, room: str) -> str:
    """The sender's frame was stored as `seq` (or had been, for a repeated client_id)."""
    return encode({"type": "ack", "client_id": client_id, "seq": seq, "room": room})


def error_frame(err: ChatError, client_id: str | None = None, room: str | None = None) -> str:
    """The `error` frame refusing a client's frame: `err`'s code and message, with
    the client_id and room of the refused frame when they are known (the client
    matches the error to what it sent by them)."""
    frame = {"type": "error", "code": err.code, "message": err.message}
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


def not_members_frame(room: str, seq: int, usernames: tuple[str, ...]) -> str:
    """To the sender only: message `seq` mentions people who are not members of
    the room (they were not notified); a member may add them."""
    return encode({"type": "not_members", "room": room, "seq": seq, "users": list(usernames)})


def _presence_frame(kind: str, room: str, username: str, verb: str) -> str:
    return encode(
        {"type": kind, "room": room, "username": username, "content": f"{username} {verb} the room"}
    )


def user_joined_frame(room: str, username: str) -> str:
    """`username` is now in the room (their first connection to it)."""
    return _presence_frame("user_joined", room, username, "joined")


def user_left_frame(room: str, username: str) -> str:
    """`username` is no longer in the room (their last connection to it closed)."""
    return _presence_frame("user_left", room, username, "left")


def online_users_frame(room: str, usernames: list[str]) -> str:
    """Who is in the room now (`usernames` sorted)."""
    return encode(
        {"type": "online_users", "room": room, "users": usernames, "content": ",".join(usernames)}
    )


# A person's status across the app (DESIGN §9).
STATUSES = ("online", "away", "offline")


def presence_frame(room: str, username: str, status: str) -> str:
    """`username`, a member of the room, is now `status` (one of STATUSES)."""
    return encode({"type": "presence", "room": room, "username": username, "status": status})


def typing_frame(room: str, username: str, thread: int | None = None) -> str:
    """`username` is typing in the room (with `thread`, in that thread)."""
    frame = {"type": "typing", "room": room, "username": username}
    if thread is not None:
        frame["thread"] = thread
    return encode(frame)


# --- the per-user channel (DESIGN §9; docs/protocol.md "Your rooms") ---------------


def listing_json(listing: RoomListing) -> dict:
    """One room of a member's sidebar, as the `rooms` frame, `room_added` and
    GET /api/rooms show it: `unread` counts others' messages after
    `last_read_seq`, `mentions` the mentions of the member among them, both as
    of `last_seq`."""
    return {
        "name": listing.name,
        "title": listing.title,
        "private": listing.is_private,
        "direct": listing.is_direct,
        "partner": listing.partner,
        "partner_status": listing.partner_status,
        "partner_display_name": listing.partner_display_name,
        "topic": listing.topic,
        "archived": listing.archived,
        "muted": listing.muted,
        "last_seq": listing.last_seq,
        "last_read_seq": listing.last_read_seq,
        "unread": listing.unread,
        "mentions": listing.mentions,
    }


def rooms_frame(listings: list[RoomListing]) -> str:
    """Every room the user is a member of, with counts: the first frame of a /ws
    socket, and again whenever its worker may have missed a user event."""
    return encode({"type": "rooms", "rooms": [listing_json(r) for r in listings]})


def room_added_frame(listing: RoomListing) -> str:
    """The user became a member of a room (joined, added, a new direct room)."""
    return encode({"type": "room_added", "room": listing_json(listing)})


def room_updated_frame(listing: RoomListing, previous: str | None = None) -> str:
    """A room of the user's changed (topic, archived, muted, its name: then
    `previous` is the name it had)."""
    frame = {"type": "room_updated", "room": listing_json(listing)}
    if previous is not None:
        frame["previous"] = previous
    return encode(frame)


def room_removed_frame(room: str) -> str:
    """The user is no longer a member of the room (left, removed)."""
    return encode({"type": "room_removed", "room": room})


def read_frame(listing: RoomListing) -> str:
    """The user read a room up to `last_read_seq` (on any device): its counts now."""
    return encode(
        {
            "type": "read",
            "room": listing.name,
            "last_read_seq": listing.last_read_seq,
            "last_seq": listing.last_seq,
            "unread": listing.unread,
            "mentions": listing.mentions,
        }
    )


def thread_state_json(state: ThreadState) -> dict:
    """A thread as one follower has it (docs/protocol.md, Threads): `unread`
    counts others' replies after `last_read_seq`, `mentions` the follower's
    mentions among them, both as of the thread's last reply `last_seq`."""
    return {
        "room": state.room,
        "thread": state.thread,
        "following": state.following,
        "last_read_seq": state.last_read_seq,
        "last_seq": state.last_seq,
        "unread": state.unread,
        "mentions": state.mentions,
    }


def threads_frame(states: list[ThreadState]) -> str:
    """The user's followed threads with unread replies, and their totals: sent
    after `rooms` to every /ws socket (and again with it after a resync)."""
    return encode(
        {
            "type": "threads",
            "unread": sum(s.unread for s in states),
            "mentions": sum(s.mentions for s in states),
            "threads": [thread_state_json(s) for s in states],
        }
    )


def thread_updated_frame(state: ThreadState) -> str:
    """A thread the user follows (or just stopped following) changed for them:
    a reply arrived, they read it, followed or unfollowed it."""
    return encode({"type": "thread_updated", **thread_state_json(state)})


def profile_frame(username: str, display_name: str | None) -> str:
    """The user changed their display name (None: removed it), for their own
    sockets: their pages show it at once; others' pages learn it on their next
    read of the room's members."""
    return encode({"type": "profile", "username": username, "display_name": display_name})
