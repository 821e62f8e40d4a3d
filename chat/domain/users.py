"""Rules about people's accounts that hold on every path (forms, API, CLI)."""

import re

# 1-32 letters, digits, '_', '.' or '-', not starting with '.' or '-'.
USERNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\Z")

# The bots' accounts (chat/bots) are created by the bots at their start; until
# then nobody may register these names and be taken for a bot. chat/bots
# refuses to load a bot whose username is missing here.
RESERVED_USERNAMES = frozenset({"stockbot"})
