"""Noticing while away from the tab (issue 16, item 8) in real headless Chromium:
a desktop notification for a mention or a direct message while the page is
hidden, nothing for other messages, for one's own or for a muted room, and the
permission asked only from a button."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat import actions

from ..conftest import make_user, room_row
from .ui import PASSWORD, log_in, open_room, post

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "notify"

pytestmark = pytest.mark.e2e

# Counts the notifications the page makes (the real ones are made too).
RECORD_NOTIFICATIONS = """
window.__notes = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) {
    super(title, options);
    window.__notes.push({ title, body: options && options.body });
  }
};
"""
HIDE_PAGE = """
Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
document.dispatchEvent(new Event("visibilitychange"));
"""


@pytest.fixture
def team(db):
    people = {name: make_user(db, name, PASSWORD) for name in ("alice", "bob")}
    general = room_row(db)
    for person in people.values():
        actions.join_room(db, general.id, person.id)
    actions.create_room(db, "design", people["bob"].id)
    return people


def notes(page) -> list[dict]:
    return page.evaluate("window.__notes")


def test_mentions_and_direct_messages_notify_while_hidden(server, team, pages, db):
    bob = pages()
    bob.context.grant_permissions(["notifications"], origin=server.url)
    bob.add_init_script(RECORD_NOTIFICATIONS)
    log_in(bob, server, "bob")
    open_room(bob, server, "design")
    expect(bob.locator("#notify-toggle")).to_be_hidden()  # already allowed
    bob.evaluate(HIDE_PAGE)
    alice = team["alice"]
    post(server, db, alice, "nothing for bob here")
    post(server, db, alice, "lunch, @bob?")
    bob.wait_for_function("() => window.__notes.length >= 1")
    dm = actions.open_direct(db, alice, "bob")
    post(server, db, alice, "a private word", room=dm)
    bob.wait_for_function("() => window.__notes.length >= 2")
    assert notes(bob) == [
        {"title": "alice in #general", "body": "lunch, @bob?"},
        {"title": "alice", "body": "a private word"},
    ]


def test_a_muted_room_and_a_shown_page_notify_nothing(server, team, pages, db):
    bob = pages()
    bob.context.grant_permissions(["notifications"], origin=server.url)
    bob.add_init_script(RECORD_NOTIFICATIONS)
    actions.set_muted(db, room_row(db), team["bob"], True)
    log_in(bob, server, "bob")
    open_room(bob, server, "design")
    post(server, db, team["alice"], "@bob while you look", room="design")
    bob.locator("#messages li.message", has_text="while you look").wait_for()
    bob.evaluate(HIDE_PAGE)
    post(server, db, team["alice"], "@bob in a muted room")
    post(server, db, team["alice"], "@bob again in design", room="design")
    bob.wait_for_function("() => window.__notes.length >= 1")
    assert [n["body"] for n in notes(bob)] == ["@bob again in design"]


def test_permission_is_asked_only_from_the_button(server, team, pages):
    bob = pages()
    log_in(bob, server, "bob")
    open_room(bob, server, "design")
    toggle = bob.locator("#notify-toggle")
    expect(toggle).to_be_visible()
    assert bob.evaluate("Notification.permission") == "default"  # nothing asked on load
    # Looked at: the controls at desktop size and in the phone's rooms drawer.
    SHOTS.mkdir(parents=True, exist_ok=True)
    bob.locator("nav.sidebar").screenshot(path=str(SHOTS / "sidebar-1100.png"))
    bob.set_viewport_size({"width": 390, "height": 844})
    bob.get_by_role("button", name="Rooms").click()
    bob.screenshot(path=str(SHOTS / "sidebar-390.png"))
