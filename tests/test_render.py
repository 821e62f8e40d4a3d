"""Markdown subset to sanitised HTML: what renders, and what must never reach a page."""

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.render import for_reader, mentioned, render


@pytest.mark.parametrize(
    "text, html",
    [
        ("plain", "<p>plain</p>"),
        ("*em* and **strong**", "<p><em>em</em> and <strong>strong</strong></p>"),
        ("`x < y`", "<p><code>x &lt; y</code></p>"),
        ("```\nif a < b:\n```", "<pre><code>if a &lt; b:\n</code></pre>"),
        ("line one\nline two", "<p>line one<br>\nline two</p>"),
        (
            "[docs](https://example.com/a?b=1)",
            '<p><a href="https://example.com/a?b=1" rel="noopener noreferrer">docs</a></p>',
        ),
        ("# not a heading", "<p># not a heading</p>"),  # headings are not in the subset
    ],
)
def test_the_subset_renders(text, html):
    assert render(text) == html


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](  javascript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox(1))",
        "<a href='javascript:alert(1)'>x</a>",
        '<svg onload="alert(1)">',
        "![img](https://example.com/x.png)",
    ],
)
def test_nothing_active_gets_through(text):
    """Parsed as a browser would: only the subset's tags, only safe links, text otherwise."""
    elements = Elements()
    elements.feed(render(text))
    for tag, attrs in elements.found:
        assert tag in {"p", "br", "em", "strong", "code", "pre", "a"}, tag
        for name, value in attrs:
            assert name in {"href", "rel", "class"}, name
            if name == "href":
                assert value.startswith(("https://", "http://", "mailto:")), value


class Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, attrs))


def test_links_open_safely():
    assert 'rel="noopener noreferrer"' in render("<https://example.com>")


@pytest.mark.parametrize(
    "text, names",
    [
        ("hi @eren.", ["eren"]),
        ("**@Mikasa** and @eren-san", ["mikasa", "eren-san"]),
        ("@eren @EREN once", ["eren"]),
        ("mail eren@example.com", []),
        ("`@eren` and\n```\n@levi\n```", []),
        ("@", []),
        ("@-dash", []),
        ('<span class="mention" data-user="levi">', []),  # raw HTML stays text
    ],
)
def test_mentions_are_marked_outside_code(text, names):
    assert mentioned(render(text)) == names


def test_a_mention_is_a_span_and_marked_only_for_its_reader():
    html = render("@Eren look")
    assert html == '<p><span class="mention" data-user="eren">@Eren</span> look</p>'
    assert 'class="mention me"' in for_reader(html, "EREN")
    assert for_reader(html, "mikasa") == html


# --- properties of the mention rule (table of cases: tests/test_mentions.py) --------

_NAMES = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}[A-Za-z0-9_]", fullmatch=True)
_URL_PATHS = st.text(st.sampled_from("abc019-._~!$&'()*+,;=:/?#@"), max_size=12)
_PLAIN = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=40)
_DETERMINISTIC = settings(derandomize=True, max_examples=200, deadline=None)


@_DETERMINISTIC
@given(before=_PLAIN, path=_URL_PATHS, name=_NAMES)
def test_an_at_inside_a_url_never_mentions(before, path, name):
    """Whatever comes before it, `https://host/<path>@name` names no one
    (bare, or as an autolink)."""
    names = set(mentioned(render(before + " ")))
    for url in (f"https://social.example/{path}@{name}", f"<https://x.example/{path}@{name}>"):
        assert set(mentioned(render(f"{before} {url}"))) <= names


@_DETERMINISTIC
@given(word=st.text(st.characters(categories=("L", "N")), min_size=1, max_size=8), name=_NAMES)
def test_an_at_glued_to_a_word_never_mentions(word, name):
    assert mentioned(render(f"{word}@{name}")) == []
    assert mentioned(render(f"see {word}@{name}.")) == []


@_DETERMINISTIC
@given(text=_PLAIN)
def test_every_marked_mention_is_written_in_the_text(text):
    """A mention span only ever shows an @name the text holds, outside code."""
    for name in mentioned(render(text)):
        assert f"@{name}" in text.lower()
