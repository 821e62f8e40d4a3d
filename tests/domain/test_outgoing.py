"""Outgoing webhooks' rules (chat/domain/outgoing.py): matching, the new webhook's
fields, the signature and the receiver's check of it, the reply's text."""

import string
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.domain import outgoing
from chat.domain.errors import ChatError
from chat.domain.outgoing import Match, match, signature, verify
from chat.domain.render import mentioned, render

from ..conftest import ROOT

NOW = 1_800_000_000


# --- matching -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, triggers, expected",
    [
        ("!deploy web", ["!deploy"], Match("!deploy")),
        ("  !DEPLOY\tweb", ["!deploy"], Match("!deploy")),  # first word, any case
        ("!deploy", ["!status", "!deploy"], Match("!deploy")),
        ("please !deploy", ["!deploy"], None),  # not the first word
        ("!deployment", ["!deploy"], None),  # a word, not a prefix
        ("", ["!deploy"], None),
        ("!deploy", [], None),
    ],
)
def test_a_trigger_word_is_the_first_word(text, triggers, expected):
    assert match(text, mentioned(render(text)), triggers, "deploybot") == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("hey @deploybot ship it", Match(None)),
        ("@DeployBot", Match(None)),
        ("deploybot without the at", None),
        ("mail deploybot@example.com", None),
        ("@deploybotx", None),
    ],
)
def test_a_mention_of_the_bot_matches_anywhere(text, expected):
    assert match(text, mentioned(render(text)), [], "deploybot") == expected


def test_a_trigger_word_wins_over_a_mention():
    text = "!deploy @deploybot"
    assert match(text, mentioned(render(text)), ["!deploy"], "deploybot") == Match("!deploy")


_word = st.text(alphabet=string.ascii_letters + "!-_", min_size=1, max_size=12)


@settings(derandomize=True, max_examples=200)
@given(trigger=_word, rest=st.text(max_size=40))
def test_any_text_starting_with_a_trigger_word_matches(trigger, rest):
    text = f"{trigger.upper()} {rest}"
    assert match(text, [], [trigger], "bot") == Match(trigger)


@settings(derandomize=True, max_examples=200)
@given(trigger=_word, text=st.text(max_size=60))
def test_a_text_whose_first_word_is_another_does_not_match(trigger, text):
    hit = match(text, [], [trigger], "bot")
    assert (hit is not None) == (outgoing.first_word(text).casefold() == trigger.casefold())


# --- a new webhook's fields -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "http://example.com/hook",
        "ftp://example.com/",
        "example.com/hook",
        "https://" + "a" * outgoing.URL_MAX,
        42,
    ],
)
def test_a_url_that_is_not_https_or_too_long_is_refused(url):
    with pytest.raises(ChatError) as refused:
        outgoing.validate_url(url)
    assert refused.value.code == "bad_request" and "url" in refused.value.message


def test_an_https_url_is_kept():
    assert outgoing.validate_url(" https://hooks.example.com/x?y=1 ") == (
        "https://hooks.example.com/x?y=1"
    )


@pytest.mark.parametrize(
    "given_, kept",
    [
        (None, ()),
        ("", ()),
        ("!deploy, !status  !Deploy", ("!deploy", "!status")),
        (["ship", "SHIP", "roll"], ("ship", "roll")),
    ],
)
def test_trigger_words_are_read_from_a_list_or_a_form_field(given_, kept):
    assert outgoing.validate_trigger_words(given_) == kept


@pytest.mark.parametrize(
    "words",
    [
        [f"w{i}" for i in range(outgoing.TRIGGER_WORDS_MAX + 1)],
        ["two words"],
        [""],
        ["x" * (outgoing.TRIGGER_WORD_MAX + 1)],
        ["nul\x00"],
        ["esc\x1b"],
        [3],
        {"a": 1},
    ],
)
def test_bad_trigger_words_are_refused(words):
    with pytest.raises(ChatError) as refused:
        outgoing.validate_trigger_words(words)
    assert refused.value.code == "bad_request" and "trigger_words" in refused.value.message


@pytest.mark.parametrize("name", ["", "a b", "-bot", "x" * 33, "stockbot", None])
def test_a_bad_bot_name_is_refused(name):
    with pytest.raises(ChatError):
        outgoing.validate_bot_name(name)


# --- the signature ------------------------------------------------------------------


SECRET = "9f" * 32


@settings(derandomize=True, max_examples=200)
@given(body=st.binary(max_size=2000), skew=st.integers(-outgoing.REPLAY_WINDOW, 300))
def test_the_signature_verifies_for_any_body(body, skew):
    signed = signature(SECRET, NOW, body)
    assert signed.startswith("v1=") and len(signed) == 3 + 64
    assert verify(SECRET, str(NOW), signed, body, now=NOW + skew)


@settings(derandomize=True, max_examples=200)
@given(body=st.binary(max_size=500), tampered=st.binary(max_size=500))
def test_a_tampered_body_fails(body, tampered):
    signed = signature(SECRET, NOW, body)
    assert verify(SECRET, str(NOW), signed, tampered, now=NOW) == (tampered == body)


@settings(derandomize=True, max_examples=200)
@given(body=st.binary(max_size=200), other=st.integers(0, 2 * NOW))
def test_a_tampered_timestamp_fails(body, other):
    signed = signature(SECRET, NOW, body)
    assert verify(SECRET, str(other), signed, body, now=other) == (other == NOW)


def test_another_secret_or_an_old_timestamp_fails():
    body = b'{"text": "hi"}'
    signed = signature(SECRET, NOW, body)
    assert not verify("0" * 64, str(NOW), signed, body, now=NOW)
    assert not verify(SECRET, str(NOW), signed, body, now=NOW + outgoing.REPLAY_WINDOW + 1)
    for odd in ("", "-5", "1e9", "١٢٣", " 1"):
        assert not verify(SECRET, odd, signed, body, now=NOW)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    """A fixed vector, computed independently (openssl dgst -sha256 -hmac key)."""
    assert signature("key", 1, b"{}") == (
        "v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
    )


# --- the reply ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type, body, text",
    [
        ("application/json", b'{"text": "shipped"}', "shipped"),
        ("application/json", b'{"text": "  "}', None),
        ("application/json", b'{"text": 3}', None),
        ("application/json", b'["text"]', None),
        ("application/json", b"not json", None),
        ("application/json", b"\xff\xfe", None),
        ("application/json", b"", None),
        ("text/plain", b'{"text": "shipped"}', None),
    ],
)
def test_a_reply_is_the_text_of_a_json_object(content_type, body, text):
    assert outgoing.reply_text(content_type, body) == text


# --- the receiver's check, as docs/webhooks.md shows it -------------------------------------


def documented_verify():
    """The `verify` of docs/webhooks.md's Python block (the one after the marker)."""
    doc = (ROOT / "docs" / "webhooks.md").read_text()
    after = doc.split("<!-- verify-snippet:", 1)[1]
    code = after.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # our own docs, as written
    return namespace["verify"]


@settings(derandomize=True, max_examples=100)
@given(body=st.binary(max_size=500), flip=st.integers(0, 499))
def test_the_documented_check_accepts_our_signature_and_refuses_a_tampered_body(body, flip):
    verify_doc = documented_verify()
    now = int(time.time())
    headers = {"X-Chat-Timestamp": str(now), "X-Chat-Signature": signature(SECRET, now, body)}
    assert verify_doc(SECRET, headers, body)
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
        assert not verify_doc(SECRET, headers, tampered)
    later = {**headers, "X-Chat-Timestamp": str(now + 1)}
    assert not verify_doc(SECRET, later, body)


def test_the_documented_check_refuses_an_old_request():
    verify_doc = documented_verify()
    then = int(time.time()) - outgoing.REPLAY_WINDOW - 5
    headers = {"X-Chat-Timestamp": str(then), "X-Chat-Signature": signature(SECRET, then, b"{}")}
    assert not verify_doc(SECRET, headers, b"{}")


def test_the_documented_worked_example_is_what_the_server_signs():
    """docs/webhooks.md's table of a secret, a timestamp, a body and the signature
    they make: a receiver's author checks their code against it."""
    doc = (ROOT / "docs" / "webhooks.md").read_text()
    table = doc.split("<!-- signature-example -->", 1)[1].split("\n\n", 1)[0]
    cells = {
        row.split("|")[1].strip().strip("`"): row.split("|")[2].strip().strip("`")
        for row in table.splitlines()
        if row.startswith("| ") and not row.startswith("| |")
    }
    body = cells["body"].encode()
    timestamp = int(cells["X-Chat-Timestamp"])
    assert signature(cells["secret"], timestamp, body) == cells["X-Chat-Signature"]
    assert outgoing.signed_text(timestamp, body).decode() == cells["signed message"]
