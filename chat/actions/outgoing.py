"""Outgoing webhooks (docs/webhooks.md "Outgoing webhooks"): made and deleted by
a room's members, their delivery status, and a receiver's reply posted back.

A webhook's identity is a bot account of its own (`users.is_bot`, no
password), made with the webhook and added to the room by the member who
made it: the room sees "eren added deploybot", the bot is listed among the
members, `@deploybot` completes and is recorded as a mention, and its
replies are messages of a member like any other. Deleting the webhook takes
the bot out of the room and disables its account (its name stays taken, so
its past messages never seem to come from someone else).

The signing secret is made here (secrets.token_hex) and returned once, to
the member who made the webhook: like GitHub (a webhook's secret is
write-only once saved) and unlike Slack's legacy outgoing webhooks (whose
token anyone who can open the integration sees). A room's members can all
list and delete its webhooks, but a secret shown to all of them would let
any of them sign requests the receiver takes for the server's; a lost
secret is replaced by deleting the webhook and making another.
"""

import secrets
from dataclasses import dataclass

from psycopg import Connection

from chat.actions.jobs import NO_PASSWORD
from chat.actions.messages import Sent, send_message
from chat.actions.rooms import add_member, leave
from chat.actions.work import finish_work, lock_work
from chat.domain import outgoing
from chat.domain.entities import Room, User
from chat.domain.errors import ChatError
from chat.domain.threads import NO_REPLY, ReplyTo
from chat.storage import queries

SQL_COUNT_LIVE = """
    SELECT count(*) AS n FROM outgoing_webhooks WHERE room_id = %s AND deleted_at IS NULL
"""
SQL_INSERT_BOT = """
    INSERT INTO users (username, password_hash, is_bot) VALUES (%s, %s, true)
    ON CONFLICT DO NOTHING
    RETURNING id, username
"""
# Both move the room's count of live webhooks (migration 0023), which the send
# path reads to know whether to look for webhooks at all.
SQL_INSERT_WEBHOOK = """
    WITH made AS (
        INSERT INTO outgoing_webhooks
            (room_id, bot_user_id, url, trigger_words, secret, created_by)
        VALUES (%s, %s, %s, %s, %s, %s)
        RETURNING id, room_id, created_at
    ), counted AS (
        UPDATE rooms SET outgoing_webhooks = outgoing_webhooks + 1
        FROM made WHERE rooms.id = made.room_id
    )
    SELECT id, created_at FROM made
"""
SQL_DELETE_WEBHOOK = """
    WITH gone AS (
        UPDATE outgoing_webhooks SET deleted_at = now()
        WHERE id = %s AND room_id = %s AND deleted_at IS NULL
        RETURNING room_id, bot_user_id
    ), counted AS (
        UPDATE rooms SET outgoing_webhooks = outgoing_webhooks - 1
        FROM gone WHERE rooms.id = gone.room_id
    )
    SELECT bot_user_id FROM gone
"""
SQL_DISABLE_BOT = "UPDATE users SET disabled_at = now() WHERE id = %s RETURNING id, username"
SQL_RECORD_DELIVERY = """
    UPDATE outgoing_webhooks SET last_status = %s, last_delivery_at = now() WHERE id = %s
"""


@dataclass(frozen=True)
class Created:
    """A new webhook: its id, its bot's username, and its signing secret (shown once)."""

    id: int
    bot_name: str
    secret: str


def create_webhook(
    conn: Connection,
    room: Room,
    actor: User,
    bot_name: str,
    url: str,
    trigger_words: tuple[str, ...],
) -> Created:
    """Make an outgoing webhook of `room`, by `actor` (a member): its bot account
    `bot_name` (a new account: ChatError('taken') if the name has one), added
    to the room by the actor (an `add` event), and its secret, in one
    transaction. `url` and `trigger_words` as chat/domain/outgoing.py
    validates them (the caller also checks the URL against the outbound
    guard). ChatError('forbidden') for a non-member, a direct or archived
    room; ('too_many_webhooks') past WEBHOOKS_PER_ROOM_MAX."""
    if room.is_direct:
        raise ChatError("forbidden", "a direct conversation has no webhooks")
    with conn.transaction():
        if not queries.is_member(conn, room.id, actor.id):
            raise ChatError("forbidden", f"only members of #{room.name} can add webhooks")
        if conn.execute(SQL_COUNT_LIVE, (room.id,)).fetchone()["n"] >= (
            outgoing.WEBHOOKS_PER_ROOM_MAX
        ):
            raise ChatError(
                "too_many_webhooks",
                f"#{room.name} has {outgoing.WEBHOOKS_PER_ROOM_MAX} outgoing webhooks, the most "
                "a room may have: delete one it no longer uses first.",
            )
        bot = conn.execute(SQL_INSERT_BOT, (bot_name, NO_PASSWORD)).fetchone()
        if bot is None:
            raise ChatError("taken", f"name: the username {bot_name!r} is taken")
        # The add event takes the room's row lock: from here every send of the
        # room is either before the webhook (not matched) or after it (matched).
        add_member(conn, room, actor, bot["username"], webhook_bot=True)
        secret = secrets.token_hex(outgoing.SECRET_BYTES)
        row = conn.execute(
            SQL_INSERT_WEBHOOK,
            (room.id, bot["id"], url, list(trigger_words), secret, actor.id),
        ).fetchone()
    return Created(row["id"], bot["username"], secret)


def delete_webhook(conn: Connection, room: Room, actor: User, webhook_id: int) -> str:
    """Delete one of the room's webhooks, by any member (anyone who sees the
    room's messages leave can stop it): it matches nothing from its commit,
    its queued deliveries are dropped by the workers, its bot leaves the room
    and is disabled. The bot's username. ChatError('not_found') for no such
    live webhook in the room, ('forbidden') for a non-member."""
    with conn.transaction():
        if not queries.is_member(conn, room.id, actor.id):
            raise ChatError("forbidden", f"only members of #{room.name} can delete webhooks")
        row = conn.execute(SQL_DELETE_WEBHOOK, (webhook_id, room.id)).fetchone()
        if row is None:
            raise ChatError("not_found", f"#{room.name} has no outgoing webhook {webhook_id}")
        bot = User.from_row(conn.execute(SQL_DISABLE_BOT, (row["bot_user_id"],)).fetchone())
        if queries.is_member(conn, room.id, bot.id):
            leave(conn, room, bot)
    return bot.username


def record_delivery(conn: Connection, webhook_id: int, status: str) -> None:
    """Note how a delivery attempt went ("200", "HTTP 500 ...", "refused: ...")
    as the webhook's last status, now. Its own transaction (or the caller's)."""
    with conn.transaction():
        conn.execute(SQL_RECORD_DELIVERY, (status, webhook_id))


def reply_client_id(job_id: int) -> str:
    """The client_id of a delivery's reply: one per job, so a job run twice (a
    worker whose claim ran out, a retry after a lost commit) posts once."""
    return f"webhook-job-{job_id}"


class _Finished(Exception):
    """The job was finished by another worker: the reply's transaction rolls back."""


def post_reply(
    conn: Connection,
    job_id: int,
    webhook_id: int,
    room: Room,
    bot: User,
    text: str,
    thread_seq: int | None,
    status: str,
) -> Sent | None:
    """Post a receiver's reply in the room as the webhook's bot (in the thread
    `thread_seq` when the message was in one), note `status` as the webhook's
    last, and close the job done, in one transaction. None when the job was
    no longer pending (another worker finished it: nothing is posted). A
    refused send (an archived room, text over the limit) raises its
    ChatError, nothing changed. The room's lock is taken (by the send) before
    the job's, as every writer of a job's result does (chat/actions/work.py)."""
    reply = ReplyTo(thread=thread_seq) if thread_seq is not None else NO_REPLY
    try:
        with conn.transaction():
            sent = send_message(
                conn, room, bot, text, reply_client_id(job_id), joins=False, reply=reply
            )
            if not lock_work(conn, job_id):
                raise _Finished
            finish_work(conn, job_id)
            conn.execute(SQL_RECORD_DELIVERY, (status, webhook_id))
    except _Finished:
        return None
    return sent


def finish_delivery(
    conn: Connection,
    job_id: int,
    webhook_id: int,
    status: str,
    error: str | None = None,
    failed: bool = False,
) -> bool:
    """Close a delivery job (done, or `failed`: given up) with `error` as its
    last_error, and note `status` as the webhook's last, in one transaction;
    False (nothing changed) when the job was no longer pending."""
    with conn.transaction():
        if not lock_work(conn, job_id):
            return False
        finish_work(conn, job_id, error, failed=failed)
        conn.execute(SQL_RECORD_DELIVERY, (status, webhook_id))
    return True
