"""The link a message's preview is about: its first http(s) link.

Reads a message's stored html (chat/domain/render.py: rendered Markdown,
sanitised by nh3, every link an `<a href>` whose href is an absolute http,
https or mailto URL). Plain Python, no network: the standard library's
HTMLParser is enough for html this module's own renderer wrote.
"""

from html.parser import HTMLParser


class _FirstLink(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is not None or tag != "a":
            return
        href = dict(attrs).get("href") or ""
        scheme, _, rest = href.partition("://")
        if scheme.lower() in ("http", "https") and rest:
            self.found = href


def first_link(html: str) -> str | None:
    """The href of the first http(s) link in a message's html (mailto: links and
    anything else skipped), None when it has none."""
    parser = _FirstLink()
    parser.feed(html)
    parser.close()
    return parser.found
