"""The Markdown beyond the first subset (lists, block quotes, strikethrough, bare URLs,
`:emoji:` shortcodes), and properties of every rendered message: sanitised, balanced,
a fixpoint of the sanitiser, and the same whenever it is rendered."""

from contextlib import contextmanager
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it.rules_inline.linkify import linkify as linkify_rule

from chat.domain import render as render_module
from chat.domain import shortcodes
from chat.domain.render import mentioned, render, sanitise

LINK = '<a href="{0}" rel="noopener noreferrer">{1}</a>'


def para(html: str) -> str:
    return f"<p>{html}</p>"


def link(href: str, text: str | None = None) -> str:
    """A link as the renderer writes it; its text is its href unless given."""
    return LINK.format(href, href if text is None else text)


@pytest.mark.parametrize(
    "text, html",
    [
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("* one\n* two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("+ one", "<ul>\n<li>one</li>\n</ul>"),
        ("1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"),
        ("3. three\n4. four", '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>'),
        ("1) one", "<ol>\n<li>one</li>\n</ol>"),
        ("- a\n  - b", "<ul>\n<li>a\n<ul>\n<li>b</li>\n</ul>\n</li>\n</ul>"),
        ("said:\n- a", "<p>said:</p>\n<ul>\n<li>a</li>\n</ul>"),
        ("- **bold** item", "<ul>\n<li><strong>bold</strong> item</li>\n</ul>"),
        ("2024\\. a year", "<p>2024. a year</p>"),  # an escaped dot is not a list
        ("-not a list", "<p>-not a list</p>"),
    ],
)
def test_bullet_and_numbered_lists(text, html):
    assert render(text) == html


@pytest.mark.parametrize(
    "text, html",
    [
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("> one\n> two", "<blockquote>\n<p>one<br>\ntwo</p>\n</blockquote>"),
        (
            "> a\n>> b",
            "<blockquote>\n<p>a</p>\n<blockquote>\n<p>b</p>\n</blockquote>\n</blockquote>",
        ),
        ("> - item", "<blockquote>\n<ul>\n<li>item</li>\n</ul>\n</blockquote>"),
        ("> quote\n\nreply", "<blockquote>\n<p>quote</p>\n</blockquote>\n<p>reply</p>"),
        ("a > b", "<p>a &gt; b</p>"),
    ],
)
def test_block_quotes(text, html):
    assert render(text) == html


@pytest.mark.parametrize(
    "text, html",
    [
        ("~~gone~~", "<p><s>gone</s></p>"),
        ("a ~~b c~~ d", "<p>a <s>b c</s> d</p>"),
        ("~one~", "<p>~one~</p>"),  # one tilde is text
        ("`~~code~~`", "<p><code>~~code~~</code></p>"),
        ("~~**both**~~", "<p><s><strong>both</strong></s></p>"),
    ],
)
def test_strikethrough(text, html):
    assert render(text) == html


@pytest.mark.parametrize(
    "text, html",
    [
        ("headings stay text:\n# title", "<p>headings stay text:<br>\n# title</p>"),
        ("---", "<p>---</p>"),  # no thematic break
        ("a\n---", "<p>a<br>\n---</p>"),  # no setext heading
        ("    four spaces", "<p>four spaces</p>"),  # no indented code
        ("| a | b |\n|---|---|", "<p>| a | b |<br>\n|---|---|</p>"),  # no tables
    ],
)
def test_what_stays_out_of_the_subset(text, html):
    assert render(text) == html


# --- bare URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, href, after",
    [
        ("see https://x.example/a", "https://x.example/a", ""),
        ("see https://x.example/a.", "https://x.example/a", "."),
        ("see https://x.example/a,", "https://x.example/a", ","),
        ("see https://x.example/a!", "https://x.example/a", "!"),
        ("see https://x.example/a?", "https://x.example/a", "?"),
        ("see https://x.example/a:", "https://x.example/a", ":"),
        ("see https://x.example/a: it", "https://x.example/a", ": it"),
        ("see https://x.example: it", "https://x.example", ": it"),
        ("see https://x.example/a;", "https://x.example/a", ";"),
        ("see https://x.example/a...", "https://x.example/a", "..."),
        ("(see https://x.example/a)", "https://x.example/a", ")"),
        ("see https://x.example/wiki/A_(b)", "https://x.example/wiki/A_(b)", ""),
        ("see https://x.example/wiki/A_(b).", "https://x.example/wiki/A_(b)", "."),
        ('"https://x.example/a"', "https://x.example/a", '"'),
        ("see https://x.example/a?b=1&c=2#d", "https://x.example/a?b=1&c=2#d", ""),
        ("see http://127.0.0.1:8000/rooms", "http://127.0.0.1:8000/rooms", ""),
    ],
)
def test_a_bare_url_is_a_link_without_its_trailing_punctuation(text, href, after):
    html = render(text)
    assert link(href.replace("&", "&amp;")) + after in html, html


@pytest.mark.parametrize(
    "text, html",
    [
        ("HTTPS://X.example/A", para(link("https://X.example/A", "HTTPS://X.example/A"))),
        (
            "mail eren@example.com",
            para("mail " + link("mailto:eren@example.com", "eren@example.com")),
        ),
        ("<https://x.example>", para(link("https://x.example"))),
        ("**https://x.example/a**", para(f"<strong>{link('https://x.example/a')}</strong>")),
        ("[docs](https://x.example/a)", para(link("https://x.example/a", "docs"))),
        ("`https://x.example`", para("<code>https://x.example</code>")),
    ],
)
def test_bare_urls_and_addresses_with_the_other_links(text, html):
    assert render(text) == html


@pytest.mark.parametrize(
    "text",
    [
        "run app.py and read README.md",  # file names, not the sites of .py and .md
        "www.example.com",
        "example.com/a",
        "ftp://x.example/file",
        "//x.example/a",
        "javascript:alert(1)",
        "javascript://x.example/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "http://",
        "https:///x.example",
        "file:///etc/passwd",
        "see http:x.example",
    ],
)
def test_what_is_not_linkified(text):
    assert "<a " not in render(text), render(text)


def test_mentions_work_in_lists_quotes_and_strikethrough():
    html = render("- @eren first\n1. @levi\n> @mikasa said\n\n~~@armin~~")
    assert mentioned(html) == ["eren", "levi", "mikasa", "armin"]
    assert '<li><span class="mention" data-user="eren">@eren</span> first</li>' in html


# --- :emoji: shortcodes ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, html",
    [
        (":smile:", "<p>😄</p>"),
        ("I :heart: it", "<p>I ❤️ it</p>"),
        (":+1: and :thumbsup: and :thumbs_up:", "<p>👍 and 👍 and 👍</p>"),
        (":Smile: :SMILE:", "<p>😄 😄</p>"),
        ("(:tada:)", "<p>(🎉)</p>"),
        (":smile::smile:", "<p>😄😄</p>"),
        ("**:smile:**", "<p><strong>😄</strong></p>"),
        ("- :smile: item", "<ul>\n<li>😄 item</li>\n</ul>"),
        ("> :smile:", "<blockquote>\n<p>😄</p>\n</blockquote>"),
        ("[:smile:](https://x.example)", para(link("https://x.example", "😄"))),
        (":cat:", "<p>🐱</p>"),  # the alias, not the English name of 🐈
        (":antigua_barbuda:", "<p>🇦🇬</p>"),  # the English name, typed
    ],
)
def test_shortcodes_become_emoji(text, html):
    assert render(text) == html


@pytest.mark.parametrize(
    "text, html",
    [
        ("`:smile:`", "<p><code>:smile:</code></p>"),
        ("```\n:smile:\n```", "<pre><code>:smile:\n</code></pre>"),
        ("a:smile:", "<p>a:smile:</p>"),  # glued to a word
        (":smile:s", "<p>:smile:s</p>"),
        ("10:30:00 and a:b:c", "<p>10:30:00 and a:b:c</p>"),
        (":no_such_emoji:", "<p>:no_such_emoji:</p>"),
        (":smile", "<p>:smile</p>"),
        ("\\:smile:", "<p>:smile:</p>"),  # escaped
        ("https://x.example/:smile:/a", para(link("https://x.example/:smile:/a"))),
        ("[x](https://x.example/:smile:)", para(link("https://x.example/:smile:", "x"))),
        (":" + "a" * 100 + ":", "<p>:" + "a" * 100 + ":</p>"),
    ],
)
def test_shortcodes_stay_text_in_code_urls_words_and_when_unknown(text, html):
    assert render(text) == html


def test_every_shortcode_name_renders_its_emoji():
    """Each name the composer offers gives the emoji it was offered with."""
    for entry in shortcodes.catalogue():
        emoji, names = entry[0], entry[1:]
        for name in names:
            assert render(f":{name}:") == f"<p>{emoji}</p>", name


# --- properties of every rendered message ----------------------------------------------

_TAGS = {"p", "br", "em", "strong", "s", "code", "pre", "a", "span", "ul", "ol", "li", "blockquote"}
_ATTRIBUTES = {
    "a": {"href", "rel"},
    "code": {"class"},
    "span": {"class", "data-user"},
    "ol": {"start"},
}
_VOID = {"br"}


class Checked(HTMLParser):
    """Parses a rendered message as a browser would, failing on anything outside the
    subset and on a tag that is not closed in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        assert tag in _TAGS, tag
        for name, value in attrs:
            assert name in _ATTRIBUTES.get(tag, set()), (tag, name)
            assert not name.startswith("on"), name
            if name == "href":
                assert value.startswith(("http://", "https://", "mailto:")), value
            if name == "rel":
                assert value == "noopener noreferrer"
            if name == "start":
                assert value.isdigit(), value
        if tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        raise AssertionError(f"self-closing <{tag}/>")

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, (self.open, tag)
        self.open.pop()

    def handle_comment(self, data):
        raise AssertionError("a comment")

    def handle_decl(self, decl):
        raise AssertionError("a declaration")

    def handle_pi(self, data):
        raise AssertionError("a processing instruction")


# Pieces of Markdown, of links and of hostile HTML, among any text.
_PIECES = st.sampled_from(
    [
        "- ", "* ", "+ ", "1. ", "3) ", "> ", ">> ", "~~", "~", "**", "*", "_", "`", "```\n",
        "\n", "\n\n", "  ", "    ", "\t", "[", "]", "](", ")", "(", "<", ">", "https://",
        "http://x.example/", "HTTPS://", "mailto:", "javascript:", "data:", "//", "www.",
        ".com", "a@b.example", "@eren", "@", ":smile:", ":+1:", ":", "<script>", "</script>",
        "<img src=x onerror=alert(1)>", '<a href="javascript:x">', "</a>", "&amp;", "&#106;",
        "&lt;", '"', "'", " onload=", "x", " ", "#", "---", "|", "\\", "!", "2024. ",
    ]
)  # fmt: skip
_MARKDOWNISH = st.lists(_PIECES | st.text(max_size=4), min_size=1, max_size=12).map("".join)
_TEXTS = _MARKDOWNISH | st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
_DETERMINISTIC = settings(derandomize=True, max_examples=400, deadline=None)


@_DETERMINISTIC
@given(text=_TEXTS)
def test_every_rendered_message_is_sanitised_and_balanced(text):
    html = render(text)
    checked = Checked()
    checked.feed(html)
    checked.close()
    assert checked.open == [], (text, html)
    assert "<script" not in html.lower()


@_DETERMINISTIC
@given(text=_TEXTS)
def test_a_rendered_message_is_a_fixpoint_of_the_sanitiser(text):
    """Nothing in it is something nh3 would take out or write otherwise."""
    html = render(text)
    assert sanitise(html) == html, text


@_DETERMINISTIC
@given(first=_TEXTS, second=_TEXTS)
def test_rendering_is_deterministic(first, second):
    """The same text gives the same html whenever it is rendered, whatever was
    rendered before it (nothing of one render leaks into the next)."""
    once = render(first)
    render(second)
    assert render(first) == once
    assert render(second) == render(second)


@contextmanager
def unguarded_linkify():
    """markdown-it-py's own inline linkify rule in place of the guarded one."""
    rules = render_module._markdown.inline.ruler
    rules.at("linkify", linkify_rule)
    try:
        yield
    finally:
        rules.at("linkify", render_module._linkify_after_a_scheme)


_SCHEMEISH = st.lists(
    st.sampled_from(["http", "https", "HTTPS", "ftp", "xhttp", "mailto", "://", ":", "//", " "])
    | _PIECES,
    min_size=1,
    max_size=10,
).map("".join)


@_DETERMINISTIC
@given(text=_SCHEMEISH | _MARKDOWNISH)
def test_the_guard_before_linkify_changes_no_output(text):
    """The guard only spares markdown-it's rule the places where it finds no link
    (it is there because the rule is quadratic in a text full of "://")."""
    guarded = render(text)
    with unguarded_linkify():
        assert render(text) == guarded, text
