"""Edits, deletions, reaction toggles and preview removals: events in the room's
gapless sequence.

Each is one transaction, like a send (actions/messages.py): take the room's
row lock and its next seq, check and authorise against the target message,
store the event as a messages row of its own kind whose target_seq names the
message, bring the message's own row to its new state, and announce the
event's frame on the bus (chat/storage/bus.py, CHANNEL). So the event has
its place in seq order, a client resuming with `after` replays it, and the
message row always holds the current state (what a page of history or a
catch-up shows).

A client_id makes an event idempotent exactly as it does a send: the same
user repeating it in the same room gets the first event's seq back and
nothing changes. Sends and events share that namespace (one unique key on
messages); a client_id first used for something else is refused.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection

from chat import config, metrics
from chat.actions.channels import publish_stored, wake_workers
from chat.actions.messages import forget_mentions, previous_use, replace_mentions, reused_key
from chat.actions.threads import remention_reply, uncount_reply
from chat.domain import reactions
from chat.domain.entities import Message, Room, User
from chat.domain.errors import ChatError
from chat.domain.kinds import (
    KIND_DELETE,
    KIND_EDIT,
    KIND_PREVIEW_REMOVE,
    KIND_REACTION_ADD,
    KIND_REACTION_REMOVE,
    MESSAGE_KINDS,
)
from chat.domain.links import first_link
from chat.domain.render import render
from chat.protocol import outbound
from chat.storage import bus

# A person's distinct reactions on one message: a few say something; more is
# a script inflating the message's frame, which every catch-up sends.
MAX_REACTIONS_PER_USER = 20


@dataclass(frozen=True)
class Event:
    """The outcome of an event: its seq, whether it repeated an earlier one
    (same client_id), and for a reaction toggle whether it is now on."""

    seq: int
    target_seq: int
    created_at: datetime
    duplicate: bool
    on: bool | None = None


# As in send_message: the room's row lock serialises the room's writers, so
# the target's state read below cannot change before this commits. The owner
# is read under the same lock (direct rooms have no owner: two equals).
SQL_NEXT_SEQ = """
    UPDATE rooms SET last_seq = last_seq + 1 WHERE id = %s
    RETURNING last_seq, CASE WHEN is_direct THEN NULL ELSE created_by END AS owner_id,
              archived_at IS NOT NULL AS archived, name
"""
SQL_TARGET = """
    SELECT user_id, kind, content, html, created_at, edited_at, deleted_at, thread_seq
    FROM messages WHERE room_id = %s AND seq = %s
"""
# An event of a reply carries the reply's thread_seq (its frame says `thread`).
SQL_INSERT_EVENT = """
    INSERT INTO messages (room_id, seq, user_id, content, client_id, html, kind, target_seq,
                          thread_seq)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING created_at
"""
# The text being replaced becomes the next earlier version (1 is the original).
SQL_KEEP_VERSION = """
    INSERT INTO message_versions (room_id, seq, version, content, html, written_at)
    SELECT %(room_id)s, %(seq)s, coalesce(max(version), 0) + 1,
           %(content)s, %(html)s, %(written_at)s
    FROM message_versions WHERE room_id = %(room_id)s AND seq = %(seq)s
"""
# now() is the transaction's start: the same instant as the event row's created_at.
SQL_SET_TEXT = """
    UPDATE messages SET content = %s, html = %s, edited_at = now() WHERE room_id = %s AND seq = %s
"""
# A deleted text is gone, not hidden: the message, its edits and its versions.
SQL_DELETE_MESSAGE = """
    UPDATE messages SET content = '', html = '', deleted_at = now(), deleted_by = %s
    WHERE room_id = %s AND seq = %s
"""
SQL_EMPTY_EDITS = """
    UPDATE messages SET content = '', html = ''
    WHERE room_id = %s AND target_seq = %s AND kind = 'edit'
"""
SQL_DELETE_VERSIONS = "DELETE FROM message_versions WHERE room_id = %s AND seq = %s"
SQL_DELETE_REACTIONS = "DELETE FROM reactions WHERE room_id = %s AND seq = %s"
# A deleted message's files go with it (their chunks and variants cascade),
# and so do its preview and a preview job not done yet (docs/files.md).
SQL_DELETE_FILES = "DELETE FROM files WHERE room_id = %s AND seq = %s"
SQL_DELETE_PREVIEW = "DELETE FROM link_previews WHERE room_id = %s AND seq = %s"
SQL_INSERT_PREVIEW_JOB = """
    INSERT INTO work_jobs (kind, room_id, seq, url) VALUES ('preview', %s, %s, %s)
"""
# (Only preview jobs: an outgoing webhook's delivery of the message stays queued.)
SQL_DELETE_PREVIEW_JOBS = """
    DELETE FROM work_jobs
    WHERE room_id = %s AND seq = %s AND kind = 'preview' AND state = 'pending'
"""
SQL_REMOVE_REACTION = """
    DELETE FROM reactions WHERE room_id = %s AND seq = %s AND user_id = %s AND emoji = %s
"""
SQL_REACTIONS_OF_USER = """
    SELECT count(*) AS n FROM reactions WHERE room_id = %s AND seq = %s AND user_id = %s
"""
SQL_ADD_REACTION = """
    INSERT INTO reactions (room_id, seq, user_id, emoji) VALUES (%s, %s, %s, %s)
"""

_REACTIONS = (KIND_REACTION_ADD, KIND_REACTION_REMOVE)


@dataclass(frozen=True)
class _Change:
    """What an event stores in its own row: its kind, and the text it carries
    (an edit's new text, a reaction's emoji)."""

    kind: str
    content: str = ""
    html: str | None = None


def edit_message(
    conn: Connection, room: Room, user: User, seq: int, content: str, client_id: str | None = None
) -> Event:
    """Replace the text of the user's own message `seq` (ChatError forbidden for
    anyone else's; not_found for no such message, an event, a deleted message).

    The text it replaces is kept as the message's next earlier version. The
    message's mention records become those of the new text: a mention the
    edit removes is gone, one it adds counts as new for its person. An edit
    that changes the message's first link takes its link preview away (a card
    must never vouch for a link the message no longer has; pages drop it on
    the `chat_edit` frame by the same rule) and queues one for the new link.
    """
    html = render(content)  # before taking the room's lock: rendering is the slow part
    link = first_link(html) if "href" in html else None

    def apply(target: dict, _owner_id: int | None) -> _Change:
        if target["user_id"] != user.id:
            raise ChatError("forbidden", "only its author can edit a message")
        old_html = target["html"] if target["html"] is not None else render(target["content"])
        conn.execute(
            SQL_KEEP_VERSION,
            {
                "room_id": room.id,
                "seq": seq,
                "content": target["content"],
                "html": old_html,
                "written_at": target["edited_at"] or target["created_at"],
            },
        )
        conn.execute(SQL_SET_TEXT, (content, html, room.id, seq))
        replace_mentions(conn, room.id, seq, target["user_id"], html)
        if target["thread_seq"] is not None:
            remention_reply(conn, room.id, target["thread_seq"], seq)
        if link != (first_link(old_html) if "href" in old_html else None):
            conn.execute(SQL_DELETE_PREVIEW, (room.id, seq))
            conn.execute(SQL_DELETE_PREVIEW_JOBS, (room.id, seq))
            if link is not None and config.value("LINK_PREVIEWS"):
                conn.execute(SQL_INSERT_PREVIEW_JOB, (room.id, seq, link))
                wake_workers(conn, "preview")
        return _Change(KIND_EDIT, content, html)

    return _write_event(conn, room, user, seq, client_id, (KIND_EDIT,), apply)


def delete_message(
    conn: Connection, room: Room, user: User, seq: int, client_id: str | None = None
) -> Event:
    """Delete message `seq`: its author may, and the room's owner may delete any.

    Its text, the texts of its edits, its earlier versions, its reactions, its
    mention records, its files (their bytes too) and its link preview are
    removed; the row stays as a "message deleted" placeholder.
    """

    def apply(target: dict, owner_id: int | None) -> _Change:
        if user.id not in (target["user_id"], owner_id):
            raise ChatError("forbidden", "only its author or the room's owner can delete it")
        conn.execute(SQL_DELETE_MESSAGE, (user.id, room.id, seq))
        conn.execute(SQL_EMPTY_EDITS, (room.id, seq))
        conn.execute(SQL_DELETE_VERSIONS, (room.id, seq))
        conn.execute(SQL_DELETE_REACTIONS, (room.id, seq))
        conn.execute(SQL_DELETE_FILES, (room.id, seq))
        conn.execute(SQL_DELETE_PREVIEW, (room.id, seq))
        conn.execute(SQL_DELETE_PREVIEW_JOBS, (room.id, seq))
        forget_mentions(conn, room.id, seq)
        if target["thread_seq"] is not None:
            uncount_reply(conn, room.id, target["thread_seq"])
        return _Change(KIND_DELETE, "", "")

    return _write_event(conn, room, user, seq, client_id, (KIND_DELETE,), apply)


def remove_preview(
    conn: Connection, room: Room, user: User, seq: int, client_id: str | None = None
) -> Event:
    """The author of message `seq` removes its link preview (docs/files.md): the
    link_previews row goes, and a `preview_remove` event (a `link_preview` frame
    with `"preview": null`) tells every reader. ChatError('forbidden') for
    anyone but the author, ('not_found') when the message has no preview."""

    def apply(target: dict, _owner_id: int | None) -> _Change:
        if target["user_id"] != user.id:
            raise ChatError("forbidden", "only its author can remove a message's preview")
        if not conn.execute(SQL_DELETE_PREVIEW, (room.id, seq)).rowcount:
            raise ChatError("not_found", f"message {seq} has no link preview")
        return _Change(KIND_PREVIEW_REMOVE)

    return _write_event(conn, room, user, seq, client_id, (KIND_PREVIEW_REMOVE,), apply)


def toggle_reaction(
    conn: Connection, room: Room, user: User, seq: int, emoji: str, client_id: str | None = None
) -> Event:
    """Add the user's `emoji` reaction to message `seq`, or take it away if it is
    there; Event.on says which.

    The emoji is stored, compared and announced in its canonical form
    (chat/domain/reactions.py): ❤ toggles off a ❤️ given earlier. Callers from the
    surface pass validate.validate_emoji's answer, already canonical.
    """
    emoji = reactions.canonical(emoji)

    def apply(_target: dict, _owner_id: int | None) -> _Change:
        key = (room.id, seq, user.id, emoji)
        if conn.execute(SQL_REMOVE_REACTION, key).rowcount:
            return _Change(KIND_REACTION_REMOVE, emoji)
        held = conn.execute(SQL_REACTIONS_OF_USER, key[:3]).fetchone()["n"]
        if held >= MAX_REACTIONS_PER_USER:
            raise ChatError(
                "too_many_reactions",
                f"at most {MAX_REACTIONS_PER_USER} different reactions per message",
            )
        conn.execute(SQL_ADD_REACTION, key)
        return _Change(KIND_REACTION_ADD, emoji)

    return _write_event(conn, room, user, seq, client_id, _REACTIONS, apply, emoji)


# --- the steps every event shares ---------------------------------------------


class _Repeat(Exception):  # noqa: N818 - control flow, not an error
    """The client_id was used before: the transaction (its seq bump) is rolled
    back, and the caller gets the first event."""

    def __init__(self, event: Event):
        super().__init__()
        self.event = event


def _write_event(
    conn: Connection,
    room: Room,
    user: User,
    target_seq: int,
    client_id: str | None,
    kinds: tuple[str, ...],
    apply: Callable[[dict, int | None], _Change],
    emoji: str | None = None,
) -> Event:
    """One transaction: the room's next seq, the target checked, `apply` (which
    authorises and changes the target's state), the event row, its NOTIFY."""
    try:
        with conn.transaction():
            row = conn.execute(SQL_NEXT_SEQ, (room.id,)).fetchone()
            seq = row["last_seq"]
            if client_id is not None:
                _check_repeat(conn, room, user, client_id, target_seq, kinds, emoji)
            if row["archived"]:  # read-only: no edit, deletion or reaction either
                raise ChatError("forbidden", f"#{room.name} is archived: it is read-only")
            target = _target(conn, room, target_seq)
            change = apply(target, row["owner_id"])
            created_at = conn.execute(
                SQL_INSERT_EVENT,
                (
                    room.id,
                    seq,
                    user.id,
                    change.content,
                    client_id,
                    change.html,
                    change.kind,
                    target_seq,
                    target["thread_seq"],
                ),
            ).fetchone()["created_at"]
            written = Message(
                seq,
                user.username,
                change.content,
                created_at,
                html=change.html,
                kind=change.kind,
                client_id=client_id,
                target_seq=target_seq,
                thread_seq=target["thread_seq"],
            )
            # Under the name as of the lock (a rename may have come after `room` was read).
            frame = outbound.row_frame(row["name"], written)
            publish_stored(conn, [bus.Stored(room.id, seq, frame, bus.now_ms())])
    except _Repeat as repeat:
        return repeat.event
    metrics.EVENTS.inc()
    on = change.kind == KIND_REACTION_ADD if kinds == _REACTIONS else None
    return Event(seq, target_seq, created_at, duplicate=False, on=on)


def _check_repeat(
    conn: Connection,
    room: Room,
    user: User,
    client_id: str,
    target_seq: int,
    kinds: tuple[str, ...],
    emoji: str | None,
) -> None:
    """Raise _Repeat if this client_id made the same kind of event on the same message
    (for a reaction, with the same emoji); ChatError('bad_frame') if it was used
    for anything else."""
    previous = previous_use(conn, room, user, client_id)
    if previous is None:
        return
    same = previous["kind"] in kinds and previous["target_seq"] == target_seq
    if same and kinds == _REACTIONS:  # toggling 👍 is not toggling 🎉
        same = previous["content"] == emoji
    if not same:
        raise reused_key()
    on = previous["kind"] == KIND_REACTION_ADD if kinds == _REACTIONS else None
    raise _Repeat(Event(previous["seq"], target_seq, previous["created_at"], True, on))


def _target(conn: Connection, room: Room, seq: int) -> dict:
    """The message an event changes; ChatError('not_found') unless it is a live message."""
    target = conn.execute(SQL_TARGET, (room.id, seq)).fetchone()
    if target is None or target["kind"] not in MESSAGE_KINDS or target["deleted_at"] is not None:
        raise ChatError("not_found", f"no message {seq} in {room.name}")
    return target
