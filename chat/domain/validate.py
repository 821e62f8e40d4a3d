"""The fields people send, checked the same on every path: a socket's frames
(chat/protocol/inbound.py), the JSON API and the HTML form (chat/web).

Each validator takes what arrived (any JSON value) and returns it as stored, or
raises ChatError (`bad_frame`, or `too_large` for text over the limit).
"""

import re
import unicodedata

from chat.domain import reactions
from chat.domain.errors import ChatError
from chat.domain.files import MAX_FILES_PER_MESSAGE, is_key
from chat.domain.text import is_blank, unstorable
from chat.domain.threads import NO_REPLY, ReplyTo

CLIENT_ID_MAX = 64
ROOM_NAME_MAX = 40
# A room's name (the schema's CHECK on rooms.name). \Z, not $: Python's $ also
# matches before a trailing newline, which the database (rightly) refuses.
ROOM_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}\Z")
# Names of direct rooms (chat/actions/rooms.py direct_room_name): no other room's.
DIRECT_PREFIX = "dm-"


def validate_room_name(value: object) -> str:
    """A new name for a room (creating or renaming one): ROOM_NAME_RE's 1-40
    lowercase letters, digits, '_' or '-', not starting with 'dm-' (direct
    rooms' names). Raises ChatError('bad_request') otherwise."""
    if not isinstance(value, str) or not ROOM_NAME_RE.fullmatch(value):
        raise ChatError("bad_request", "name: 1-40 lowercase letters, digits, '_' or '-'")
    if value.startswith(DIRECT_PREFIX):
        raise ChatError("bad_request", f"name: {DIRECT_PREFIX}... is kept for direct rooms")
    return value


# Far beyond any real room's seq, and within PostgreSQL's bigint: the largest
# seq a client may name, and the upper bound of a seq range that has none.
SEQ_MAX = 2**62
# The schema's limit (reactions.emoji): an emoji sequence (a family, a flag
# with its tags) is a handful of code points; 32 also allows ":party_parrot:".
EMOJI_MAX = 32
# The length of an emoji as sent, before it is made canonical: NFC and the
# emoji lookup run only on texts this long (a frame may hold 65,536 bytes).
# 8 per stored character leaves room for selectors, joiners and decomposed
# accents around each character of a 32-character reaction.
EMOJI_RAW_MAX = 256
# Bidirectional controls are refused, not taken out as other invisible
# characters are: they reorder the text around them, and in a reaction only
# serve to make one text look like another.
_BIDI_CONTROLS = set("\u200e\u200f\u061c") | set(map(chr, range(0x202A, 0x202F)))
_BIDI_CONTROLS |= set(map(chr, range(0x2066, 0x206A)))
# Control, surrogate and private-use characters, spaces and line separators.
_REFUSED_CATEGORIES = {"Cc", "Cs", "Co", "Zs", "Zl", "Zp"}


def validate_client_id(value: object) -> str | None:
    """A client_id: None (not given), or a storable string of 1 to 64 characters.

    Raises ChatError('bad_frame') for anything else.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= CLIENT_ID_MAX:
        raise ChatError("bad_frame", f"client_id must be a string of 1 to {CLIENT_ID_MAX} chars")
    reason = unstorable(value)
    if reason is not None:
        raise ChatError("bad_frame", f"client_id: {reason}")
    return value


def validate_content(value: object, max_chars: int, blank_ok: bool = False) -> str:
    """Message text: a string that is not blank (by Unicode: zero-width and other
    invisible characters are blank too, text.is_blank), storable, and of at most
    max_chars characters (code points). Returns it unchanged; with `blank_ok`
    (a message that carries files) a missing or blank text is "".

    Raises ChatError('too_large') over max_chars, ChatError('bad_frame') otherwise.
    """
    if blank_ok and value is None:
        return ""
    if not isinstance(value, str):
        raise ChatError("bad_frame", "content must be a string")
    reason = unstorable(value)
    if reason is not None:
        raise ChatError("bad_frame", f"content: {reason}")
    if len(value) > max_chars:
        raise ChatError("too_large", f"content is over {max_chars} characters")
    if is_blank(value):
        if blank_ok:
            return ""
        raise ChatError("bad_frame", "content must not be empty")
    return value


def validate_file_keys(value: object) -> tuple[str, ...]:
    """The files a message carries (docs/files.md): None or a list of at most
    MAX_FILES_PER_MESSAGE distinct file keys, as returned by the upload, in the
    order shown. Raises ChatError('bad_frame') for anything else."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_FILES_PER_MESSAGE:
        raise ChatError(
            "bad_frame", f"files must be a list of at most {MAX_FILES_PER_MESSAGE} file ids"
        )
    if not all(is_key(key) for key in value):
        raise ChatError("bad_frame", "files: each must be a file id the upload answered")
    if len(set(value)) != len(value):
        raise ChatError("bad_frame", "files: each file at most once")
    return tuple(value)


def validate_reply_to(fields: dict) -> ReplyTo:
    """Where a message goes (docs/protocol.md, Threads), from a frame's or an API
    body's `thread` (a seq, 1 or more), `also_in_room` (true or false; true only
    with `thread`) and `quote` (a seq); NO_REPLY when none is given. Raises
    ChatError('bad_frame') for anything else."""
    thread, quote = fields.get("thread"), fields.get("quote")
    also = fields.get("also_in_room")
    if also is None:  # left out, like thread and quote
        also = False
    if thread is None and quote is None and also is False:
        return NO_REPLY
    for name, value in (("thread", thread), ("quote", quote)):
        # bool is an int in Python, and 1.0 is a float: neither is a seq.
        if value is not None and (type(value) is not int or not 1 <= value <= SEQ_MAX):
            raise ChatError("bad_frame", f"{name} must be the seq of a message (1 or more)")
    if type(also) is not bool:
        raise ChatError("bad_frame", "also_in_room must be true or false")
    if also and thread is None:
        raise ChatError("bad_frame", "also_in_room goes with a reply in a thread (thread)")
    return ReplyTo(thread, also, quote)


def validate_emoji(value: object) -> str:
    """A reaction, in its canonical form (chat/domain/reactions.py `canonical`): a
    text that shows something, of 1 to 32 characters once canonical, sent as
    at most 256 characters with no spaces, separators, control characters or
    bidirectional controls. Raises ChatError('bad_frame') for anything else.

    Visually identical reactions are one: ❤ and ❤️ both come back as ❤️, a
    letter with a combining accent as the precomposed letter, 👍 with a
    zero-width space or a variation selector after it as 👍. Joiners,
    selectors and tags stay inside the emoji sequences the `emoji` package
    knows, and go everywhere else; a text of nothing but them shows nothing
    and is refused. Every limit but the raw one holds for the canonical form,
    which is what is stored; a second call returns what the first did.
    """
    if not isinstance(value, str):
        raise ChatError("bad_frame", "emoji must be a string")
    if len(value) > EMOJI_RAW_MAX:
        raise ChatError("bad_frame", f"emoji must be at most {EMOJI_RAW_MAX} chars as sent")
    for char in value:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or char in _BIDI_CONTROLS:
            raise ChatError("bad_frame", "emoji must not contain spaces or control characters")
    emoji = reactions.canonical(value)
    if is_blank(emoji):  # "", or U+200B, U+FE0F... alone: canonical takes them out
        raise ChatError("bad_frame", "a reaction must show something")
    if len(emoji) > EMOJI_MAX:  # NFC can lengthen, and so can U+FE0F put in
        raise ChatError("bad_frame", f"emoji must be a string of 1 to {EMOJI_MAX} chars")
    return emoji


# A name shown beside or instead of a username, or given to an API token: long
# enough for "Mikasa Ackerman (platform team)", short enough for one line of
# a sidebar on a phone.
DISPLAY_NAME_MAX = 64
TOKEN_NAME_MAX = 64
# Refused in a name: control characters (tabs, line breaks, ESC...), line and
# paragraph separators, surrogates; and the bidirectional controls, which would
# reorder the text around the name wherever it is shown. Joiners stay: emoji
# sequences and several scripts (Persian, Indic) need them.
_NAME_REFUSED_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}


def validate_display_name(value: object) -> str:
    """A display name as stored: NFC, trimmed of white space at both ends, 1 to
    64 characters that show something, with no control characters. A second
    call returns what the first did. Raises ChatError('bad_request') otherwise
    (None, meaning "no display name", is the caller's to allow)."""
    return _short_name(value, "display name", DISPLAY_NAME_MAX)


def validate_token_name(value: object) -> str:
    """An API token's name: the same rule as a display name (validate_display_name)."""
    return _short_name(value, "token name", TOKEN_NAME_MAX)


def validate_webhook_name(value: object) -> str:
    """An incoming webhook's name, also its bot's display name: the same rule as
    a display name (validate_display_name)."""
    return _short_name(value, "webhook name", DISPLAY_NAME_MAX)


TOPIC_MAX = 250


def validate_topic(value: object) -> str:
    """A room's topic as stored: the rule of a display name (validate_display_name)
    with runs of white space made one space, up to TOPIC_MAX characters, and
    empty allowed (no topic). Raises ChatError('bad_request') otherwise."""
    if isinstance(value, str) and is_blank(value) and unstorable(value) is None:
        return ""
    if isinstance(value, str):
        value = " ".join(value.split())
    return _short_name(value, "topic", TOPIC_MAX)


def _short_name(value: object, what: str, max_chars: int) -> str:
    if not isinstance(value, str):
        raise ChatError("bad_request", f"The {what} must be a string.")
    reason = unstorable(value)
    if reason is not None:
        raise ChatError("bad_request", f"The {what}: {reason}.")
    name = unicodedata.normalize("NFC", value).strip()
    if any(unicodedata.category(c) in _NAME_REFUSED_CATEGORIES for c in name) or any(
        c in _BIDI_CONTROLS for c in name
    ):
        raise ChatError(
            "bad_request",
            f"The {what} must not contain control characters (line breaks, tabs, direction marks).",
        )
    if is_blank(name):
        raise ChatError("bad_request", f"Enter a {what} of 1 to {max_chars} characters.")
    if len(name) > max_chars:
        raise ChatError(
            "bad_request", f"The {what} is {len(name)} characters long; at most {max_chars}."
        )
    return name
