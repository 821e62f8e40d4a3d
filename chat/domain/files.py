"""Files people upload (docs/files.md): their names, keys and the rules every
layer shares.

A file name comes from the uploader and is shown to everyone who reads the
message, and sent back in `Content-Disposition`: `file_name` makes it safe to
show and to save (no folders, no control or bidirectional-override
characters, NFC, at most 255 characters). It never decides the type: that
is sniffed from the content (chat/domain/media.py).
"""

import os
import re
import secrets
import unicodedata

# Bytes per file_chunks row (the schema's CHECK allows 1 to 262144): every
# chunk but a variant's last holds exactly this many. Big enough that a 25 MiB
# file is 100 rows, small enough that a transfer holds one in memory.
CHUNK_BYTES = 256 * 1024
# Files one message may carry: a handful of screenshots; more is an archive.
MAX_FILES_PER_MESSAGE = 10
# The schema's `files.name` length (characters).
NAME_MAX = 255
# What a name that is nothing once cleaned becomes.
DEFAULT_NAME = "file"
# An extension kept whole when a long name is shortened (".tar.gz" style ones
# are rarely longer).
_EXTENSION_KEPT = 16
# A file's key: 128 random bits, URL-safe base64 (the schema's CHECK).
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}\Z")
# Unicode categories dropped from names: controls (NUL, newlines, escapes),
# format characters (bidirectional overrides such as U+202E, which make
# "exe.png" read "gnp.exe"; zero-width spaces), surrogates (PostgreSQL cannot
# store them), private-use and unassigned code points. Line and paragraph
# separators become spaces.
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# Kept although a format character: the zero-width joiner inside emoji
# sequences (👩‍💻), which shows nothing on its own.
_KEPT = frozenset({"\u200d"})


def new_key() -> str:
    """A fresh file key: 22 URL-safe characters, unguessable."""
    return secrets.token_urlsafe(16)


def is_key(value: object) -> bool:
    """Whether `value` has the shape of a file key (it may still name nothing)."""
    return isinstance(value, str) and KEY_PATTERN.match(value) is not None


def file_name(raw: str) -> str:
    """The name to store for an upload named `raw`: its last path part (`../` and
    `C:\\` folders go), without control, format (bidi) or unassigned characters,
    spaces collapsed, NFC, at most NAME_MAX characters (the extension kept when
    it is short), DEFAULT_NAME when nothing is left. Idempotent."""
    name = unicodedata.normalize("NFC", raw)
    name = "".join(_kept(ch) for ch in name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(name.split())  # runs of spaces (any kind) become one
    name = name.strip(" .")  # "..", trailing dots (Windows drops them)
    if not name:
        return DEFAULT_NAME
    while True:
        name = _shortened(name)
        again = unicodedata.normalize("NFC", name).strip(" .")
        if again == name:
            return name or DEFAULT_NAME
        name = again


def _kept(ch: str) -> str:
    if ch in _KEPT:
        return ch
    category = unicodedata.category(ch)
    if category in ("Zl", "Zp"):
        return " "
    return "" if category in _DROPPED else ch


def _shortened(name: str) -> str:
    """At most NAME_MAX characters, keeping a short extension."""
    if len(name) <= NAME_MAX:
        return name
    stem, extension = os.path.splitext(name)
    if 1 < len(extension) <= _EXTENSION_KEPT and stem:
        return stem[: NAME_MAX - len(extension)].rstrip(" .") + extension
    return name[:NAME_MAX]
