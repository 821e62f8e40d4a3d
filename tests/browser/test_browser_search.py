"""Search in real headless Chromium: the header's search box, the results page, and a
result followed to the message on its history page (helpers from ui.py)."""

import re

import pytest
from playwright.sync_api import expect

from chat import actions

from ..conftest import room_row
from .ui import log_in

pytestmark = pytest.mark.e2e

# Markup that PostgreSQL's headline keeps (it drops what it parses as a tag).
WALRUS = "the walrus sings <img src=x onerror=alert(1)> at midnight"


def test_search_from_the_header_and_follow_a_result_to_the_message(
    server,
    people,
    pages,
    db,
):
    general = room_row(db)
    for i in range(1, 121):  # more than two history pages
        text = f"filler message {i}" if i != 30 else WALRUS
        actions.send_message(db, general, people["eren"], text, None)
    actions.create_room(db, "plans", people["mikasa"].id, is_private=True)
    actions.send_message(db, room_row(db, "plans"), people["mikasa"], "a walrus in private", None)

    eren = pages()
    errors = []
    eren.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    log_in(eren, server, "eren")
    eren.fill("#header-q", "walrus")
    eren.press("#header-q", "Enter")
    eren.wait_for_url(re.compile(r"/search\?q=walrus$"))

    results = eren.locator("li.result")
    expect(results).to_have_count(1)  # not mikasa's private room
    expect(results.locator("mark")).to_have_text("walrus")
    expect(results.locator(".snippet")).to_contain_text("<img src=x onerror=alert(1)>")
    assert eren.locator("main img").count() == 0  # text, not markup
    expect(eren.locator("#header-q")).to_have_value("walrus")

    results.locator("a.snippet").click()
    eren.wait_for_url(re.compile(r"/rooms/general/history\?before=31#m30$"))
    target = eren.locator("#m30")
    expect(target).to_contain_text("the walrus sings")
    expect(target).to_be_in_viewport()
    assert errors == []
