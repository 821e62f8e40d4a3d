"""What a bot is: a slash command, an account, and a function that answers one job.

A bot never touches the chat's state directly. People's commands become rows
in `bot_jobs` (chat/realtime/commands.py); the bot's process (chat/bots/runner.py)
claims them and posts each answer through the same send action as people.
A bot only has to say how to read its command's argument and how to answer;
the runner says who asked, retries, and words the failures.
"""

from collections.abc import Callable
from dataclasses import dataclass


class BotFailure(Exception):
    """A request the bot could not answer, said three ways for three readers.

    `reason` is for the room: a clause a person understands, naming no errno,
    exception, URL or status number ("the quote service could not be reached").
    `cause` is for the bot's log, which people's words must never reach: what
    kind of thing went wrong and where, built only from words the request did
    not bring (a status, an errno, the service's host: "HTTP 500 Internal
    Server Error from stooq.com"), never the job's argument, a URL's path or
    query, or what the service sent. `detail` is for the job's row
    (bot_jobs.last_error), which holds the argument anyway: everything that
    helps find out why (the URL, what the service sent).
    """

    def __init__(self, reason: str, detail: str = "", cause: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.cause = cause


class Transient(BotFailure):
    """A failure worth retrying later (a timeout, an unreachable service, a 5xx)."""


class Failed(BotFailure):
    """A failure that retrying will not mend (a 404, an answer that is not a quote)."""


class BadArgument(Exception):
    """The command's argument cannot be a request (`/stock=` with nothing, or junk)."""


@dataclass(frozen=True)
class Bot:
    """A bot's definition: its queue, the command it answers, the account it posts
    as, its /help line, how it reads the argument and how it answers (a job
    runs `answer`, in chat/bots/runner.py's process, never in a web worker)."""

    # The queue name in bot_jobs.bot and the NOTIFY payload; `flask --app app
    # <name>-bot` runs it.
    name: str
    # The slash command people type, without the slash: "stock" for /stock=AAPL.
    command: str
    # The account its answers are posted as (created at the bot's start).
    username: str
    # One line for /help, e.g. "/stock=SYMBOL: ...".
    usage: str
    # The command's argument as typed -> the job's argument (normalised);
    # raises BadArgument with a message for the sender.
    parse: Callable[[str], str]
    # The job's argument and the app's config -> the answer, which the room reads
    # after "<who> asked for <argument>: " (see `reply`). Anything the bot cannot
    # answer for good but that is an answer (an unknown symbol) is returned too,
    # saying so. Raises Transient for failures worth retrying, Failed for the rest.
    answer: Callable[[str, dict], str]
    # Checks the app's config at the bot's start; raises SystemExit with a
    # clear message when a setting cannot work. Never run by the web workers.
    check: Callable[[dict], None] = lambda config: None

    def queued(self, argument: str) -> str:
        """What the sender is told while the job waits for the bot."""
        return f"Asked {self.username} about {argument}; the answer will appear in this room."

    def reply(self, requester: str, argument: str, text: str) -> str:
        """The message posted in the room: who asked, what for, and the answer.

        The request itself is never a message (chat/realtime/commands.py), so the answer
        says what it answers.
        """
        return f"{requester} asked for {argument}: {text}"
