"""Rules about people's accounts that hold on every path (forms, API, CLI)."""

import re

# 1-32 letters, digits, '_', '.' or '-', not starting with '.' or '-'.
USERNAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\Z")

# The bots' accounts (chat/bots) are created by the bots at their start; until
# then nobody may register these names and be taken for a bot. chat/bots
# refuses to load a bot whose username is missing here.
RESERVED_USERNAMES = frozenset({"stockbot"})


# A login session keeps the User-Agent it was opened with, to tell a person's
# devices apart on the settings page; real ones are 100-200 characters, and
# anything past this says nothing more about the device.
USER_AGENT_MAX = 256


def clean_user_agent(raw: str | None) -> str | None:
    """A User-Agent header as stored with a session: printable characters only
    (it is a header anyone can write), at most USER_AGENT_MAX; None if nothing is left."""
    if not raw:
        return None
    kept = "".join(c for c in raw if c.isprintable())[:USER_AGENT_MAX].strip()
    return kept or None


# (token in the User-Agent, what people call it), first match wins: Edge and
# Opera also say "Chrome", Chrome also says "Safari", so the specific come first.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("HeadlessChrome/", "Headless Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("CriOS/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-requests/", "Python requests"),
    ("python-httpx/", "Python httpx"),
    ("websocat", "websocat"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def device_label(user_agent: str | None) -> str:
    """What a session's User-Agent says in words: "Firefox on Linux", "curl",
    "Unknown browser"."""
    ua = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in ua), None)
    system = next((name for token, name in _SYSTEMS if token in ua), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "Unknown browser")
