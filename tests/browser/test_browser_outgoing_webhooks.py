"""The outgoing webhooks' part of a room's page (templates/_outgoing_webhooks.html) in
Chromium: a refused form, a webhook made with its secret shown, and the list, each
scanned by axe-core (the `pages` fixture's scans fail the test on any violation)."""

import re

import pytest

from chat import actions

from ..conftest import make_user, room_row


@pytest.mark.e2e
def test_making_a_webhook_in_the_browser_passes_axe(start_server, db, pages):
    eren = make_user(db, "eren")
    actions.join(db, room_row(db), eren)
    server = start_server(workers=1)
    page = pages()
    page.goto(f"{server.url}/login")
    page.fill("#username", "eren")
    page.fill("#password", "correct horse")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/rooms$"))
    page.goto(f"{server.url}/rooms/general/webhooks")
    page.get_by_label("Bot name").fill("deploybot")
    page.get_by_label("Receiver URL (https)").fill("https://10.0.0.8/hook")
    page.get_by_role("button", name="Create outgoing webhook").click()
    assert "private" in page.get_by_role("alert").inner_text()
    page.get_by_label("Receiver URL (https)").fill("https://ci.example.com/chat")
    page.get_by_label("Trigger words (optional, separated by spaces)").fill("!deploy !status")
    page.get_by_role("button", name="Create outgoing webhook").click()
    page.wait_for_url(re.compile(r"/webhooks#outgoing-webhooks$"))
    secret = page.locator("#new-webhook-secret").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert "nothing delivered yet" in page.locator("#outgoing-webhooks").inner_text()
    page.get_by_role("button", name="Delete the webhook deploybot").click()
    page.wait_for_url(re.compile(r"/webhooks#outgoing-webhooks$"))
    assert "has no outgoing webhooks" in page.locator("#outgoing-webhooks").inner_text()
