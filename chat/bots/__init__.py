"""Bots: separate processes that answer slash commands through the job queue.

Each bot is a `Bot` (chat/bots/bot.py) listed in BOTS; `flask --app app
<name>-bot` runs it (chat/cli.py, chat/bots/runner.py). docs/bots.md shows how to add one.
"""

from chat.bots import stock
from chat.bots.bot import BadArgument, Bot, Failed, Transient
from chat.domain.users import RESERVED_USERNAMES

__all__ = [
    "BOTS",
    "BOT_USERNAMES",
    "BadArgument",
    "Bot",
    "Failed",
    "Transient",
    "by_command",
]

BOTS: tuple[Bot, ...] = (stock.BOT,)
BOT_USERNAMES = frozenset(bot.username.lower() for bot in BOTS)
if not BOT_USERNAMES <= RESERVED_USERNAMES:
    # Until a bot first starts, anyone could register its name and be taken for it.
    raise RuntimeError(f"add {sorted(BOT_USERNAMES - RESERVED_USERNAMES)} to RESERVED_USERNAMES")
_BY_COMMAND = {bot.command: bot for bot in BOTS}


def by_command(command: str) -> Bot | None:
    """The bot that answers /command, if any."""
    return _BY_COMMAND.get(command)
