"""Message text to HTML: a small Markdown subset, rendered once at send, sanitised with nh3.

markdown-it-py's "zero" preset with only the rules a chat needs (emphasis,
code, fenced code, links, line breaks); raw HTML in the text stays text.
Whatever the renderer lets through, nh3 keeps only the tags and attributes
below and gives every link rel="noopener noreferrer", so a `javascript:` or
`data:` link, an `<img onerror>` or a `<script>` can never reach a page.

`@username` becomes <span class="mention" data-user="username">@username</span>
(the name lower-cased in data-user), outside code: pages highlight the ones
naming their reader, and the sender's transaction records who was mentioned
(`mentioned`). Raw HTML in the text stays text, so every data-user attribute
in a rendered message comes from this rule.
"""

import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline

# A username as migrations/0001 allows it, not ending in '.' or '-' (so
# "thanks @eren." mentions eren), and not glued to a word before it (mail
# addresses are not mentions).
_MENTION = re.compile(r"@([A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,30}[A-Za-z0-9_])?)")
_DATA_USER = re.compile(r'<span class="mention" data-user="([a-z0-9_.-]+)">')


def _mention_rule(state: StateInline, silent: bool) -> bool:
    if state.src[state.pos] != "@":
        return False
    if state.pos > 0 and (state.src[state.pos - 1].isalnum() or state.src[state.pos - 1] in "_.-@"):
        return False
    match = _MENTION.match(state.src, state.pos)
    if match is None:
        return False
    if not silent:
        token = state.push("mention", "span", 0)
        token.meta = {"username": match.group(1)}
    state.pos = match.end()
    return True


def _render_mention(self, tokens, idx, options, env) -> str:
    name = tokens[idx].meta["username"]
    return f'<span class="mention" data-user="{name.lower()}">@{name}</span>'


_markdown = MarkdownIt("zero", {"breaks": True, "html": False}).enable(
    ["emphasis", "backticks", "fence", "link", "newline", "autolink", "escape"]
)
_markdown.inline.ruler.before("emphasis", "mention", _mention_rule)
_markdown.add_render_rule("mention", _render_mention)

_TAGS = {"p", "br", "em", "strong", "code", "pre", "a", "span"}
_ATTRIBUTES = {"a": {"href"}, "code": {"class"}, "span": {"class", "data-user"}}
_SCHEMES = {"http", "https", "mailto"}


def render(content: str) -> str:
    """Sanitised HTML for one message's text."""
    return nh3.clean(
        _markdown.render(content),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
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
