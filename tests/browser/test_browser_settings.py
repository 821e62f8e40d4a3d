"""The settings page in real headless Chromium, against the real gunicorn: one person
in two browsers (two contexts, two cookie jars), a password change and a session
logout that reach the other browser's open socket, a token shown once, and the
page's fit on a desktop and a phone (helpers from ui.py)."""

import re

import pytest
from playwright.sync_api import expect

from ..servers import http
from .ui import PASSWORD, log_in, open_room

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "battery staple"


def open_settings(page, server):
    page.goto(f"{server.url}/settings")
    expect(page.locator("h1")).to_have_text("Settings")


def is_logged_out(page, server) -> None:
    """Its next navigation lands on the login page."""
    page.goto(f"{server.url}/rooms")
    page.wait_for_url(re.compile(r"/login\?next="))


def test_changing_the_password_logs_out_the_other_browser_at_once(server, people, pages):
    here, other = pages(), pages()
    errors = []
    here.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    for page in (here, other):
        log_in(page, server, "eren")
    open_room(other, server)  # its socket is live

    here.click("header a.me")  # the username in the header opens the settings
    here.wait_for_url(re.compile(r"/settings$"))
    expect(here.locator("#sessions li.row")).to_have_count(2)
    expect(here.locator("#sessions li.row.current")).to_contain_text("This device")
    here.fill("#current_password", PASSWORD)
    here.fill("#new_password", NEW_PASSWORD)
    here.fill("#confirm_password", NEW_PASSWORD)
    here.click("#password button[type=submit]")
    expect(here.locator(".flash")).to_have_text(
        "Password changed. Every other session is logged out."
    )

    # The other browser's socket is closed by the server: it is no longer live,
    # and cannot come back (its session is gone).
    expect(other.locator("#status")).not_to_have_text("live")
    is_logged_out(other, server)
    # This one stays logged in, its socket too.
    expect(here.locator("#sessions li.row")).to_have_count(1)
    open_room(here, server)
    assert errors == []


def test_log_out_closes_the_other_sessions_socket(server, people, pages):
    here, other = pages(), pages()
    for page in (here, other):
        log_in(page, server, "eren")
    open_room(other, server)
    open_settings(here, server)
    here.locator("#sessions li.row:not(.current) button", has_text="Log out").click()
    expect(here.locator(".flash")).to_have_text("That session is logged out.")
    expect(here.locator("#sessions li.row")).to_have_count(1)
    expect(other.locator("#status")).not_to_have_text("live")
    is_logged_out(other, server)


def test_a_token_is_shown_once_and_stops_working_when_revoked(server, people, pages):
    page = pages()
    log_in(page, server, "eren")
    open_settings(page, server)
    expect(page.locator("#tokens")).to_contain_text("You have no API tokens.")
    page.fill("#name", "deploy bot")
    page.click("#tokens button[type=submit]")
    shown = page.locator("#new-token")
    expect(shown).to_be_visible()
    token = shown.inner_text().strip()
    assert token.startswith("chat_")
    api = http()
    api.headers["Authorization"] = f"Bearer {token}"
    assert api.get(f"{server.url}/api/rooms").status_code == 200

    open_settings(page, server)  # never again
    expect(page.locator("#new-token")).to_have_count(0)
    assert token not in page.content()
    row = page.locator("#tokens li.row", has_text="deploy bot")
    expect(row).to_contain_text("last used")

    row.get_by_role("button", name="Revoke deploy bot").click()
    expect(page.locator(".flash")).to_have_text("Token “deploy bot” revoked.")
    expect(page.locator("#tokens li.row")).to_have_count(0)
    assert api.get(f"{server.url}/api/rooms").status_code == 401


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844), (360, 740)])
def test_the_settings_page_fits_the_screen(server, people, pages, width, height):
    """No sideways scrolling, with a long display name, a new token and long
    token names on the page."""
    page = pages()
    page.set_viewport_size({"width": width, "height": height})
    log_in(page, server, "eren")
    open_settings(page, server)
    page.fill("#display_name", "Eren Jäger of the Survey Corps, 104th Training Corps")
    page.click("#profile button[type=submit]")
    expect(page.locator(".flash")).to_have_text("Display name saved.")
    page.fill("#name", "x" * 64)
    page.click("#tokens button[type=submit]")
    expect(page.locator("#new-token")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") == width
