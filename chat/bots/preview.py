"""Link previews: a page's title, description, site name and image, from its head.

`fetch_preview(url)` GETs the page through chat/bots/egress (public addresses
only, redirects re-checked, one deadline, 512 KiB at most, reading stops at
`</head>`, HTML and XHTML only) and `extract` reads what the page says about
itself: OpenGraph (`og:title`, `og:description`, `og:site_name`, `og:image`),
then Twitter cards (`twitter:title`, `twitter:description`, `twitter:image`),
then `<title>` and `<meta name="description">`. A tag counts by `property=` or
`name=` (pages use both), in any case; the first one with content wins.
Every text is cut to a length a preview shows, its white space collapsed,
control and bidirectional-override characters removed; the image is an
absolute http(s) URL (relative ones are resolved against the page's final
URL) or nothing. The image is never fetched here.

The parser is selectolax's Lexbor engine (pinned in requirements.txt): a
WHATWG-conformant HTML5 parser in C, so a head is read as a browser reads it
(unclosed tags, entities, `<noscript>` in the head, attributes in any quoting),
fast on half a megabyte, with CSS selectors and no dependencies; it is
maintained (releases through 2026). BeautifulSoup's default html.parser is not
an HTML5 parser and is slow in pure Python; html5lib, which would make it one,
is unmaintained since 2020; lxml's HTML parser is libxml2's HTML 4 one.

The text's encoding is decided as the HTML Standard's sniffing does: a byte
order mark, else the Content-Type's charset, else a `<meta charset>` or
`<meta http-equiv="Content-Type">` in the first 1024 bytes, else UTF-8 when
the bytes are UTF-8, windows-1252 when not; labels as the Encoding Standard
reads them (latin1 and ascii mean windows-1252), anything Python cannot
decode as text ignored.
"""

import codecs
import re
import socket
import ssl
import unicodedata
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from chat.bots import egress
from chat.bots.egress.destinations import Allowance, Resolver

HTML_TYPES = ("text/html", "application/xhtml+xml")
# Everything a preview shows is in the head; the rest of a page is not read.
HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)
# Lengths a preview card shows in full (longer ones end in "…"): a title is a
# line or two, a description a short paragraph.
TITLE_MAX = 200
DESCRIPTION_MAX = 500
SITE_NAME_MAX = 100
# Longer image URLs are junk or tracking blobs (data: URLs never pass anyway).
IMAGE_URL_MAX = 2048
# The HTML Standard's prescan looks for a charset declaration this far.
PRESCAN_BYTES = 1024
# Encoding Standard labels that name windows-1252, which Python reads otherwise.
_WINDOWS_1252 = {"latin1", "iso-8859-1", "iso8859-1", "l1", "ascii", "us-ascii", "iso-ir-100"}
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\"';\s]+)", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Characters a preview never shows: controls, and the bidirectional embeddings,
# overrides and isolates that could make a title read backwards.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


@dataclass(frozen=True)
class LinkPreview:
    """What a link's page says about itself; `url` is where the page was found
    (after redirects). title or description is set; the rest may be None."""

    url: str
    title: str | None
    description: str | None
    site_name: str | None
    image_url: str | None


def fetch_preview(
    url: str,
    *,
    allow: Allowance = (),
    timeout: float = egress.TIMEOUT,
    resolver: Resolver = socket.getaddrinfo,
    context: ssl.SSLContext | None = None,
) -> LinkPreview | None:
    """The preview of the page at `url`, None when it says nothing to show.

    Raises chat/bots/egress's errors: Refused (not a public destination),
    NetworkError and TimedOut, BadResponse (a status other than 2xx, too many
    redirects), WrongType (not HTML), TooBig (headers). `allow` is EGRESS_ALLOW
    (tests only); `resolver` and `context` are for tests.
    """
    response = egress.get(
        url,
        allow=allow,
        timeout=timeout,
        accept=HTML_TYPES,
        until=HEAD_END,
        cut=True,
        resolver=resolver,
        context=context,
    )
    return extract(response.body, response.url, response.charset)


def extract(body: bytes, url: str, charset: str | None = None) -> LinkPreview | None:
    """The preview in `body`, an HTML page found at `url` whose Content-Type
    declared `charset`; None when it has neither a title nor a description."""
    page = LexborHTMLParser(decode(body, charset), scripting=True)
    tags = _meta_tags(page)
    title = _first(tags, "og:title", "twitter:title") or _title(page)
    description = _first(tags, "og:description", "twitter:description", "description")
    title, description = _text(title, TITLE_MAX), _text(description, DESCRIPTION_MAX)
    if not title and not description:
        return None
    image = _first(tags, "og:image", "og:image:url", "og:image:secure_url", "twitter:image")
    return LinkPreview(
        url=url,
        title=title,
        description=description,
        site_name=_text(_first(tags, "og:site_name"), SITE_NAME_MAX),
        image_url=_image_url(image, url),
    )


def decode(body: bytes, charset: str | None = None) -> str:
    """`body` as text, in the encoding the HTML Standard's sniffing picks (see above)."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(encoding, errors="replace")
    encoding = _codec(charset)
    if encoding is None:
        encoding = _codec(_declared(body[:PRESCAN_BYTES]))
        if encoding and encoding.startswith("utf-16"):
            encoding = "utf-8"  # a page that could declare it in ASCII is not UTF-16
    if encoding is None:
        try:  # a body cut at the byte limit may end inside a character: not final
            return codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
        except UnicodeDecodeError:
            encoding = "cp1252"
    return body.decode(encoding, errors="replace")


def _declared(head: bytes) -> str | None:
    """The charset a `<meta>` in the first bytes declares (read as latin-1, which
    keeps every ASCII byte of the ASCII-compatible encodings as it is)."""
    page = LexborHTMLParser(head.decode("latin-1"))
    for meta in page.css("meta"):
        attributes = {k.lower(): v or "" for k, v in meta.attributes.items()}
        if attributes.get("charset"):
            return attributes["charset"].strip()
        if attributes.get("http-equiv", "").strip().lower() == "content-type":
            found = _CHARSET.search(attributes.get("content", ""))
            if found:
                return found.group(1)
    return None


def _codec(label: str | None) -> str | None:
    """Python's codec for an encoding label, or None for no label, an unknown
    one, or a codec that does not decode text (base64, rot13)."""
    if not label:
        return None
    label = label.strip().lower()
    if label in _WINDOWS_1252:
        return "cp1252"
    try:
        info = codecs.lookup(label)
    except LookupError:
        return None
    return info.name if info._is_text_encoding else None


def _meta_tags(page: LexborHTMLParser) -> dict[str, str]:
    """Each `<meta property|name=... content=...>`'s key (lower case) and its first
    non-blank content."""
    tags: dict[str, str] = {}
    for meta in page.css("meta[content]"):
        attributes = meta.attributes
        content = attributes.get("content") or ""
        for key in (attributes.get("property"), attributes.get("name")):
            if key and content.strip():
                tags.setdefault(key.strip().lower(), content)
    return tags


def _first(tags: dict[str, str], *keys: str) -> str | None:
    for key in keys:
        if key in tags:
            return tags[key]
    return None


def _title(page: LexborHTMLParser) -> str | None:
    node = page.css_first("title")
    return node.text() if node is not None else None


def _text(text: str | None, limit: int) -> str | None:
    """Shown text: no controls or direction overrides, white space collapsed,
    at most `limit` characters (cut ones end in "…"); None when nothing is left."""
    if text is None:
        return None
    kept = "".join(
        " " if c.isspace() else c
        for c in text
        if c.isspace() or (unicodedata.category(c) not in ("Cc", "Cs") and c not in _BIDI)
    )
    text = " ".join(kept.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def _image_url(image: str | None, page_url: str) -> str | None:
    """The image's absolute http(s) URL, resolved against the page's; None for
    any other scheme (data:, javascript:), no host, or odd characters."""
    if not image:
        return None
    image = image.strip()
    try:
        absolute = urljoin(page_url, image)
        parts = urlsplit(absolute)
    except ValueError:
        return None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or len(absolute) > IMAGE_URL_MAX
        or any(c.isspace() or unicodedata.category(c) == "Cc" for c in absolute)
    ):
        return None
    return absolute
