"""Every page names each id once: a label's `for`, `aria-describedby` and a
script's getElementById find the element meant (two forms' CSRF fields each
rendered `id="csrf_token"` on the settings page)."""

import re

import pytest

from chat import actions

from ..conftest import room_row, send_as

PAGES = [
    "/rooms",
    "/rooms/general",
    "/settings",
    "/search?q=hello",
    "/threads",
    "/rooms/general/history",
    "/rooms/general/webhooks",
    "/rooms/general/threads/{root}",
    "/docs/api",
]


@pytest.mark.parametrize("path", PAGES)
def test_no_id_twice(client, auth, db, eren, path):
    actions.join(db, room_row(db), eren)
    root = send_as(db, eren, "hello")
    actions.create_incoming(db, room_row(db), eren, "CI")
    auth.login("eren")
    page = client.get(path.format(root=root))
    assert page.status_code == 200
    ids = re.findall(r'\bid="([^"]+)"', page.text)
    assert ids and sorted({i for i in ids if ids.count(i) > 1}) == []
