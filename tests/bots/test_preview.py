"""Link previews: what a page's head says, read from bytes and fetched from a real local server."""

import pytest

from chat.bots.egress import Refused, TimedOut, WrongType
from chat.bots.preview import (
    DESCRIPTION_MAX,
    TITLE_MAX,
    LinkPreview,
    decode,
    extract,
    fetch_preview,
)

from .pages import Endless, Page, PageServer, Redirect, Trickle

URL = "https://news.example/a/story"

OG_PAGE = """<!doctype html><html><head>
<title>Plain title</title>
<meta name="description" content="Plain description">
<meta property="og:title" content="The &amp; story">
<meta property="og:description" content="What happened,
   told   briefly.">
<meta property="og:site_name" content="News Example">
<meta property="og:image" content="/img/cover.png">
<meta name="twitter:title" content="Twitter title">
</head><body><h1>x</h1></body></html>"""

TWITTER_PAGE = """<html><head><title>Plain</title>
<meta name="twitter:title" content="Card title">
<meta name="twitter:description" content="Card description">
<meta name="twitter:image" content="https://cdn.example/card.jpg">
</head></html>"""


@pytest.fixture
def server():
    server = PageServer()
    yield server
    server.close()


def test_opengraph_tags_make_the_preview():
    assert extract(OG_PAGE.encode(), URL) == LinkPreview(
        url=URL,
        title="The & story",
        description="What happened, told briefly.",
        site_name="News Example",
        image_url="https://news.example/img/cover.png",
    )


def test_twitter_cards_fill_in_for_missing_opengraph():
    assert extract(TWITTER_PAGE.encode(), URL) == LinkPreview(
        URL, "Card title", "Card description", None, "https://cdn.example/card.jpg"
    )


def test_the_title_and_meta_description_are_the_last_fallbacks():
    page = b"<title>\n  Just a   title </title><meta name=Description content='About it'>"
    assert extract(page, URL) == LinkPreview(URL, "Just a title", "About it", None, None)
    assert extract(b"<title>Only this</title>", URL) == LinkPreview(
        URL, "Only this", None, None, None
    )


def test_tags_count_by_name_or_property_in_any_case_and_blank_ones_do_not():
    page = b"""<meta name="OG:Title" content="By name"><meta property="og:description" content="  ">
    <meta property="twitter:description" content="By property">"""
    assert extract(page, URL) == LinkPreview(URL, "By name", "By property", None, None)


@pytest.mark.parametrize(
    "page",
    [b"", b"<html><head></head><body>Words but no title</body></html>", b"<title> \n </title>"],
)
def test_a_page_with_nothing_to_show_has_no_preview(page):
    assert extract(page, URL) is None


def test_texts_lose_controls_and_direction_overrides_and_are_bounded():
    title = "a\x00b\x07c\u202eevil\u2066d\u200f " + "x" * 500
    page = f'<meta property="og:title" content="{title}">'
    page += f'<meta name="description" content="{"y" * 900}">'
    preview = extract(page.encode(), URL)
    # The HTML parser itself makes a NUL U+FFFD (as the HTML Standard says).
    assert preview.title.startswith("a\ufffdbcevild x")
    assert len(preview.title) == TITLE_MAX and preview.title.endswith("…")
    assert len(preview.description) == DESCRIPTION_MAX


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("/img/a.png", "https://news.example/img/a.png"),
        ("b.png", "https://news.example/a/b.png"),
        ("//cdn.example/c.png", "https://cdn.example/c.png"),
        ("  http://cdn.example/d.png  ", "http://cdn.example/d.png"),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,iVBORw0KGgo=", None),
        ("ftp://cdn.example/e.png", None),
        ("http:///nohost.png", None),
        ("https://cdn.example/" + "f" * 3000, None),
    ],
)
def test_the_image_is_an_absolute_http_url_or_nothing(image, expected):
    page = f'<title>t</title><meta property="og:image" content="{image}">'
    assert extract(page.encode(), URL).image_url == expected


@pytest.mark.parametrize(
    ("body", "charset", "text"),
    [
        ("<title>Grüße</title>".encode("iso-8859-1"), "iso-8859-1", "Grüße"),
        ("<title>Привет</title>".encode("koi8-r"), "koi8-r", "Привет"),
        ('<meta charset="windows-1251"><title>Привет</title>'.encode("cp1251"), None, "Привет"),
        (
            '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
            "<title>日本語</title>".encode("shift_jis"),
            None,
            "日本語",
        ),
        # The header's charset wins over the page's; a BOM over both.
        ('<meta charset="koi8-r"><title>Grüße</title>'.encode(), "utf-8", "Grüße"),
        (b"\xef\xbb\xbf<title>Gr\xc3\xbc\xc3\x9fe</title>", "iso-8859-1", "Grüße"),
        # latin1 means windows-1252, as in browsers: 0x93 0x94 are quotes.
        (b"<title>\x93quoted\x94</title>", "latin1", "\u201cquoted\u201d"),
        # Nothing declared: UTF-8 when it is UTF-8, windows-1252 when not.
        ("<title>naïve</title>".encode(), None, "naïve"),
        ("<title>naïve</title>".encode("cp1252"), None, "naïve"),
        # A body cut at the byte limit inside a character is still UTF-8.
        ("<title>naïve</title><p>€".encode()[:-1], None, "naïve"),
        # Labels that name no text encoding are ignored.
        ("<title>naïve</title>".encode(), "base64", "naïve"),
        ('<meta charset="rot13"><title>naïve</title>'.encode(), "no-such-charset", "naïve"),
        ('<meta charset="utf-16"><title>naïve</title>'.encode(), None, "naïve"),
    ],
)
def test_the_declared_charset_is_honoured(body, charset, text):
    assert text in decode(body, charset)
    assert extract(body, URL, charset).title == text


# --- fetched from a real server ---------------------------------------------------------


def test_a_page_with_opengraph_tags_is_previewed(server):
    server.pages["/story"] = Page(OG_PAGE)
    preview = fetch_preview(server.url("/story"), allow=server.allow)
    assert preview.title == "The & story" and preview.site_name == "News Example"
    assert preview.image_url == server.url("/img/cover.png")


def test_a_twitter_card_page_and_a_title_only_page_are_previewed(server):
    server.pages["/card"] = Page(TWITTER_PAGE)
    server.pages["/title"] = Page("<html><head><title>Just this</title></head></html>")
    assert fetch_preview(server.url("/card"), allow=server.allow).title == "Card title"
    assert fetch_preview(server.url("/title"), allow=server.allow) == LinkPreview(
        server.url("/title"), "Just this", None, None, None
    )


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html; charset=windows-1251", "<title>Привет</title>".encode("cp1251")),
        ("text/html", '<meta charset="koi8-r"><title>Привет</title>'.encode("koi8-r")),
    ],
)
def test_a_page_in_another_charset_is_previewed(server, content_type, body):
    server.pages["/ru"] = Page(body, content_type)
    assert fetch_preview(server.url("/ru"), allow=server.allow).title == "Привет"


def test_a_redirected_page_is_previewed_against_its_final_url(server):
    server.pages["/short"] = Redirect("/articles/long")
    server.pages["/articles/long"] = Page(
        '<title>t</title><meta property="og:image" content="i.png">'
    )
    preview = fetch_preview(server.url("/short"), allow=server.allow)
    assert preview.url == server.url("/articles/long")
    assert preview.image_url == server.url("/articles/i.png")


def test_a_non_html_answer_has_no_preview(server):
    server.pages["/pic"] = Page(b"\x89PNG\r\n\x1a\n", "image/png")
    with pytest.raises(WrongType):
        fetch_preview(server.url("/pic"), allow=server.allow)


def test_an_endless_page_is_read_only_to_its_head(server):
    server.pages["/long"] = Endless(start=b"<html><head><title>Long</title></head><body>")
    assert fetch_preview(server.url("/long"), allow=server.allow).title == "Long"
    assert server.sent.get("/long", 0) < 10_000_000  # reading stopped; the server gave up


def test_an_endless_head_is_cut_at_the_byte_limit_and_still_read(server):
    server.pages["/huge"] = Endless(start=b"<html><head><title>Huge</title><script>")
    assert fetch_preview(server.url("/huge"), allow=server.allow).title == "Huge"


def test_a_slow_page_ends_within_the_deadline(server):
    server.pages["/slow"] = Trickle()
    with pytest.raises(TimedOut):
        fetch_preview(server.url("/slow"), allow=server.allow, timeout=0.5)


def test_a_preview_of_a_local_address_is_refused():
    with pytest.raises(Refused):
        fetch_preview("http://169.254.169.254/latest/meta-data/")
