"""chat/domain/text.py: what PostgreSQL can store, and what counts as blank, by Unicode."""

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.domain import validate
from chat.domain.errors import ChatError
from chat.domain.text import first_unstorable, is_blank, is_invisible, unstorable

BLANK = [
    "",
    " \t\r\n",
    "\u00a0\u2003\u3000",  # no-break, em and ideographic spaces
    "\u200b\u200c\u200d\u2060\ufeff",  # zero-width characters, BOM
    "\u200e\u200f\u202e\u2066",  # bidi marks and controls
    "\u00ad\u034f",  # soft hyphen, combining grapheme joiner
    "\u115f\u1160\u3164\uffa0",  # Hangul fillers
    "\u17b4\u17b5",  # Khmer inherent vowels
    "\u180b\u180c\u180d\u180e\u180f",  # Mongolian variation selectors and separator
    "\ufe0f\ufe00\U000e0100",  # variation selectors
    "\U000e0041\U000e007f",  # tag characters
    "\u2800",  # braille blank
    "\u2800\u17b4 \u200b",
]
SHOWN = [
    "a",
    ".",
    "👍",
    "\u0645",
    "e\u0301",
    "\u200bhi\u200d",
    "\u3000x",
    "\U0001f9d1\u200d\U0001f4bb",
]


@pytest.mark.parametrize("text", BLANK)
def test_blank_means_blank_by_unicode(text):
    assert is_blank(text)
    with pytest.raises(ChatError) as refused:
        validate.validate_content(text, 4000)
    assert refused.value.code == "bad_frame"


@pytest.mark.parametrize("text", SHOWN)
def test_text_that_shows_something_is_not_blank(text):
    assert not is_blank(text)
    assert validate.validate_content(text, 4000) == text


# Letters and symbols that show nothing: Hangul fillers, the braille blank.
FILLERS = set("\u115f\u1160\u3164\uffa0\u2800")


@given(st.text(st.characters(exclude_categories=())))
def test_blank_is_every_character_invisible(text):
    assert is_blank(text) == all(is_invisible(c) for c in text)
    # A letter, digit, symbol or punctuation mark always shows.
    if any(unicodedata.category(c)[0] in "LNSP" and c not in FILLERS for c in text):
        assert not is_blank(text)


@pytest.mark.parametrize(
    "text, stored",
    [("ok", True), ("a\x00b", False), ("\ud800", False), ("x\udfff", False), ("👍", True)],
)
def test_unstorable_is_nul_and_lone_surrogates(text, stored):
    assert (unstorable(text) is None) == stored


@given(st.recursive(st.text(), lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids)))
def test_first_unstorable_finds_nul_anywhere_in_json(value):
    has_nul = any("\x00" in s for s in _strings(value))
    assert (first_unstorable(value) is not None) == has_nul


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_deep_nesting_is_walked_without_recursion():
    value = "x\x00"
    for _ in range(100_000):
        value = [value]
    assert first_unstorable(value) is not None
