"""Emoji shortcodes: the `:smile:` names people type, from the `emoji` package.

The names and the emoji come from the `emoji` package (pinned in
requirements.txt: Unicode's emoji-test.txt with English names and the
GitHub/Slack-style aliases), as chat/domain/reactions.py's data does, so
a message, a reaction and the picker know the same emoji. Nothing here is a
hand-made list: a newer package brings its new emoji and names.

Each fully-qualified emoji has its aliases (`smile`, `+1`, `tada`) and its
English name (`grinning_face_with_smiling_eyes`), both written as they are
typed: lower case, accents and apostrophes dropped, every other run of
characters outside `a-z 0-9 + -` one `_` (`:Antigua_&_Barbuda:` is
`antigua_barbuda`). An alias wins over another emoji's English name
(`cat` is GitHub's 🐱, not the English name of 🐈), and otherwise the first
emoji in the package's order keeps a name.

`render` (chat/domain/render.py) turns `:name:` into its emoji in a message's
html; the composer completes names and the picker searches them
(`catalogue`, served as /emoji.json by chat/web/lookup.py).
"""

import re
import unicodedata
from collections.abc import Iterator

import emoji

# What may stand between the colons, as `typed_name` writes names.
NAME = re.compile(r"[a-z0-9_+-]+")
# The longest name the package has is under 60 characters: a longer run
# between colons is not a shortcode, and reading stops there.
NAME_MAX = 64

_FULLY_QUALIFIED = emoji.STATUS["fully_qualified"]
# Fitzpatrick skin-tone modifiers: an emoji holding one is a variant of its base
# emoji. Shortcodes name variants too; the picker lists the base ones only.
_TONES = frozenset(chr(c) for c in range(0x1F3FB, 0x1F400))


def typed_name(name: str) -> str:
    """A name of the emoji package (`:Antigua_&_Barbuda:`) as people type it
    (`antigua_barbuda`)."""
    ascii_name = unicodedata.normalize("NFKD", name.strip(":")).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9+-]+", "_", ascii_name.lower().replace("'", "")).strip("_")


def _emoji_names() -> Iterator[tuple[str, list[str], list[str]]]:
    """Every fully-qualified emoji with its aliases and its English name, typed."""
    for text, data in emoji.EMOJI_DATA.items():
        if data["status"] == _FULLY_QUALIFIED:
            aliases = [typed_name(a) for a in data.get("alias", [])]
            yield text, aliases, [typed_name(data["en"])]


def _build() -> tuple[dict[str, str], dict[str, list[str]]]:
    by_name: dict[str, str] = {}
    names: dict[str, list[str]] = {}
    entries = list(_emoji_names())
    for kind in (1, 2):  # every alias first, then the English names
        for text, aliases, english in entries:
            for name in aliases if kind == 1 else english:
                if name and by_name.setdefault(name, text) == text:
                    names.setdefault(text, [])
                    if name not in names[text]:
                        names[text].append(name)
    return by_name, names


# name -> emoji, for `:name:`; emoji -> its names, aliases first.
BY_NAME, NAMES = _build()


def emoji_for(name: str) -> str | None:
    """The emoji `name` (what stands between the colons, any case) names, or None."""
    return BY_NAME.get(name.lower()) if len(name) <= NAME_MAX else None


def _picker_rank(text: str) -> tuple[int, int]:
    """Where an emoji goes in the picker's full list: the faces of Unicode's
    Emoticons block first (what people pick most), flags last, the rest in code
    point order, which keeps Unicode's blocks (nature, food, objects...) together."""
    first = ord(text[0])
    if 0x1F600 <= first <= 0x1F64F:
        return 0, first
    if 0x1F1E6 <= first <= 0x1F1FF or first == 0x1F3F4:  # regional indicators, tag flags
        return 3, first
    if 0x1F900 <= first <= 0x1FAFF:  # supplemental faces, people, animals, food, objects
        return 1, first
    return 2, first


def catalogue() -> list[list[str]]:
    """The emoji a browser offers, `[emoji, name, name...]` each, names aliases
    first: every fully-qualified emoji but skin-tone variants, in picker order."""
    shown = [text for text in NAMES if not _TONES.intersection(text)]
    return [[text, *NAMES[text]] for text in sorted(shown, key=_picker_rank)]
