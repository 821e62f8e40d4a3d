"""A room's Webhooks page in real headless Chromium against the real gunicorn:
reached from the room, a new webhook's URL shown once, a post to that URL
arriving live in another member's open room under the bot's name, revoking by
the form, and the page's fit on a desktop and a phone (screenshots in
test-output/webhooks/ to look at)."""

import re

import pytest
from playwright.sync_api import expect

from chat import actions

from ..conftest import room_row
from ..servers import ROOT, http
from .ui import log_in, open_room

pytestmark = pytest.mark.e2e

SHOTS = ROOT / "test-output" / "webhooks"


def members_of_general(db, people) -> None:
    for person in people.values():
        actions.join(db, room_row(db), person)


def test_a_webhook_made_on_the_page_posts_live_into_the_room_until_revoked(
    server, db, people, pages
):
    members_of_general(db, people)
    here, reader = pages(), pages()
    for page in (here, reader):
        log_in(page, server, page is here and "eren" or "mikasa")
    open_room(reader, server)
    open_room(here, server)
    here.click("#webhooks-link")
    here.wait_for_url(re.compile(r"/rooms/general/webhooks$"))
    expect(here.locator("#incoming")).to_contain_text("has no incoming webhooks")
    here.fill("#webhook-name", "Alertmanager")
    here.click("#incoming button[type=submit]")
    url = here.locator("#new-webhook-url").inner_text()
    assert url.startswith(f"{server.url}/api/hooks/hook_")

    posted = http().post(url, json={"text": "*Disk* almost full", "username": "Prometheus"})
    assert posted.status_code == 200
    message = reader.locator("#messages li", has_text="Disk almost full")
    expect(message.locator("strong")).to_have_text("Disk")

    here.reload()  # shown once: a reload shows the list only
    expect(here.locator("#new-webhook-url")).to_have_count(0)
    expect(here.locator("#webhooks li.row")).to_contain_text("last posted")
    here.locator("#webhooks li.row button", has_text="Revoke").click()
    expect(here.locator(".flash")).to_have_text(
        "Webhook “Alertmanager” revoked: its URL no longer posts."
    )
    assert http().post(url, data="after").status_code == 404


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_the_webhooks_page_fits_the_screen(server, db, people, pages, width, height):
    """No sideways scrolling with a new URL shown and long names listed."""
    members_of_general(db, people)
    page = pages(viewport={"width": width, "height": height})
    log_in(page, server, "eren")
    page.goto(f"{server.url}/rooms/general/webhooks")
    for name in ("Grafana", "x" * 64):
        page.fill("#webhook-name", name)
        page.click("#incoming button[type=submit]")
        expect(page.locator("#new-webhook-url")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") == width
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"webhooks-{width}.png"), full_page=True)
