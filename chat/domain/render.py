"""Message text to HTML: a small Markdown subset, rendered once at send, sanitised with nh3.

markdown-it-py's "zero" preset with only the rules a chat needs, all of them
markdown-it-py's own: emphasis, strikethrough (`~~x~~`), code spans, fenced
code, links, bare URLs made links (its linkify, with linkify-it-py), line
breaks, bullet and numbered lists and block quotes. Left off on purpose:
headings, thematic breaks, setext headings and indented code (a `#`, a
`---` or four spaces in a chat line are text, not layout), images (a
message never loads anything), tables, and raw HTML, which stays text.
Whatever the renderer lets through, nh3 keeps only the tags and attributes
below and gives every link rel="noopener noreferrer", so an `<img onerror>`
or a `<script>` can never reach a page.

A link's href is an absolute http, https or mailto URL and nothing else
(`link_href`): not `javascript:` or `data:`, and not a relative or
protocol-relative one either (`//evil.example`, `/logout`, `@bob`), which
would lead readers elsewhere on this site or to another under this site's
name. It is checked at two depths: markdown-it's `validateLink` refuses the
link, so `[x](//evil.example)` stays the text it was typed as (the reader
sees where it pointed), and a link it makes all the same (an empty
destination: `[x]()`) loses its `<a>` and keeps its text; then nh3's
`attribute_filter` drops any other href that reaches it. The scheme of an
href is written in lower case (`HTTPS://x` links to `https://x`).

`@username` becomes <span class="mention" data-user="username">@username</span>
(the name lower-cased in data-user) where it is a real mention (`_mention_at`,
docs/protocol.md "Mentions"): pages highlight the ones naming their reader,
and every write of a message's text records exactly who its current html
mentions (`mentioned`). Raw HTML in the text stays text, so every data-user
attribute in a rendered message comes from this rule.

A bare URL is a link when it starts with its scheme (`https://x.example/a`)
and an e-mail address a mailto link (linkify-it's own rules: a trailing `.`,
`,` or an unbalanced `)` is not part of the URL; nor is a trailing `:`, which
`_colon_out_of_urls` adds to them). Scheme-less host names are
not (linkify-it's "fuzzy links"): in a team's chat `app.py` and `README.md`
are files, not the sites of Paraguay and Moldova. The link rules above apply
to these links too. A mention inside a URL is refused by the mention rule
itself, linkified or not (linkify reads a URL whole at its `://`, before the
`@` in it is reached).

`:name:` becomes its emoji (chat/domain/shortcodes.py, from the `emoji`
package) outside code, URLs and link destinations, where the colons stand
apart from the words around them (`a:b:c`, `10:30:00` are text): what a
message shows is decided here, once, for every surface. The text as typed
is kept in `content`.

Messages are rendered once, when sent (or edited), and their html stored:
a change of these rules shows on new messages only.
"""

import bisect
import re
import unicodedata

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline.linkify import linkify as linkify_rule
from markdown_it.token import Token

from chat.domain.shortcodes import NAME_MAX, emoji_for

# What may follow the `@`: a username as migrations/0001 allows it. The name
# is the whole run of these characters less any trailing '.' and '-' (so
# "thanks @eren." mentions eren).
_NAME_RUN = re.compile(r"[A-Za-z0-9_.-]*")
_NAME_MAX = 32
# Right before the `@` (or before the emphasis markers in front of it, as in
# "**@eren**"): the start of the text, whitespace, an opening bracket or
# quote (any Unicode Ps or Pi character, plus those below), or a separator
# that ends a clause ("thanks,@eren", "cc:@eren"). Anything else is part of
# a word, an address or a URL: "x@eren", "a/@eren", "@@eren".
_OPENERS = frozenset("([{<\"'\u00a1\u00bf")  # ( [ { < " ' ¡ ¿
# , ; : ! ? and the CJK ， 、 ； ： ！ ？ 。 (CJK text puts no space before a name)
_SEPARATORS = frozenset(",;:!?\uff0c\u3001\uff1b\uff1a\uff01\uff1f\u3002")
_EMPHASIS = frozenset("*_~")
# A URL's marks in the token (the text since the last whitespace) before
# the `@`: a path ("a/b,(@eren" is inside https://x/a/b,(@eren) or a scheme
# with something after it ("mailto:x?cc=(@eren"). A word and a colon right
# before the `@` are `_SCHEMES_BEFORE_AT`'s to judge. A scheme starts only
# where a word starts (the lookbehind), so each word start gives at most one
# match, and the leftmost match in a token is also the one that ends first.
_URL_LEAD = re.compile(r"/|(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*:\S")
# "mailto:@eren" is the start of a URL, "cc:@eren" a mention: a colon right
# before the `@` ends a clause, unless the word before it is one of these URI
# schemes (IANA's registry, and the unregistered javascript and vbscript:
# those a chat's text is likely to hold, none of them an English word one
# would put a colon after).
_SCHEMES_BEFORE_AT = frozenset(
    "http https ftp ftps sftp file data javascript vbscript mailto tel sms mms "
    "fax callto facetime skype xmpp irc ircs matrix geo sip sips news nntp "
    "ws wss ssh git svn ldap ldaps telnet rtsp magnet bitcoin urn".split()
)
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_SPACE = re.compile(r"\s")
_DATA_USER = re.compile(r'<span class="mention" data-user="([a-z0-9_.-]+)">')


def _mention_at(src: str, pos: int, end: int, tokens: "_Tokens") -> tuple[str, int] | None:
    """The username and end of the mention whose `@` is at src[pos], or None
    (`end`: where the inline text being parsed ends).

    A real mention (as in Slack, Zulip, Mattermost): at the start of a
    whitespace-separated token or after opening punctuation, never inside a
    word, an address or a URL, and naming a whole username: "@eren@host" (a
    handle elsewhere), "@types/node" (a path, an npm scope) and "@erenö"
    name nobody here.
    """
    start = pos
    while start > 0 and src[start - 1] in _EMPHASIS:
        start -= 1
    if start > 0 and not src[start - 1].isspace():
        before = src[start - 1]
        if not (
            before in _OPENERS
            or before in _SEPARATORS
            or unicodedata.category(before) in ("Ps", "Pi")
        ):
            return None
        if tokens.url_mark_end(start) <= start or _scheme_ends_at(src, start - 1):
            return None
    run_end = _NAME_RUN.match(src, pos + 1, end).end()
    if run_end < end and (src[run_end] in "@/" or unicodedata.category(src[run_end])[0] in "LMN"):
        return None
    name = src[pos + 1 : run_end]
    # "_@eren_": an underscore that opened emphasis before the `@` closes it after.
    for _ in range(src.count("_", start, pos)):
        name = name.rstrip(".-").removesuffix("_")
    name = name.rstrip(".-")
    if not 1 <= len(name) <= _NAME_MAX or name[0] in ".-":
        return None
    return name, pos + 1 + len(name)


def _scheme_ends_at(src: str, colon: int) -> bool:
    """Whether src[colon] is the colon after a URI scheme (`_SCHEMES_BEFORE_AT`),
    the scheme being a whole word: "mailto:", "(tel:", not "xmailto:"."""
    if src[colon] != ":":
        return False
    start = colon
    while start > 0 and src[start - 1] in _SCHEME_CHARS:
        start -= 1
    return src[start:colon].lower() in _SCHEMES_BEFORE_AT


class _Tokens:
    """The whitespace-separated tokens of one inline text, and where the first
    URL mark of each ends: found once per render and token, so that a text
    full of `(@a(@a...` costs linear time, not quadratic."""

    def __init__(self, src: str):
        self.src = src
        self.spaces = [m.start() for m in _SPACE.finditer(src)]
        self.marks: dict[int, int] = {}

    def url_mark_end(self, pos: int) -> int:
        """Where the first URL mark of the token holding `pos` ends (past the
        token's end when it has none)."""
        i = bisect.bisect_left(self.spaces, pos)
        first = self.spaces[i - 1] + 1 if i else 0
        if first not in self.marks:
            last = self.spaces[i] if i < len(self.spaces) else len(self.src)
            found = _URL_LEAD.search(self.src, first, last)
            self.marks[first] = found.end() if found else last + 1
        return self.marks[first]


def _mention_rule(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] != "@" or state.linkLevel > 0:  # a link's text is the link's
        return False
    # state.env lives for one render: the tokens of each inline text it parses.
    tokens = state.env.setdefault("mention_tokens", {})
    if state.src not in tokens:
        tokens[state.src] = _Tokens(state.src)
    found = _mention_at(state.src, state.pos, state.posMax, tokens[state.src])
    if found is None:
        return False
    name, end = found
    if not silent:
        token = state.push("mention", "span", 0)
        token.meta = {"username": name}
    state.pos = end
    return True


def _render_mention(self, tokens, idx, options, env) -> str:
    name = tokens[idx].meta["username"]
    return f'<span class="mention" data-user="{name.lower()}">@{name}</span>'


# An absolute URL of an allowed scheme: http(s) with "//" and a host after
# it ("http:evil" is relative to the page's own address in a browser, and
# "http:///evil" or "http://\\evil" are not what they seem), or mailto with
# an address. Nothing is trimmed first: a space or a control character in
# front of the scheme ("java\tscript:") fails the match instead.
_LINK_HREF = re.compile(r"(https?)://(?=[^/\\?#\s])|(mailto):(?=\S)", re.IGNORECASE)


def link_href(url: str) -> str | None:
    """`url` as a message's link may point to it (its scheme in lower case),
    or None: only absolute http, https and mailto URLs."""
    match = _LINK_HREF.match(url)
    if match is None:
        return None
    scheme = match.group(1) or match.group(2)
    return scheme.lower() + url[len(scheme) :]


def _unlink_refused(state: StateCore) -> None:
    """A link markdown-it made with an href `link_href` refuses (an empty
    destination passes validateLink's veto) becomes its text; the others get
    their scheme in lower case. Links do not nest, so one flag follows them."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        kept, refused = [], False
        for token in block.children:
            if token.type == "link_open":
                href = link_href(str(token.attrGet("href") or ""))
                refused = href is None
                if refused:
                    continue
                token.attrSet("href", href)
            elif token.type == "link_close" and refused:
                refused = False
                continue
            kept.append(token)
        block.children = kept


def _colon_out_of_urls(state: StateCore) -> None:
    """linkify-it ends a bare URL before a trailing `.`, `,`, `;`, `!`, `?` or an
    unbalanced `)`, but reads a trailing `:` into it ("see https://x.example/a:
    it"): that colon is the sentence's too, and goes after the link."""
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        kept: list[Token] = []
        for token in block.children:
            kept.append(token)
            if token.type != "link_close" or token.markup != "linkify" or len(kept) < 3:
                continue
            opener, text = kept[-3], kept[-2]
            href = str(opener.attrGet("href") or "")
            if text.type != "text" or not text.content.endswith(":") or not href.endswith(":"):
                continue
            colons = len(text.content) - len(text.content.rstrip(":"))
            text.content = text.content[:-colons]
            opener.attrSet("href", href[:-colons])
            after = Token("text", "", 0)
            after.content = ":" * colons
            kept.append(after)
        block.children = kept


# `:name:` with a name of shortcodes.NAME (any case) in it.
_SHORTCODE = re.compile(rf":([A-Za-z0-9_+-]{{1,{NAME_MAX}}}):")


def _emoji_rule(state: StateInline, silent: bool) -> bool:
    """`:smile:` -> 😄 where the colons stand apart: not glued to a letter or a
    digit on either side ("a:b:c", "10:30:00", "x:smile:" are text)."""
    pos, src = state.pos, state.src
    if src[pos] != ":" or (pos > 0 and src[pos - 1].isalnum()):
        return False
    match = _SHORTCODE.match(src, pos, state.posMax)
    if match is None or (match.end() < state.posMax and src[match.end()].isalnum()):
        return False
    found = emoji_for(match.group(1))
    if found is None:
        return False
    if not silent:
        token = state.push("emoji", "", 0)
        token.content = found
        token.markup = match.group(0)
    state.pos = match.end()
    return True


# markdown-it-py's inline linkify rule looks for the scheme before every "://"
# with a regex over all the text since the last token: quadratic in a text made
# of "://" (4,000 characters of it took half a second of the worker's only
# thread). The schemes linkify-it reads there are http, https and ftp, so the
# rule runs only where the text just before the colon ends in one of them
# (and starts a word), which is exactly where it can find a link.
_SCHEME_BEFORE = re.compile(r"(?:\A|[^A-Za-z0-9.+-])(?:https?|ftp)\Z", re.IGNORECASE)


def _linkify_after_a_scheme(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] != ":" or not _SCHEME_BEFORE.search(state.pending[-6:]):
        return False
    return linkify_rule(state, silent)


def _render_emoji(self, tokens, idx, options, env) -> str:
    return escapeHtml(tokens[idx].content)


_markdown = MarkdownIt("zero", {"breaks": True, "html": False, "linkify": True}).enable(
    [
        "emphasis", "strikethrough", "backticks", "fence", "link", "newline", "autolink",
        "escape", "list", "blockquote", "linkify",
    ]
)  # fmt: skip
# Only URLs that start with their scheme (and e-mail addresses): see the docstring.
_markdown.linkify.set({"fuzzy_link": False, "fuzzy_email": True})
_markdown.inline.ruler.at("linkify", _linkify_after_a_scheme)
_markdown.inline.ruler.before("emphasis", "mention", _mention_rule)
_markdown.add_render_rule("mention", _render_mention)
# An emoji is a token of its own, never text: linkify does not read it into a
# URL, and the text of its neighbours is read as it was typed.
_markdown.inline.ruler.before("emphasis", "emoji", _emoji_rule)
_markdown.add_render_rule("emoji", _render_emoji)
# markdown-it asks this of every link and autolink destination (normalised:
# entities decoded, the rest percent-encoded); a refused one is not a link.
_markdown.validateLink = lambda url: link_href(url) is not None
_markdown.core.ruler.push("colon_out_of_urls", _colon_out_of_urls)
_markdown.core.ruler.push("unlink_refused", _unlink_refused)

_TAGS = {
    "p", "br", "em", "strong", "s", "code", "pre", "a", "span", "ul", "ol", "li", "blockquote",
}  # fmt: skip
# A numbered list that starts elsewhere than 1 ("3. third") says so in `start`.
_ATTRIBUTES = {
    "a": {"href"},
    "code": {"class"},
    "span": {"class", "data-user"},
    "ol": {"start"},
}
# nh3's own scheme filter: it lets a URL without a scheme through
# ("//evil.example"), which `_keep_attribute` does not.
_SCHEMES = {"http", "https", "mailto"}


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3's last word on every attribute: an href only as `link_href` allows it,
    a list's start only as a number (markdown-it writes at most 9 digits)."""
    if attribute == "href":
        return link_href(value)
    if attribute == "start":
        return value if value.isascii() and value.isdigit() and len(value) <= 9 else None
    return value


# Text made only of these characters is one paragraph of itself, unless it
# starts like a numbered list item ("1. ", "2024.", "3)"): no rule of the
# subset reacts to any of them, and none needs escaping in HTML. Such text
# (most chat lines) skips the parser and the sanitiser, about 50 µs a message;
# tests/domain/test_render.py checks the two ways agree on any such text.
_PLAIN = re.compile(r"[A-Za-z0-9 ,.;?'\"()|%$=]+")
_NUMBERED = re.compile(r" *[0-9]{1,9}[.)](?: |$)")


def render(content: str) -> str:
    """Sanitised HTML for one message's text."""
    if _PLAIN.fullmatch(content) and not _NUMBERED.match(content):
        text = content.strip(" ")
        if text:
            return f"<p>{text}</p>"
    return sanitise(_markdown.render(content))


def sanitise(html: str) -> str:
    """`html` with only the subset's tags and attributes, and only allowed links."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_keep_attribute,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer",
    ).strip()


def mentioned(html: str) -> list[str]:
    """The lower-cased usernames a rendered message mentions, each once, in order."""
    return list(dict.fromkeys(_DATA_USER.findall(html)))


def for_reader(html: str, username: str) -> str:
    """The message's HTML with mentions of `username` marked for highlighting."""
    name = username.lower()
    return html.replace(
        f'<span class="mention" data-user="{name}">',
        f'<span class="mention me" data-user="{name}">',
    )
