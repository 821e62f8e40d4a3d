"""Rules for text that comes from clients: what PostgreSQL can store, and what counts as blank.

Plain Python, no Flask and no database: every entry point (HTTP routes and
forms, JSON bodies, WebSocket frames, CLI arguments and stdin) checks what
it received with `unstorable` before anything reaches a query, and message
text is blank by `is_blank` on every send path. The browser mirrors
`is_blank` in static/message_text.js (keep the two character sets the same).
"""

import re
import unicodedata
from collections.abc import Iterator

# PostgreSQL's text type cannot hold U+0000, and psycopg cannot encode a lone
# surrogate (U+D800..U+DFFF: "\ud800" in JSON, or undecodable bytes in argv
# under Python's surrogateescape). Either would fail inside a query.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Unicode's Default_Ignorable_Code_Point property (DerivedCoreProperties.txt,
# Unicode 15.1): characters that show nothing unless a font has a reason to,
# such as zero-width spaces and joiners, the combining grapheme joiner, Hangul
# fillers, the Khmer inherent vowels, Mongolian and other variation selectors
# and tags. Python's unicodedata has no such property, so its ranges are here.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)  # fmt: skip
# Besides those: white space, the control (Cc) and format (Cf) categories, and
# the braille blank (a pattern with no dots). static/message_text.js's BLANK is
# the same set: /^[\s\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]*$/u.
_INVISIBLE = frozenset(
    "\u2800" + "".join(chr(c) for low, high in _DEFAULT_IGNORABLE for c in range(low, high + 1))
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


def is_invisible(char: str) -> bool:
    """True for one character that shows nothing (see _INVISIBLE)."""
    return (
        char.isspace() or char in _INVISIBLE or unicodedata.category(char) in _INVISIBLE_CATEGORIES
    )


def is_blank(value: str) -> bool:
    """True when `value` shows nothing: empty, or only invisible characters."""
    return all(is_invisible(char) for char in value)


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
