"""Bots: separate processes that answer slash commands through the job queue.

Each bot is a `Bot` (chat/bots/bot.py) listed in BOTS; `flask --app app
<name>-bot` runs it (chat/bots/runner.py). docs/bots.md shows how to add one.
"""

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import stock
from .bot import BadArgument, Bot, Failed, Transient

__all__ = [
    "BOTS",
    "BOT_USERNAMES",
    "BadArgument",
    "Bot",
    "Failed",
    "Transient",
    "by_command",
    "init_app",
]

BOTS: tuple[Bot, ...] = (stock.BOT,)
# Bot accounts are created by the bots at their start; until then nobody may
# register these names and be taken for the bot.
BOT_USERNAMES = frozenset(bot.username.lower() for bot in BOTS)
_BY_COMMAND = {bot.command: bot for bot in BOTS}


def by_command(command: str) -> Bot | None:
    """The bot that answers /command, if any."""
    return _BY_COMMAND.get(command)


def init_app(app: Flask) -> None:
    """Register `flask --app app <name>-bot` for every bot."""
    for bot in BOTS:
        app.cli.add_command(_run_command(bot))


def _run_command(bot: Bot) -> click.Command:
    @click.command(f"{bot.name}-bot")
    @with_appcontext
    def run() -> None:
        from . import runner

        runner.run_bot(bot, current_app)

    run.help = f"Run the {bot.name} bot: answer /{bot.command} requests until SIGTERM or Ctrl-C."
    return run
