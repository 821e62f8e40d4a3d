"""chat.domain.links: the first http(s) link of a message's stored html."""

import pytest

from chat.domain.links import first_link
from chat.domain.render import render


@pytest.mark.parametrize(
    ("content", "link"),
    [
        ("no links here", None),
        ("see https://a.example/x?y=1&z=2 and https://b.example/", "https://a.example/x?y=1&z=2"),
        ("write to someone@example.com, then http://c.example", "http://c.example"),
        ("[mail](mailto:x@example.com) [site](HTTPS://D.example/p)", "https://D.example/p"),
        ("`https://in-code.example` but https://e.example/", "https://e.example/"),
        ("[evil](javascript:alert(1)) https://f.example", "https://f.example"),
        ("only mail: x@example.com", None),
        ("> quoted https://g.example/q", "https://g.example/q"),
    ],
)
def test_the_first_http_link_of_a_rendered_message(content, link):
    assert first_link(render(content)) == link


@pytest.mark.parametrize(
    ("html", "link"),
    [
        (
            '<a href="mailto:a@b.example">m</a><a href="http://x.example/">x</a>',
            "http://x.example/",
        ),
        ('<a>no href</a><a href="https://y.example/a&amp;b">y</a>', "https://y.example/a&b"),
        ('<a href="ftp://z.example/">z</a>', None),
        ('<a href="https://">empty</a>', None),
        ("", None),
    ],
)
def test_only_http_and_https_hrefs_count(html, link):
    assert first_link(html) == link
