"""Markdown subset to sanitised HTML: what renders, and what must never reach a page."""

import html
from html.parser import HTMLParser

import nh3
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from chat.domain.render import _SCHEMES_BEFORE_AT, for_reader, mentioned, render, sanitise
from chat.domain.render import _markdown as parser
from chat.storage import migrate

from ..schema import database_at


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


def hrefs(html: str) -> list[str]:
    """Every href in `html`, as a browser reads it (entities decoded)."""
    elements = Elements()
    elements.feed(html)
    return [value for _tag, attrs in elements.found for name, value in attrs if name == "href"]


def test_links_open_safely():
    assert 'rel="noopener noreferrer"' in render("<https://example.com>")


# --- a link's href: an absolute http, https or mailto URL, nothing else -------------

# Destinations that are not one: relative and protocol-relative (another site
# under this one's name), backslashes browsers read as slashes, schemes with
# white space, controls or percent-encoding in them, schemes without "//",
# and the other schemes.
HOSTILE_HREFS = [
    "//evil.example/a", "///evil.example", "/logout", "/rooms/general/remove", "@bob",
    "evil.example", "./x", "../x", "#top", "?q=1", "/\\evil.example", "\\\\evil.example",
    "\\/evil.example", " //evil.example", "java\tscript:alert(1)", "java\nscript:alert(1)",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "\x01javascript:x",
    "http:evil.example", "https:evil.example", "http:/evil.example", "http:\\\\evil.example",
    "https:///evil.example", "https://\\evil.example", "http://",
    "%6Aavascript:alert(1)", "%68ttps://evil.example", "&#x2F;&#x2F;evil.example",
    "&#106;avascript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=",
    "data:image/png;base64,iVBORw0KGgo=", "vbscript:msgbox(1)", "file:///etc/passwd",
    "ftp://evil.example", "mailto:", "tel:+1234", "blob:https://x/y",
    "intent://evil.example#Intent;end", "",
]  # fmt: skip


class Links(HTMLParser):
    """Every <a>'s href and text, as a browser reads them."""

    def __init__(self):
        super().__init__()
        self.found: list[list[str]] = []
        self.open = False

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.found.append([dict(attrs).get("href", ""), ""])
            self.open = True

    def handle_endtag(self, tag):
        self.open = self.open and tag != "a"

    def handle_data(self, data):
        if self.open:
            self.found[-1][1] += data


def links(html: str) -> list[tuple[str, str]]:
    parser = Links()
    parser.feed(html)
    return [(href, text) for href, text in parser.found]


@pytest.mark.parametrize("href", HOSTILE_HREFS, ids=repr)
def test_a_link_is_only_ever_an_absolute_http_https_or_mailto_url(href):
    """As a Markdown link, with its destination in <>, as an autolink, and as raw
    HTML handed to the sanitiser (the second depth): no link to it. A URL with
    its scheme that the refused text shows (`blob:https://x/y`) is linkified as
    any bare URL is: a link to exactly what it shows."""
    for text in (f"[x]({href})", f"[x](<{href}>)", f"<{href}>", f"**[x]({href})**"):
        for target, shown in links(render(text)):
            if not target:
                continue  # an <a> without a destination is not a link (docs/protocol.md)
            assert target == shown and target.startswith(("https://", "http://")), text
    assert hrefs(sanitise(f'<a href="{href}">x</a>')) == []
    assert hrefs(sanitise(f"<a href='{href}'>x</a>")) == []


@pytest.mark.parametrize(
    "text, href",
    [
        ("[x](https://example.com/a?b=1#c)", "https://example.com/a?b=1#c"),
        ("[x](http://example.com)", "http://example.com"),
        ("[x](HTTPS://Example.com/A)", "https://Example.com/A"),  # the scheme in lower case
        ("[x](Http://example.com)", "http://example.com"),
        ("<https://example.com/a>", "https://example.com/a"),
        ("<HTTPS://example.com>", "https://example.com"),
        ("[x](mailto:a@example.com)", "mailto:a@example.com"),
        ("[x](MAILTO:a@example.com)", "mailto:a@example.com"),
        ("<mailto:a@example.com>", "mailto:a@example.com"),
        ("<a@example.com>", "mailto:a@example.com"),
        ("[x](<https://example.com/a b>)", "https://example.com/a%20b"),
    ],
)
def test_absolute_http_https_and_mailto_links_stay_links(text, href):
    assert hrefs(render(text)) == [href]


@pytest.mark.parametrize(
    "text, html",
    [
        ("[x](//evil.example/a)", "<p>[x](//evil.example/a)</p>"),  # shown as typed
        ("[x](/logout) ok", "<p>[x](/logout) ok</p>"),
        ("[x]()", "<p>x</p>"),  # an empty destination: the text stays, the link goes
        ("<//evil.example>", "<p>&lt;//evil.example&gt;</p>"),
    ],
)
def test_a_refused_link_is_plain_text(text, html):
    assert render(text) == html


# --- migration 0012: the hrefs stored before ---------------------------------------


@pytest.fixture
def at_0011(pg_server):
    with database_at(pg_server, "0011_reaction_invisibles") as conninfo:
        yield conninfo


def _stored_before(href: str) -> str:
    """What render() stored for a link to `href` before: nh3's scheme filter only."""
    return nh3.clean(
        f'<p><a href="{html.escape(href)}">x</a> and <a href="https://ok.example/">y</a></p>',
        tags={"p", "a"},
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def test_0012_takes_refused_hrefs_out_of_the_html_stored_before(at_0011):
    """Messages, edit events and earlier versions: each link keeps its href exactly
    when today's sanitiser would (the <a> and its text stay)."""
    allowed = ["https://x.example/a?b=1&c=2", "http://x.example", "mailto:a@b.example"]
    stored = [_stored_before(href) for href in HOSTILE_HREFS + allowed]
    assert sum(hrefs(old) != hrefs(sanitise(old)) for old in stored) > 10  # some to take out
    with psycopg.connect(at_0011, autocommit=True, row_factory=dict_row) as conn:
        user = conn.execute(
            "INSERT INTO users (username, password_hash) VALUES ('eren', 'x') RETURNING id"
        ).fetchone()["id"]
        for seq, old in enumerate(stored, start=1):
            conn.execute(
                "INSERT INTO messages (room_id, seq, user_id, content, html, kind)"
                " VALUES (1, %s, %s, 'x', %s, 'chat')",
                (seq, user, old),
            )
            conn.execute(
                "INSERT INTO message_versions (room_id, seq, version, content, html, written_at)"
                " VALUES (1, %s, 1, 'x', %s, now())",
                (seq, old),
            )
        conn.execute("UPDATE rooms SET last_seq = %s WHERE id = 1", (len(stored),))

    assert migrate.migrate(at_0011)[0] == "0012_link_hrefs"

    with psycopg.connect(at_0011, autocommit=True, row_factory=dict_row) as conn:
        for table in ("messages", "message_versions"):
            rows = conn.execute(f"SELECT html FROM {table} ORDER BY seq").fetchall()
            assert [r["html"] for r in rows] == [sanitise(old) for old in stored], table
            for row in rows:
                assert all(href.startswith(("http", "mailto:")) for href in hrefs(row["html"]))
                assert "https://ok.example/" in hrefs(row["html"])


# Link destinations made of what URLs are made of (schemes in any case,
# slashes, backslashes, entities, percent-encoding, spaces), in every form a
# link takes, among other text.
_URL_PIECES = st.sampled_from(
    [
        "http", "https", "HTTPS", "mailto", "MailTo", "javascript", "data", "file", ":", "//",
        "/", "\\", "%2F", "%3A", "&#47;", "&#x3a;", "a@b.example", "evil.example", " ", "\t",
        "@", "?", "#", "x", "<", ">",
    ]
)  # fmt: skip
_URL_STARTS = st.sampled_from(
    [
        "", "https://", "http://", "HTTPS://", "hTtP://", "mailto:", "MAILTO:", "https:",
        "https:/", "https:///", "https:\\\\", "//", "/", "\\", "javascript:", " https://",
    ]
)  # fmt: skip
_DESTINATIONS = st.builds(
    "{}{}".format, _URL_STARTS, st.lists(_URL_PIECES | st.text(max_size=2), max_size=5).map("".join)
)
_LINKS = st.builds(
    str.format,
    st.sampled_from(["[{0}]({1})", "[{0}](<{1}>)", "<{1}>", "[{0}]({1} 'title')", "![{0}]({1})"]),
    st.text(st.sampled_from("xy @*[]`"), max_size=4),
    _DESTINATIONS,
)
_LINKISH = st.lists(_LINKS | _URL_PIECES | st.text(max_size=3), min_size=1, max_size=6).map("".join)


@given(text=_LINKISH | st.text(max_size=40))
def test_every_href_in_a_rendered_message_is_absolute_http_https_or_mailto(text):
    for href in hrefs(render(text)):
        assert href.startswith(("http://", "https://", "mailto:")), (text, href)
        if href.startswith("http"):
            assert href.split("//", 1)[1][:1] not in ("", "/", "\\"), (text, href)


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


# --- properties of the mention rule (table of cases: tests/actions/test_mentions.py)

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


_CASED_SCHEMES = st.sampled_from(sorted(_SCHEMES_BEFORE_AT)).flatmap(
    lambda scheme: st.tuples(*(st.sampled_from((c.lower(), c.upper())) for c in scheme)).map(
        "".join
    )
)
_CLAUSE_WORDS = st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True).filter(
    lambda word: word.lower() not in _SCHEMES_BEFORE_AT
)


@_DETERMINISTIC
@given(scheme=_CASED_SCHEMES, name=_NAMES, opener=st.sampled_from(["", " ", "(", "see "]))
def test_an_at_right_after_a_uri_scheme_never_mentions(scheme, name, opener):
    """`mailto:@bob`, `JavaScript:@bob`, `(tel:@bob`: the start of a URL."""
    assert mentioned(render(f"{opener}{scheme}:@{name}")) == []
    assert mentioned(render(f"{opener}{scheme}:**@{name}**")) == []


@_DETERMINISTIC
@given(word=_CLAUSE_WORDS, name=_NAMES)
def test_an_at_after_any_other_word_and_a_colon_mentions(word, name):
    """`cc:@bob`, `re:@bob`, `to:@bob`: the colon ends a clause."""
    assert mentioned(render(f"{word}:@{name}")) == [name.lower()]


@_DETERMINISTIC
@given(text=_PLAIN)
def test_every_marked_mention_is_written_in_the_text(text):
    """A mention span only ever shows an @name the text holds, outside code."""
    for name in mentioned(render(text)):
        assert f"@{name}" in text.lower()


# The fast path's characters, and the ones that end it, in any order.
_PLAIN_CHARS = "aZ09 ,.;?'\"()|%$="


@settings(max_examples=500)
@given(
    st.one_of(
        st.text(alphabet=_PLAIN_CHARS, max_size=40),
        st.text(alphabet=_PLAIN_CHARS + "-*:@/\n\u00a0é", max_size=40),
    )
)
def test_plain_text_renders_as_the_parser_would(text):
    """render() skips the parser for text of plain characters (chat/domain/render.py
    _PLAIN): whatever the text, the answer is the parser's and sanitiser's."""
    assert render(text) == sanitise(parser.render(text))


@pytest.mark.parametrize(
    "text", ["1. x", "2024.", "3)", "  12) twelve", "a  b", "   ", 'say "hi", it\'s 50% (c)']
)
def test_plain_text_that_looks_like_a_list_or_is_blank_goes_to_the_parser(text):
    assert render(text) == sanitise(parser.render(text))
