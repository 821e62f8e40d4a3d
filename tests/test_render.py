"""Markdown subset to sanitised HTML: what renders, and what must never reach a page."""

from html.parser import HTMLParser

import pytest

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
