"""Outgoing webhooks' rules (docs/webhooks.md "Outgoing webhooks"): what a new
webhook may be, which messages it is sent, what it is sent, and the signature.

Plain Python, so that the same rules hold wherever they are applied: the send
path matches messages with `match`, the workers build the body with
`payload` and sign it with `signature`, and `verify` is the receiver's side
(docs/webhooks.md shows it standalone, and the tests run that copy).

Matching follows Slack's outgoing webhooks: a trigger word is the message's
first word (compared without regard to case), and besides trigger words a
mention of the webhook's bot user (`@deploybot`) matches anywhere in the
text. A webhook without trigger words is sent only the messages that
mention it (Slack's "every message in the channel" is left out: a room's
whole traffic leaving the server is not something one member should decide).
"""

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from chat.domain.errors import ChatError
from chat.domain.text import unstorable
from chat.domain.users import RESERVED_USERNAMES, USERNAME_RE

# A URL of any real receiver fits (Slack's and GitHub's are under 200
# characters); more is a mistake or an attempt to store a payload in it.
URL_MAX = 2000
# Slack's form allows a handful; ten covers a command set like !deploy !status
# !rollback ... while keeping a room's matching a short loop.
TRIGGER_WORDS_MAX = 10
# A word, not a sentence: commands and bot names are short.
TRIGGER_WORD_MAX = 32
# Outgoing webhooks one room may have: each is a bot member and a POST per
# matching message; more than this is a room whose traffic is mostly leaving.
WEBHOOKS_PER_ROOM_MAX = 10
# The signing secret: 32 random bytes (256 bits, HMAC-SHA256's block-size
# worth of key is not needed; its output size is), sent as 64 hex characters.
SECRET_BYTES = 32
# The signature scheme's version, the prefix of X-Chat-Signature's value: a
# receiver can accept a v2 beside v1 if the scheme ever changes.
SIGNATURE_VERSION = "v1"
# How far a receiver should accept X-Chat-Timestamp from its own clock: a
# captured request replayed later than this is refused (Slack advises 5 minutes).
REPLAY_WINDOW = 300


@dataclass(frozen=True, slots=True)
class Match:
    """Why a message goes to a webhook: the trigger word it starts with (as the
    webhook stores it), or None when it mentions the webhook's bot user."""

    trigger_word: str | None


def first_word(text: str) -> str:
    """The text's first white-space-separated word, "" for a blank text."""
    words = text.split(maxsplit=1)
    return words[0] if words else ""


def match(
    text: str, mentioned: Collection[str], trigger_words: Sequence[str], bot_name: str
) -> Match | None:
    """Whether a message goes to a webhook: its text starting with one of the
    `trigger_words` (its first word, compared case-folded), else its
    `mentioned` usernames (lower case, as render.mentioned gives them)
    naming the webhook's `bot_name`; None if neither. A trigger word wins
    over a mention (the receiver learns which word it was)."""
    word = first_word(text).casefold()
    if word:
        for trigger in trigger_words:
            if trigger.casefold() == word:
                return Match(trigger)
    if bot_name.lower() in mentioned:
        return Match(None)
    return None


# --- a new webhook's fields -------------------------------------------------------------


def validate_url(value: object) -> str:
    """The receiver's URL as given, if it is a string of at most URL_MAX
    characters starting with https:// (the guard reads it strictly later:
    chat/bots/egress). Raises ChatError('bad_request') saying what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise ChatError("bad_request", "url: the receiver's https:// address")
    url = value.strip()
    if len(url) > URL_MAX:
        raise ChatError("bad_request", f"url: at most {URL_MAX} characters")
    if not url.lower().startswith("https://"):
        raise ChatError("bad_request", "url: must start with https:// (plain http is refused)")
    return url


def validate_trigger_words(value: object) -> tuple[str, ...]:
    """Trigger words as stored: a list of words, or one string of words separated
    by commas or spaces (a form's field); each 1 to TRIGGER_WORD_MAX characters
    without white space, not starting with "/" (a slash command is never
    stored), NFC, at most TRIGGER_WORDS_MAX of them as given, repeats (by
    case-folding) dropped, in the order given. None or "" is no trigger words.
    Raises ChatError('bad_request') otherwise."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        raise ChatError("bad_request", "trigger_words: a list of words")
    if len(value) > TRIGGER_WORDS_MAX:  # as given: repeats count too
        raise ChatError("bad_request", f"trigger_words: at most {TRIGGER_WORDS_MAX}")
    words: dict[str, str] = {}
    for raw in value:
        word = unicodedata.normalize("NFC", raw)
        if not word or len(word) > TRIGGER_WORD_MAX or word != first_word(word):
            raise ChatError(
                "bad_request",
                f"trigger_words: each is one word of 1 to {TRIGGER_WORD_MAX} characters",
            )
        if word.startswith("/"):
            raise ChatError(
                "bad_request",
                f"trigger_words: {word} is a slash command: it is never sent as a message",
            )
        reason = unstorable(word) or (
            "control characters" if any(unicodedata.category(c) == "Cc" for c in word) else None
        )
        if reason is not None:
            raise ChatError("bad_request", f"trigger_words: {reason}")
        words.setdefault(word.casefold(), word)
    if len(words) > TRIGGER_WORDS_MAX:
        raise ChatError("bad_request", f"trigger_words: at most {TRIGGER_WORDS_MAX}")
    return tuple(words.values())


def validate_bot_name(value: object) -> str:
    """The username of the webhook's bot account: a username's rule (1-32
    letters, digits, `_`, `.`, `-`), not a reserved one. Raises
    ChatError('bad_request')."""
    if not isinstance(value, str) or not USERNAME_RE.match(value.strip()):
        raise ChatError(
            "bad_request",
            "name: the bot's username, 1 to 32 letters, digits, '_', '.' or '-'",
        )
    name = value.strip()
    if name.lower() in RESERVED_USERNAMES:
        raise ChatError("taken", f"name: {name!r} is reserved")
    return name


# --- what is sent, and the signature --------------------------------------------------


def payload(
    *,
    webhook_id: int,
    delivery_id: str,
    room: str,
    seq: int,
    thread_seq: int | None,
    user_id: int,
    username: str,
    display_name: str | None,
    text: str,
    trigger_word: str | None,
    timestamp: str,
) -> dict:
    """The JSON body of a delivery (docs/webhooks.md "The payload"): ours, plus
    Slack's outgoing-webhook names (channel_name, user_name, user_id, text,
    trigger_word, timestamp) where they mean the same, so receivers written
    for Slack read it."""
    return {
        "webhook_id": webhook_id,
        "delivery_id": delivery_id,
        "room": room,
        "channel_name": room,
        "seq": seq,
        "thread_seq": thread_seq,
        "user": {"id": user_id, "username": username, "display_name": display_name},
        "user_id": user_id,
        "user_name": username,
        "text": text,
        "trigger_word": trigger_word,
        "timestamp": timestamp,
    }


def signed_text(timestamp: int, body: bytes) -> bytes:
    """What the signature covers: the timestamp (decimal), a dot, the body's bytes."""
    return b"%d." % timestamp + body


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """X-Chat-Signature's value: `v1=` and the hex HMAC-SHA256 of signed_text
    under the secret (its text's UTF-8 bytes, as a receiver has it)."""
    mac = hmac.new(secret.encode(), signed_text(timestamp, body), hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(
    secret: str, timestamp: str, signed: str, body: bytes, now: float, window: int = REPLAY_WINDOW
) -> bool:
    """The receiver's check: the X-Chat-Timestamp header (`timestamp`) is a
    number within `window` seconds of `now` (Unix time), and the
    X-Chat-Signature header (`signed`) is the signature of it and the body,
    compared in constant time."""
    if not timestamp.isascii() or not timestamp.isdigit() or abs(now - int(timestamp)) > window:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), signed)


def reply_text(content_type: str, body: bytes) -> str | None:
    """The text a receiver's 2xx answer asks to post (Slack's `{"text": "..."}`),
    or None: not JSON, not an object, no non-blank string `text`."""
    if content_type != "application/json" or not body:
        return None
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    text = answer.get("text") if isinstance(answer, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    return text
