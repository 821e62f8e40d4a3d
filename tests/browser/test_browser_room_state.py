"""The open room's state on its live page, in real headless Chromium: archiving
(from another member's page, another tab, a script) closes the message box and
shows the read-only banner at once, unarchiving reopens it; a reload renders
the same; the sidebar and the rooms page mark an archived room."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat import actions

from ..conftest import make_user, room_row
from .ui import PASSWORD, log_in, message, open_room, send

pytestmark = pytest.mark.e2e

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "room-state"
ARCHIVED = "#ops is archived: you can read it, and nobody can write in it."
SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}


@pytest.fixture
def team(db):
    """carol made #ops (public); bob joined it."""
    people = {name: make_user(db, name, PASSWORD) for name in ("bob", "carol")}
    ops = actions.create_room(db, "ops", people["carol"].id)
    actions.join(db, ops, people["bob"])
    return people


def archive(db, team, archived: bool) -> None:
    """carol archives #ops (or reopens it) elsewhere: another tab, a script."""
    actions.update_room(db, room_row(db, "ops"), team["carol"], archived=archived)


def expect_archived(page, archived: bool) -> None:
    banner, box = page.locator("#archived-banner"), page.locator("#content")
    if archived:
        expect(banner).to_have_text(ARCHIVED)
        expect(page.locator('#send-closed[data-reason="archived"]')).to_have_text(ARCHIVED)
        expect(box).to_be_disabled()
        expect(page.locator("#send button[type=submit]")).to_be_disabled()
        expect(page.locator("#emoji-button")).to_be_disabled()
    else:
        expect(banner).to_have_js_property("hidden", True)
        expect(page.locator("#send-closed")).to_have_count(0)
        expect(box).to_be_enabled()
        expect(page.locator("#send button[type=submit]")).to_be_enabled()
    # "Add people" is hidden (drawn, for when the room opens again).
    expect(page.locator("#invite-form")).to_have_js_property("hidden", archived)
    item = page.locator('nav.sidebar li.room-item[data-room="ops"]')
    expect(item.locator(".tag.archived")).to_have_count(1 if archived else 0)


@pytest.mark.parametrize("size", SIZES)
def test_archiving_the_open_room_closes_its_box_live_and_unarchiving_reopens_it(
    server, team, pages, db, size
):
    bob = pages(**SIZES[size])
    log_in(bob, server, "bob")
    open_room(bob, server, "ops")
    bob.fill("#content", "a thought for later")
    expect_archived(bob, False)

    archive(db, team, True)
    expect_archived(bob, True)
    expect(bob.locator("#content")).to_have_value("a thought for later")
    SHOTS.mkdir(parents=True, exist_ok=True)
    bob.screenshot(path=str(SHOTS / f"archived-{size}.png"))

    archive(db, team, False)
    expect_archived(bob, False)
    send(bob, "back in business")
    expect(message(bob, "back in business")).to_have_attribute("id", re.compile(r"^m\d+$"))


def test_an_archived_room_is_rendered_closed_and_the_creators_other_tab_follows(
    server, team, pages, db
):
    """carol archives #ops from its page: the page the form reloads is rendered
    read-only by the server (box closed, no "Add people", "Unarchive" offered),
    and her other tab of it turns read-only live; unarchiving reverses both."""
    carol = pages(viewport={"width": 1280, "height": 800})
    log_in(carol, server, "carol")
    other = carol.context.new_page()
    open_room(carol, server, "ops")
    open_room(other, server, "ops")
    carol.locator("#archive-toggle").click()
    carol.wait_for_selector("#status:has-text('live')")  # the page the form reloaded
    html = carol.evaluate("fetch(location.href).then((r) => r.text())")
    assert 'data-closed="archived"' in html and "<textarea" in html
    assert html.split("<textarea")[1].split(">")[0].rstrip().endswith("disabled")
    for page in (carol, other):
        expect_archived(page, True)
        expect(page.locator("#archive-toggle")).to_have_text("Unarchive #ops")
        expect(page.locator("#rename-form")).to_be_hidden()
    carol.goto(f"{server.url}/rooms")
    expect(carol.locator('.rooms-list li.room-item[data-room="ops"] .tag.archived')).to_be_visible()

    open_room(carol, server, "ops")
    carol.locator("#archive-toggle").click()
    carol.wait_for_selector("#status:has-text('live')")
    for page in (carol, other):
        expect_archived(page, False)
        expect(page.locator("#archive-toggle")).to_have_text("Archive #ops")
        expect(page.locator("#rename-form")).to_be_visible()


@pytest.mark.parametrize(
    "topics",
    [
        pytest.param(["Deploys on Fridays", "Deploys on Mondays", ""], id="set-changed-cleared"),
        pytest.param(["<b>not bold</b> & ok", ""], id="markup-is-text"),
    ],
)
def test_the_topic_of_the_open_room_follows_live(server, team, pages, db, topics):
    """Every change of the topic (set, changed, cleared, by carol elsewhere) shows
    in bob's header as it happens; a topic is text, never markup."""
    bob = pages()
    log_in(bob, server, "bob")
    open_room(bob, server, "ops")
    line = bob.locator("#room p.room-topic")
    expect(line).to_have_count(0)
    for topic in topics:
        actions.update_room(db, room_row(db, "ops"), team["carol"], topic=topic)
        if topic:
            expect(line).to_have_text(topic)
            expect(line.locator("b")).to_have_count(0)
        else:
            expect(line).to_have_count(0)


def test_a_thread_opened_in_an_archived_room_is_closed_too(server, team, pages, db):
    """Rendered archived, or archived live: the thread panel's box and every one
    of its controls (attach, emoji, "Also send", Send) are disabled, as the room's are."""
    root = actions.send_message(db, room_row(db, "ops"), team["carol"], "the plan", None).seq
    bob = pages(viewport={"width": 1280, "height": 800})
    log_in(bob, server, "bob")
    panel_controls = [
        "#thread-content",
        "#thread-send button[type=submit]",
        "#thread-attach-button",
        "#thread-emoji-button",
        "#thread-also",
    ]
    bob.goto(f"{server.url}/rooms/ops?thread={root}")
    bob.wait_for_selector("#status:has-text('live')")
    expect(bob.locator("#thread-panel")).to_be_visible()
    for control in panel_controls:
        expect(bob.locator(control)).to_be_enabled()
    archive(db, team, True)  # live
    for control in panel_controls:
        expect(bob.locator(control)).to_be_disabled()
    bob.reload()  # rendered archived
    bob.wait_for_selector("#status:has-text('live')")
    expect(bob.locator("#thread-panel")).to_be_visible()
    expect(bob.locator("#thread-send-closed")).to_have_text(ARCHIVED)
    for control in panel_controls:
        expect(bob.locator(control)).to_be_disabled()
