"""What a bot is: a slash command, an account, and a function that answers one job.

A bot never touches the chat's state directly. People's commands become rows
in `bot_jobs` (chat/commands.py); the bot's process (chat/bots/runner.py)
claims them and posts each answer through the same send action as people.
A bot only has to say how to read its command's argument and how to answer.
"""

from collections.abc import Callable
from dataclasses import dataclass


class Transient(Exception):
    """A failure worth retrying later (a timeout, a refused connection, a 5xx).

    The message says what went wrong, in words fit for the room.
    """


class BadArgument(Exception):
    """The command's argument cannot be a request (`/stock=` with nothing, or junk)."""


@dataclass(frozen=True)
class Bot:
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
    # The job's argument and the app's config -> the answer posted in the room.
    # Raises Transient for failures worth retrying; anything the bot cannot
    # answer for good (an unknown symbol) is an answer too, saying so.
    answer: Callable[[str, dict], str]
    # The job's argument and why it failed -> what to post after the last attempt.
    failure: Callable[[str, str], str]
    # Checks the app's config at the bot's start; raises SystemExit with a
    # clear message when a setting cannot work. Never run by the web workers.
    check: Callable[[dict], None] = lambda config: None

    def queued(self, argument: str) -> str:
        """What the sender is told while the job waits for the bot."""
        return f"Asked {self.username} about {argument}; the answer will appear in this room."
