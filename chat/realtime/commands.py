"""Slash commands, read when a message is sent: `/me waves`, `/stock=AAPL`, `/help`.

Every send path (the socket, the JSON API, the HTML form) parses the text with
`parse`, then hands the result to `dispatch`: plain text and `/me` actions are
stored as messages; `/help` is answered to the sender only and stores nothing;
a bot's command becomes a job for that bot (chat/bots), whose answer arrives
in the room later. An unknown or malformed command is refused with a
ChatError (`unknown_command`, `bad_command`) and changes nothing.
"""

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from psycopg import Connection

from chat import actions, bots
from chat.domain.entities import Room, User
from chat.domain.errors import ChatError
from chat.domain.kinds import KIND_ACTION, KIND_CHAT
from chat.domain.render import mentioned, render
from chat.domain.threads import NO_REPLY, ReplyTo
from chat.storage import queries

# A slash and a letter start a command ("/ hi" and "/2" are text) ...
_LOOKS_LIKE_COMMAND = re.compile(r"/[A-Za-z]")
# ... which is "/name", then nothing, or "=" or whitespace and the argument.
_COMMAND = re.compile(r"/([A-Za-z][A-Za-z0-9_-]*)(?:[=\s](.*))?\Z", re.DOTALL)
# Longest command name quoted back in an error.
_NAME_SHOWN = 30


@dataclass(frozen=True)
class Text:
    """An ordinary message (`//text` arrives here as `/text`)."""

    content: str


@dataclass(frozen=True)
class Action:
    """`/me waves`: stored as an action message with the content `waves`."""

    content: str


@dataclass(frozen=True)
class Help:
    """`/help`: answered to the sender only, nothing stored."""


@dataclass(frozen=True)
class BotRequest:
    """`/stock=AAPL`: a job for the bot, with its argument already normalised."""

    bot: bots.Bot
    argument: str


Command = Text | Action | Help | BotRequest


@dataclass(frozen=True)
class Notice:
    """An answer for the sender only: `help` or `queued`."""

    code: str
    content: str


@dataclass(frozen=True)
class Outcome:
    """What a send did: stored a message (`sent`), or told the sender something."""

    sent: actions.Sent | None = None
    notice: Notice | None = None
    duplicate: bool = False
    # People the message mentions who are not members of the room (their
    # usernames): the sender is told, and may add them.
    absent: tuple[str, ...] = ()


def parse(content: str) -> Command:
    """Read one (validated) message text into the command it is (Text for plain text).

    Raises ChatError: `unknown_command` for a name no command has, `bad_command`
    for a missing or invalid argument.
    """
    if content.startswith("//"):
        return Text(content[1:])
    if not _LOOKS_LIKE_COMMAND.match(content):
        return Text(content)
    match = _COMMAND.match(content)
    if match is None:  # "/usr/bin is full": not a name we could know
        raise _unknown(content[1:].split(None, 1)[0])
    name, argument = match.group(1).lower(), (match.group(2) or "").strip()
    if name == "me":
        if not argument:
            raise ChatError("bad_command", "say what you do, like /me waves")
        return Action(argument)
    if name == "help":
        return Help()
    bot = bots.by_command(name)
    if bot is None:
        raise _unknown(match.group(1))
    try:
        return BotRequest(bot, bot.parse(argument))
    except bots.BadArgument as exc:
        raise ChatError("bad_command", f"/{name}: {exc}") from None


def _unknown(name: str) -> ChatError:
    return ChatError(
        "unknown_command",
        f"unknown command /{name[:_NAME_SHOWN]}: /help lists the commands; "
        "start with // to send a message that begins with /",
    )


def help_text() -> str:
    lines = [
        "Commands (only you see this):",
        "/me ACTION: say what you are doing, e.g. /me waves",
        *(bot.usage for bot in bots.BOTS),
        "/help: this list",
        "Start a message with // to send text that begins with /.",
    ]
    return "\n".join(lines)


def dispatch(
    command: Command,
    room: Room,
    user: User,
    client_id: str | None,
    connect: Callable[[], AbstractContextManager[Connection]],
    writer=None,
    files: tuple[str, ...] = (),
    reply: ReplyTo = NO_REPLY,
) -> Outcome:
    """Carry out a parsed command for `user` in `room`; what it did as an Outcome.

    `reply` places the message in a thread or makes it a quote-reply (a bot's
    command cannot be: its answer goes to the room). `connect()` gives a
    database connection when one is needed. Messages go
    through `writer` (chat/realtime/writer.py) when given, else in a
    transaction of their own. Raises ChatError as the action does (a
    client_id used for something else: `bad_frame`; too many requests waiting
    for bots: `too_many_requests`).
    """
    if files and not isinstance(command, Text | Action):
        raise ChatError("bad_request", "files go with a message, not with a command")
    if isinstance(command, Help):
        return Outcome(notice=Notice("help", help_text()))
    if reply and isinstance(command, BotRequest):
        raise ChatError("bad_request", "a bot answers in the room: send its command there")
    if room.archived:
        raise ChatError("forbidden", f"#{room.name} is archived: it is read-only")
    kind = KIND_ACTION if isinstance(command, Action) else KIND_CHAT
    if writer is not None and not isinstance(command, BotRequest):
        sent = writer.send(room, user, command.content, client_id, kind, files, reply)
    else:
        with connect() as conn:
            if isinstance(command, BotRequest):
                queued = actions.enqueue_job(
                    conn, room, user, command.bot.name, command.argument, client_id
                )
                notice = Notice("queued", command.bot.queued(command.argument))
                return Outcome(notice=notice, duplicate=queued.duplicate)
            sent = actions.send_message(
                conn, room, user, command.content, client_id, kind, files, reply=reply
            )
    absent: tuple[str, ...] = ()
    if not sent.duplicate and "@" in command.content and not room.is_direct:
        names = mentioned(render(command.content))
        if names:
            with connect() as conn:
                absent = tuple(queries.non_members(conn, room.id, user.id, names))
    return Outcome(sent=sent, duplicate=sent.duplicate, absent=absent)
