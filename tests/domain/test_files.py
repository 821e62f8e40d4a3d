"""File names as uploads give them (chat/domain/files.py `file_name`): a property
test over any text (Hypothesis, a fixed seed in `make test`)."""

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from chat.domain.files import DEFAULT_NAME, NAME_MAX, file_name, is_key, new_key

# Text with the characters that make names dangerous well represented: path
# separators, dots, controls, bidirectional overrides, zero-width characters.
HOSTILE = st.sampled_from(
    ["/", "\\", ".", "..", "\x00", "\x1b", "\n", "\u202e", "\u2066", "\u200b", "\ufeff", " "]
)
NAMES = st.lists(st.one_of(st.text(max_size=40), HOSTILE), max_size=30).map("".join)


@given(NAMES)
def test_a_cleaned_name_is_safe_to_show_and_to_save(raw):
    name = file_name(raw)
    assert 1 <= len(name) <= NAME_MAX
    assert "/" not in name and "\\" not in name
    assert name not in (".", "..")
    assert unicodedata.normalize("NFC", name) == name
    for ch in name:
        category = unicodedata.category(ch)
        assert category not in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp")
        assert category != "Cf" or ch == "\u200d"
    assert name == name.strip()
    assert file_name(name) == name  # cleaning twice changes nothing


def test_examples():
    assert file_name("../../etc/passwd") == "passwd"
    assert file_name("invoice\u202efdp.exe") == "invoicefdp.exe"
    assert file_name("a\tb\nc.txt") == "abc.txt"
    assert file_name("...") == DEFAULT_NAME
    assert file_name("photo.jpg ") == "photo.jpg"
    assert file_name("x" * 400 + ".tar.gz") == "x" * (NAME_MAX - 3) + ".gz"


def test_keys():
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100 and all(is_key(k) for k in keys)
    assert not is_key("short") and not is_key("A" * 21 + "/")
