"""Incoming webhooks (docs/webhooks.md): made, used and revoked.

An incoming webhook is a secret URL that posts into one room. Each has its
own bot account (users.is_bot, no password, its display name the webhook's
name), made a member of the room by whoever made the webhook, so its messages
go through the same send path, limits and membership rules as anyone's, and
the room's history says who added it. The secret is shown once; only its
SHA-256 is kept (like API tokens': 256 random bits need no slow hash).
Revoking deletes the row, takes the bot out of the room and disables its
account; its messages stay.
"""

import re
import secrets
import unicodedata
from dataclasses import dataclass

from psycopg import Connection

from chat.actions.accounts import disable_user, hash_token, set_display_name
from chat.actions.rooms import add_member, take_out
from chat.domain.entities import IncomingWebhook, Room, User
from chat.domain.errors import ChatError
from chat.storage import queries

# Enough for every tool a team points at one room; the cap keeps a runaway
# script from filling the room's member list with bots.
MAX_INCOMING_PER_ROOM = 20
# A bot's username: its webhook's name in ASCII letters, digits and dashes,
# and a random suffix, since names repeat across rooms ("alerts-3fa9c1").
_NOT_IN_USERNAME = re.compile(r"[^a-z0-9]+")
_USERNAME_STEM = 20

SQL_COUNT_INCOMING = "SELECT count(*) AS n FROM incoming_webhooks WHERE room_id = %s"
SQL_INSERT_BOT = """
    INSERT INTO users (username, password_hash, is_bot, display_name)
    VALUES (%s, '!', true, %s)
    ON CONFLICT DO NOTHING
    RETURNING id, username
"""
SQL_INSERT_INCOMING = """
    INSERT INTO incoming_webhooks (room_id, user_id, name, token_hash, created_by)
    VALUES (%s, %s, %s, %s, %s)
    RETURNING id, created_at, last_used_at
"""
# The webhook of a secret, its room and its bot, found and its use noted in one
# statement (the room's row as queries reads rooms).
# The webhook of a secret, its room and its bot (the room's row as queries
# reads rooms).
SQL_INCOMING_BY_TOKEN = """
    SELECT w.id AS webhook_id, b.id AS user_id, b.username, b.display_name,
           r.id, r.name, r.is_private, r.is_direct, r.created_by, r.last_seq, r.topic,
           r.archived_at
    FROM incoming_webhooks w JOIN users b ON b.id = w.user_id JOIN rooms r ON r.id = w.room_id
    WHERE w.token_hash = %s
"""
SQL_NOTE_INCOMING_USE = "UPDATE incoming_webhooks SET last_used_at = now() WHERE id = %s"
SQL_DELETE_INCOMING = """
    DELETE FROM incoming_webhooks w USING users b
    WHERE w.id = %s AND w.room_id = %s AND b.id = w.user_id
    RETURNING w.user_id, b.username, w.name, w.created_by
"""


@dataclass(frozen=True, slots=True)
class NewIncoming:
    """An incoming webhook just made: `token` is its secret (the last part of
    its URL), shown to its maker once; `listing` is how it is listed from now on."""

    token: str
    listing: IncomingWebhook


@dataclass(frozen=True, slots=True)
class IncomingUse:
    """Who posts for a webhook, and where: its Room (as of this read), its bot
    (a User) and the bot's display name."""

    webhook_id: int
    room: Room
    bot: User
    display_name: str | None


def create_incoming(conn: Connection, room: Room, creator: User, name: str) -> NewIncoming:
    """Make an incoming webhook for the room, named `name` (already valid:
    validate.validate_webhook_name; not a person's name), its bot added to the
    room by `creator`. ChatError('bad_request') for a person's username or
    display name, ('forbidden') for a direct room, an archived one or a creator who
    is not a member; ('too_many_webhooks') past MAX_INCOMING_PER_ROOM."""
    if room.is_direct:
        raise ChatError("forbidden", "a direct conversation has exactly two people: no webhooks")
    token = "hook_" + secrets.token_urlsafe(32)
    with conn.transaction():
        _not_a_persons(conn, name, "name")
        if conn.execute(SQL_COUNT_INCOMING, (room.id,)).fetchone()["n"] >= MAX_INCOMING_PER_ROOM:
            raise ChatError(
                "too_many_webhooks",
                f"#{room.name} has {MAX_INCOMING_PER_ROOM} incoming webhooks, the most a room "
                "may have: revoke one it no longer uses first.",
            )
        bot = _new_bot(conn, name)
        add_member(conn, room, creator, bot.username, webhook_bot=True)
        row = conn.execute(
            SQL_INSERT_INCOMING, (room.id, bot.id, name, hash_token(token), creator.id)
        ).fetchone()
    listing = IncomingWebhook(
        row["id"], name, bot.username, creator.username, row["created_at"], None
    )
    return NewIncoming(token, listing)


def _new_bot(conn: Connection, name: str) -> User:
    """A new bot account for a webhook named `name` (its display name)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem = _NOT_IN_USERNAME.sub("-", ascii_name.lower()).strip("-")[:_USERNAME_STEM].strip("-")
    while True:  # a suffix taken already (one in 16 million) draws again
        username = f"{stem or 'webhook'}-{secrets.token_hex(3)}"
        row = conn.execute(SQL_INSERT_BOT, (username, name)).fetchone()
        if row is not None:
            return User.from_row(row)


def use_incoming(conn: Connection, token: str) -> IncomingUse | None:
    """The webhook whose secret is `token`; None for a secret that is not (or
    no longer) one. Its use is noted once it has posted (note_incoming_use)."""
    row = conn.execute(SQL_INCOMING_BY_TOKEN, (hash_token(token),)).fetchone()
    if row is None:
        return None
    bot = User(row["user_id"], row["username"])
    return IncomingUse(row["webhook_id"], Room.from_row(row), bot, row["display_name"])


def note_incoming_use(conn: Connection, use: IncomingUse) -> None:
    """The webhook posted: its last_used_at is now."""
    conn.execute(SQL_NOTE_INCOMING_USE, (use.webhook_id,))


def rename_incoming_bot(conn: Connection, use: IncomingUse, display_name: str) -> None:
    """Show the webhook's bot as `display_name` (a body's `username`, already
    valid) from now on: its messages, past ones too, show under its current name.
    ChatError('bad_request') for a person's username or display name: a bot
    must not pass for someone."""
    if display_name != use.display_name:
        _not_a_persons(conn, display_name, "username")
        set_display_name(conn, use.bot.id, display_name)


def _not_a_persons(conn: Connection, name: str, field: str) -> None:
    person = queries.person_named(conn, name)
    if person is not None:
        raise ChatError(
            "bad_request", f"{field}: {name!r} is {person}'s name; a webhook's bot needs its own"
        )


def revoke_incoming(conn: Connection, room: Room, actor: User, webhook_id: int) -> str:
    """Revoke one of the room's incoming webhooks: its URL stops working, its
    bot leaves the room (a remove event by `actor`) and its account is
    disabled; its name. Only the webhook's maker or the room's creator may:
    ChatError('forbidden') otherwise, ('not_found') for no such webhook in the
    room."""
    with conn.transaction():
        row = conn.execute(SQL_DELETE_INCOMING, (webhook_id, room.id)).fetchone()
        if row is None:
            raise ChatError("not_found", f"#{room.name} has no incoming webhook {webhook_id}")
        if actor.id not in (row["created_by"], room.created_by):
            raise ChatError(
                "forbidden", "only whoever made a webhook, or the room's creator, can revoke it"
            )
        bot = User(row["user_id"], row["username"])
        take_out(conn, room, actor, bot)
        disable_user(conn, bot.id)
    return row["name"]
