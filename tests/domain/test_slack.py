"""Slack-compatible webhook bodies as messages (chat/domain/slack.py): whatever a
tool sends, the answer is a text or a clear refusal; Slack's links become links
to exactly their URL with exactly their label; plain text passes unchanged."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from chat.domain.errors import ChatError
from chat.domain.render import render
from chat.domain.slack import markdown_of, text_of

# Any JSON value, as a body's fields can hold.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
# Bodies shaped like Slack's, with wrong types mixed in.
field_names = st.sampled_from(
    ["text", "type", "title", "title_link", "value", "fields", "blocks", "elements",
     "attachments", "pretext", "footer", "fallback", "author_name"]
)  # fmt: skip
slack_like = st.recursive(
    st.none()
    | st.text()
    | st.sampled_from(["mrkdwn", "plain_text", "section", "header", "context"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(field_names, children, max_size=5)
    ),
    max_leaves=25,
)


@given(
    st.dictionaries(st.text(max_size=10), json_values, max_size=5)
    | st.dictionaries(field_names, slack_like)
)
def test_any_body_gives_text_or_a_clear_refusal(body):
    try:
        text = text_of(body)
    except ChatError as exc:
        assert exc.code == "bad_request" and " must be " in exc.message
    else:
        assert isinstance(text, str)


# Text with none of the characters mrkdwn gives a meaning to that Markdown does not.
plain = st.text(st.characters(blacklist_characters="<>&*~", blacklist_categories=("Cs",)))


@given(plain)
def test_text_without_slack_markup_is_left_as_it_is(text):
    assert markdown_of(text) == text


labels = st.text(
    st.characters(
        blacklist_characters="<>|&*~_`\\[]", blacklist_categories=("Cs", "Cc", "Zl", "Zp")
    ),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() == s and s.strip())
# Characters a URL keeps as they are (markdown-it percent-encodes a lone "%").
paths = st.text(st.sampled_from("abcxyz0189-._~/?=#()"), max_size=30)


@given(labels, paths)
def test_a_slack_link_becomes_a_link_to_its_url_labelled_as_slack_shows_it(label, path):
    url = f"https://example.com/{path}"
    anchors = LexborHTMLParser(render(markdown_of(f"see <{url}|{label}> now"))).css("a")
    assert len(anchors) == 1
    assert anchors[0].attributes["href"] == url
    assert anchors[0].text() == label


@pytest.mark.parametrize(
    ("mrkdwn", "markdown"),
    [
        ("*bold* and _italic_", "**bold** and _italic_"),
        ("~gone~", "~~gone~~"),
        ("2*3*4 and a*b", "2*3*4 and a*b"),
        ("* not bold *", "* not bold *"),
        ("&lt;b&gt; &amp; co", "<b> & co"),
        ("<https://x.example>", "https://x.example"),
        ("<mailto:ops@x.example|mail us>", "[mail us](<mailto:ops@x.example>)"),
        ("<!here> <!channel> <!subteam^S1|@oncall>", "@here @channel @oncall"),
        ("<@U123|bob> <@U123> <#C1|ops>", "@bob @U123 #ops"),
        ("<javascript:alert(1)|click>", "<javascript:alert(1)|click>"),
        # Code is left as sent (its entities decoded), outside it the rest is rewritten.
        ("`a *b* ~c~ <https://x.example|x>` *now*", "`a *b* ~c~ <https://x.example|x>` **now**"),
        ("```\nif a &lt; b && *p* {}\n```", "```\nif a < b && *p* {}\n```"),
        ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
    ],
)
def test_mrkdwn_rewrites(mrkdwn, markdown):
    assert markdown_of(mrkdwn) == markdown


def test_a_javascript_link_is_never_a_link():
    html = render(markdown_of("<javascript:alert(1)|click> &lt;script&gt;"))
    assert "<a" not in html and "<script" not in html


def test_blocks_replace_text_and_attachments_follow_with_fallback_only_when_empty():
    body = {
        "text": "only the notification",
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "*as is*"}}],
        "attachments": [
            {"fallback": "shown: nothing else is"},
            {"fallback": "hidden", "text": "t"},
        ],
    }
    assert text_of(body) == "*as is*\n\nshown: nothing else is\n\nt"
    # Blocks that show nothing leave `text` in place.
    assert text_of({"text": "hi", "blocks": [{"type": "divider"}]}) == "hi"
