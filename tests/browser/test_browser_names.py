"""Display names in real headless Chromium against the real gunicorn and PostgreSQL
(static/names.js, people.js, message_list.js, avatar.js, autocomplete.js,
templates/history.html): bob sets a display name on the settings page; his own
room page shows it at once; alice sees it in the people panel, the message
headers and avatars, `@` completion and the history page, always as text (a name
with markup in it runs nothing and draws no element); someone who joins while
alice's page is open is named once the page has read the members again.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat import actions

from ..conftest import ROOT, make_user, room_row
from .ui import PASSWORD, log_in, message, open_room, post, send

pytestmark = pytest.mark.e2e

# A name with markup in it: shown as these characters, never as an element.
NAME = "Bob Builder <img src=x onerror=alert(1)>"
# Where the screenshots go (SCREENSHOTS_DIR to keep them elsewhere); test-output/
# is not committed.
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "test-output" / "names")


@pytest.fixture
def team(db):
    """alice and bob, members of #general; neither has a display name yet."""
    people = {name: make_user(db, name, PASSWORD) for name in ("alice", "bob")}
    general = room_row(db)
    for person in people.values():
        actions.join_room(db, general.id, person.id)
    return people


def page_of(pages, server, username: str, **options):
    """A page of `username`'s, where any script dialog (an alert a name ran) fails the test."""
    page = pages(**options)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    log_in(page, server, username)
    return page


def set_display_name(page, server, name: str):
    """Through the settings page's form, as a person does."""
    page.goto(f"{server.url}/settings")
    page.fill("#display_name", name)
    page.locator("form:has(#display_name) button[type=submit]").first.click()
    expect(page.locator(".flash")).to_have_text("Display name saved.")


def assert_no_markup_ran(page):
    assert page.locator("img[src=x]").count() == 0
    assert page.dialogs == []


def test_bob_names_himself_and_alice_sees_the_name_everywhere(server, db, team, pages):
    bob = page_of(pages, server, "bob")
    open_room(bob, server)
    alice = page_of(pages, server, "alice")
    open_room(alice, server)
    send(alice, "hi bob")
    expect(message(alice, "hi bob")).not_to_have_class(re.compile(r"\bpending\b"))

    # bob changes his name in another tab: his room page shows it at once.
    settings = bob.context.new_page()
    settings.dialogs = bob.dialogs
    set_display_name(settings, server, NAME)
    bobs_line = bob.locator("#members li[data-user=bob]")
    expect(bobs_line.locator(".person-name")).to_have_text(NAME)
    expect(bobs_line.locator(".handle")).to_have_text("@bob")
    settings.close()
    send(bob, "hello from bob")
    mine = message(bob, "hello from bob")
    expect(mine.locator(".author")).to_have_text(NAME)
    expect(mine.locator(".avatar")).to_have_text("BB")

    # alice's open page shows his message (by his username until it reads the
    # members again); a reload names him everywhere.
    expect(message(alice, "hello from bob")).to_be_visible()
    alice.reload()
    alice.wait_for_selector("#status:has-text('live')")
    line = alice.locator("#members li[data-user=bob]")
    expect(line.locator(".person-name")).to_have_text(NAME)
    expect(line.locator(".handle")).to_have_text("@bob")
    header = message(alice, "hello from bob")
    expect(header.locator(".author")).to_have_text(NAME)
    expect(header.locator(".author")).to_have_attribute("title", "@bob")
    expect(header.locator(".handle")).to_have_text("@bob")
    expect(header.locator(".avatar")).to_have_text("BB")
    own = message(alice, "hi bob")  # alice has no display name: her username, no handle
    expect(own.locator(".author")).to_have_text("alice")
    expect(own.locator(".handle")).to_have_count(0)

    # @ completion finds him by a word of his name, shows both, inserts @bob.
    box = alice.locator("#content")
    box.fill("")
    box.focus()
    alice.keyboard.type("thanks @buil")
    option = alice.locator("#suggestions [role=option]")
    expect(option).to_have_count(1)
    expect(option).to_have_attribute("data-value", "bob")
    expect(option.locator(".suggestion-main")).to_have_text(NAME)
    expect(option.locator(".suggestion-handle")).to_have_text("@bob")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in [(1280, 800), (390, 844)]:
        alice.set_viewport_size({"width": width, "height": height})
        expect(option).to_be_visible()
        alice.screenshot(path=str(SHOTS / f"suggestions-{width}.png"))
    alice.set_viewport_size({"width": 1280, "height": 800})
    box.press("Enter")
    expect(box).to_have_value("thanks @bob ")
    box.press("Enter")
    expect(message(alice, "thanks @bob").locator(".mention[data-user=bob]")).to_have_count(1)

    alice.screenshot(path=str(SHOTS / "room-1280.png"))
    alice.set_viewport_size({"width": 390, "height": 844})
    alice.screenshot(path=str(SHOTS / "room-390.png"))
    alice.locator("#people-toggle").click()
    expect(alice.locator("#people-drawer")).to_be_visible()
    alice.screenshot(path=str(SHOTS / "people-390.png"))
    alice.keyboard.press("Escape")

    # The history page, without a script: the same name, as text.
    alice.goto(f"{server.url}/rooms/general/history")
    item = alice.locator("li[id^=m]", has_text="hello from bob")
    expect(item.locator(".author")).to_have_text(NAME)
    expect(item.locator(".author")).to_have_attribute("title", "@bob")
    expect(item.locator(".handle")).to_have_text("@bob")
    expect(item.locator(".avatar")).to_have_text("BB")
    alice.screenshot(path=str(SHOTS / "history-390.png"))
    alice.set_viewport_size({"width": 1280, "height": 800})
    alice.screenshot(path=str(SHOTS / "history-1280.png"))
    for page in (alice, bob):
        assert_no_markup_ran(page)


def test_someone_who_joins_an_open_room_is_named_once_it_reads_the_members(server, db, team, pages):
    alice = page_of(pages, server, "alice")
    open_room(alice, server)
    carol = make_user(db, "carol", PASSWORD)
    actions.set_display_name(db, carol.id, "Carol <b>Ng</b>")
    # Posting joins: a `member` frame names carol, whom alice's page does not know.
    post(server, db, carol, "hello, I am new")
    header = message(alice, "hello, I am new")
    expect(header.locator(".author")).to_have_text("Carol <b>Ng</b>")
    expect(header.locator(".avatar")).to_have_text("C<")
    expect(header.locator(".author b")).to_have_count(0)
    assert_no_markup_ran(alice)
