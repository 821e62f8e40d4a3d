"""Message text to HTML: a small Markdown subset, rendered once at send, sanitised with nh3.

markdown-it-py's "zero" preset with only the rules a chat needs (emphasis,
code, fenced code, links, line breaks); raw HTML in the text stays text.
Whatever the renderer lets through, nh3 keeps only the tags and attributes
below and gives every link rel="noopener noreferrer", so a `javascript:` or
`data:` link, an `<img onerror>` or a `<script>` can never reach a page.
"""

import nh3
from markdown_it import MarkdownIt

_markdown = MarkdownIt("zero", {"breaks": True, "html": False}).enable(
    ["emphasis", "backticks", "fence", "link", "newline", "autolink", "escape"]
)

_TAGS = {"p", "br", "em", "strong", "code", "pre", "a"}
_ATTRIBUTES = {"a": {"href"}, "code": {"class"}}
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
