"""Avatars in real headless Chromium against the real gunicorn and PostgreSQL
(static/avatar.js, names.js, people.js, templates/room.html, history.html):
bob's picture, cut square by the worker (chat/bots/work.py, real Pillow),
replaces his initials in alice's people panel, message headers and history;
alice, who has none, keeps her initials. Screenshots at 1280x800 and 390x844.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat import actions
from chat.bots.work import Worker

from ..bots import media
from ..conftest import ROOT, make_user, room_row
from .ui import PASSWORD, log_in, message, open_room, post

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "test-output" / "avatars")


@pytest.fixture
def team(db):
    people = {name: make_user(db, name, PASSWORD) for name in ("alice", "bob")}
    general = room_row(db)
    for person in people.values():
        actions.join_room(db, general.id, person.id)
    return people


def give_bob_a_picture(db, make_app, bob):
    """bob's picture as the settings page stores it, then the worker's job done.
    (The worker runs here with issue 17's upload settings given explicitly.)"""
    photo = media.photo("JPEG", size=(600, 400), orientation=None, gps=True)
    actions.set_avatar(db, bob.id, "avatar", [photo], "image/jpeg", 600, 400)
    app = make_app(
        UPLOAD_MAX_BYTES=25 * 1024 * 1024, IMAGE_MAX_PIXELS=50_000_000, LINK_PREVIEWS=False
    )
    assert Worker(app.config, app.extensions["db_pool"]).drain() == 1


def loaded(avatar) -> None:
    """The avatar shows a picture that the browser loaded (not a broken image)."""
    image = avatar.locator("img")
    expect(image).to_have_count(1)
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") == 128


def test_bobs_picture_replaces_his_initials_for_alice(server, db, team, pages, make_app):
    give_bob_a_picture(db, make_app, team["bob"])
    post(server, db, team["bob"], "hello from bob")
    post(server, db, team["alice"], "hi bob")
    SHOTS.mkdir(parents=True, exist_ok=True)

    alice = pages(viewport={"width": 1280, "height": 800})
    log_in(alice, server, "alice")
    open_room(alice, server)
    panel_bob = alice.locator("#members li[data-user=bob] > .avatar")
    loaded(panel_bob)
    expect(panel_bob).to_have_attribute("aria-hidden", "true")
    header = message(alice, "hello from bob").locator(".avatar")
    loaded(header)
    # alice has no picture: her initials, as before.
    expect(message(alice, "hi bob").locator(".avatar")).to_have_text("A")
    expect(alice.locator("#members li[data-user=alice] > .avatar")).to_have_text("A")
    alice.screenshot(path=str(SHOTS / "room-1280x800.png"))

    alice.goto(f"{server.url}/rooms/general/history")
    loaded(alice.locator("#m1 > .avatar, li:has-text('hello from bob') > .avatar").first)
    alice.screenshot(path=str(SHOTS / "history-1280x800.png"))

    phone = pages(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    log_in(phone, server, "alice")
    open_room(phone, server)
    loaded(message(phone, "hello from bob").locator(".avatar"))
    phone.screenshot(path=str(SHOTS / "room-390x844.png"))
    phone.tap("#people-toggle")
    expect(phone.locator("#people-drawer")).to_be_visible()
    loaded(phone.locator("#members li[data-user=bob] > .avatar"))
    phone.screenshot(path=str(SHOTS / "people-390x844.png"))


def test_a_picture_that_does_not_load_falls_back_to_initials(server, db, team, pages, make_app):
    give_bob_a_picture(db, make_app, team["bob"])
    post(server, db, team["bob"], "hello from bob")
    alice = pages()
    log_in(alice, server, "alice")
    # The picture is gone by the time the browser asks for it (a 404).
    alice.route("**/avatars/**", lambda route: route.fulfill(status=404, body=""))
    open_room(alice, server)
    expect(message(alice, "hello from bob").locator(".avatar")).to_have_text("B")
