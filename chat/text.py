"""Rules for text that comes from clients: what PostgreSQL can store, and what counts as blank.

Plain Python, no Flask and no database: every entry point (HTTP routes and
forms, JSON bodies, WebSocket frames, CLI arguments and stdin) checks what
it received with `unstorable` before anything reaches a query, and message
text is blank by `is_blank` on every send path. The browser mirrors
`is_blank` in static/room.js (keep the two character sets the same).
"""

import re
import unicodedata
from collections.abc import Iterator

# PostgreSQL's text type cannot hold U+0000, and psycopg cannot encode a lone
# surrogate (U+D800..U+DFFF: "\ud800" in JSON, or undecodable bytes in argv
# under Python's surrogateescape). Either would fail inside a query.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Besides white space and the control (Cc) and format (Cf) categories (zero-
# width space and joiners, bidi marks, soft hyphen, BOM, tag characters),
# these show nothing either: the combining grapheme joiner, Hangul fillers,
# the braille blank and the variation selectors. static/room.js's BLANK
# pattern is the same set: /^[\s\p{Cc}\p{Cf}<these>]*$/u.
_INVISIBLE = frozenset(
    "\u034f\u115f\u1160\u3164\uffa0\u2800"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
_INVISIBLE_CATEGORIES = ("Cc", "Cf")


def unstorable(value: str) -> str | None:
    """Why PostgreSQL cannot store `value` (a sentence), or None if it can."""
    match = _UNSTORABLE.search(value)
    if match is None:
        return None
    if match.group() == "\x00":
        return "text must not contain the NUL character (U+0000)"
    return "text must be valid Unicode (no lone surrogates)"


def is_blank(value: str) -> bool:
    """True when `value` shows nothing: empty, or only invisible characters."""
    return all(
        char.isspace() or char in _INVISIBLE or unicodedata.category(char) in _INVISIBLE_CATEGORIES
        for char in value
    )


def strings_in(value: object) -> Iterator[str]:
    """Every string in a parsed JSON value, object keys included (iteratively:
    nesting depth cannot exhaust the stack)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def first_unstorable(value: object) -> str | None:
    """Why some string in a parsed JSON value cannot be stored, or None."""
    for text in strings_in(value):
        reason = unstorable(text)
        if reason is not None:
            return reason
    return None
