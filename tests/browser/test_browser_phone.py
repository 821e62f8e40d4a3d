"""Phones (issue 16, item 9) in real headless Chromium at phone sizes, touch and a mobile
viewport: no page scrolls sideways from 360 to 430 px wide, whatever the length of a
name or a word; the rooms and the people are drawers opened from the room header
(static/drawer.js); a message's actions are behind its "⋯" (static/message_events.js).
"""

import io
import re
from urllib.parse import quote

import pytest
from PIL import Image
from playwright.sync_api import expect

from chat import actions
from chat.bots.work import Worker

from ..conftest import ROOT, make_token, make_user, room_row
from ..servers import http
from .ui import PASSWORD, log_in, open_room, post, send

pytestmark = pytest.mark.e2e

WIDTHS = (360, 390, 430)
SHOTS = ROOT / "test-output" / "files-ui"
# As long as each may be: a username has 32 characters, a room name 40.
LONG_NAME = "mikasa_ackerman_of_the_survey_co"
LONG_ROOM = "the-quarterly-planning-offsite-room-2027"
# Words a browser cannot break on its own: a long word, a URL, a line of code.
LONG_TEXTS = (
    "supercalifragilistic" * 12,
    "https://example.com/" + "path/" * 40 + "?q=" + "z" * 80,
    "```\n" + "x = " + "'y' + " * 40 + "\n```",
    f"@{LONG_NAME} `" + "w" * 150 + "`",
)


# A file name as long as may be (255 characters), with no place to break it.
LONG_FILE = "minutes_of_the_quarterly_planning_offsite_" * 6
LONG_FILE = LONG_FILE[:251] + ".txt"


def post_files(server, db, user, text: str, files: list[tuple[str, bytes]], room: str) -> None:
    """Upload `files` ([(name, bytes)]) through the real route, then send them with
    `text` (docs/files.md, "Upload" and "Send"), as a script would."""
    api = http()
    api.headers["Authorization"] = f"Bearer {make_token(db, user)}"
    keys = []
    for name, data in files:
        response = api.post(f"{server.url}/api/files?name={quote(name)}", data=data)
        assert response.status_code == 201, response.text
        keys.append(response.json()["file"]["id"])
    response = api.post(
        f"{server.url}/api/rooms/{room}/messages", json={"content": text, "files": keys}
    )
    assert response.status_code == 201, response.text


def wide_png() -> bytes:
    """An 800 x 200 picture: its thumbnail is 400 px wide, wider than a phone."""
    out = io.BytesIO()
    Image.new("RGB", (800, 200), (40, 120, 200)).save(out, "PNG")
    return out.getvalue()


def phone(pages, width: int = 390):
    return pages(viewport={"width": width, "height": 844}, is_mobile=True, has_touch=True)


@pytest.fixture
def team(db):
    """eren, and someone with the longest name, both in #general and a room with the
    longest name, where the long words have been said."""
    eren = make_user(db, "eren", PASSWORD)
    long = make_user(db, LONG_NAME, PASSWORD)
    for user in (eren, long):
        actions.join(db, room_row(db), user)
    room = actions.create_room(db, LONG_ROOM, long.id)
    actions.join(db, room, eren)
    return {"eren": eren, "long": long}


def overflow(page, width: int) -> int:
    """How far the page reaches past the right edge of a `width`-px screen, in CSS
    pixels (a mobile viewport zooms out to show a page wider than the screen)."""
    return page.evaluate(
        "(w) => Math.max(document.documentElement.scrollWidth, window.innerWidth) - w", width
    )


# The elements that reach past the right edge (the deepest first), to say which.
_TOO_WIDE = """(w) => [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > w + 0.5
                   && e.checkVisibility({ visibilityProperty: true }))
    .filter((e, _, all) => !all.some((o) => o !== e && e.contains(o)))
    .slice(0, 5)
    .map((e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
                + [...e.classList].map((c) => "." + c).join(""))"""


def stored(page, text: str):
    """The message with `text`, once the server has it, found by its seq from then on
    (its text may change)."""
    item = page.locator("#messages li.message[data-seq]:not(.pending)", has_text=text)
    item.locator("button.actions-toggle").wait_for(state="attached")
    return page.locator(f"#m{item.get_attribute('data-seq')}")


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways_on_a_phone(server, db, team, pages, make_app, width):
    for text in LONG_TEXTS:
        post(server, db, team["eren"], text, room=LONG_ROOM)
        post(server, db, team["long"], text, room=LONG_ROOM)
    # An image (its thumbnail made by the worker, here) and the longest file name.
    files = [("wide.png", wide_png()), (LONG_FILE, b"minutes")]
    post_files(server, db, team["eren"], "the files", files, room=LONG_ROOM)
    app = make_app(BOT_RETRY_DELAY=0.0, BOT_POLL_INTERVAL=60.0, BOT_VISIBILITY_TIMEOUT=30.0)
    assert Worker(app.config, app.extensions["db_pool"]).drain() >= 1
    page = phone(pages, width)
    wide = {}

    def check(what: str) -> None:
        if (extra := overflow(page, width)) > 0:
            wide[what] = (extra, page.evaluate(_TOO_WIDE, width))

    for path in ("/login", "/register"):
        page.goto(server.url + path)
        check(path)
    log_in(page, server, LONG_NAME)
    check("/rooms")
    open_room(page, server, LONG_ROOM)
    expect(page.locator("#messages li.message")).to_have_count(2 * len(LONG_TEXTS) + 1)
    check("a room")
    page.locator("#messages li.message.mine button.actions-toggle").last.tap()
    expect(page.locator("#messages li.actions-open .tools button.edit")).to_be_visible()
    check("a room, a message's actions open")
    page.tap("#rooms-toggle")
    expect(page.locator("#rooms-drawer")).to_be_visible()
    check("a room, the rooms drawer open")
    page.keyboard.press("Escape")
    page.tap("#people-toggle")
    expect(page.locator("#people-drawer")).to_be_visible()
    check("a room, the people drawer open")
    page.goto(f"{server.url}/rooms/{LONG_ROOM}/history")
    history = page.locator("ol.messages li", has_text="the files")
    image = history.locator("ul.files img")
    expect(image).to_have_attribute("alt", "wide.png")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    assert image.bounding_box()["width"] <= width
    expect(history.locator("ul.files a", has_text=LONG_FILE)).to_be_visible()
    assert (
        history.locator("ul.files").evaluate("ul => getComputedStyle(ul).listStyleType") == "none"
    )
    check("a history page with an image and the longest file name")
    if width == 390:
        page.screenshot(path=str(SHOTS / "phone-history-files.png"), full_page=True)
    for path, status in (
        (f"/rooms/{LONG_ROOM}/history", 200),
        ("/search?q=supercalifragilistic", 200),
        (f"/search?q=example&author={LONG_NAME}", 200),
        ("/settings", 200),
        ("/rooms/nowhere", 404),
        ("/rooms/general/history?before=abc", 400),
    ):
        assert page.goto(server.url + path).status == status
        check(path)
    assert wide == {}, f"pages wider than a {width}-px screen (px too wide, elements): {wide}"


def test_the_room_takes_the_screen_and_the_composer_stays_at_the_bottom(server, team, pages):
    page = phone(pages)
    log_in(page, server, "eren")
    open_room(page, server)
    expect(page.locator("#rooms-drawer")).to_be_hidden()  # off screen, out of the tab order
    expect(page.locator("#people-drawer")).to_be_hidden()
    box = page.locator("#send").bounding_box()
    assert 844 - 100 < box["y"] + box["height"] <= 844
    chat = page.locator("#messages").bounding_box()
    assert chat["width"] > 390 * 0.9


def test_the_rooms_drawer_opens_closes_and_switches_rooms(server, team, pages):
    page = phone(pages)
    log_in(page, server, "eren")
    open_room(page, server)
    toggle, drawer = page.locator("#rooms-toggle"), page.locator("#rooms-drawer")
    expect(toggle).to_have_attribute("aria-controls", "rooms-drawer")

    def opened() -> None:
        toggle.tap()
        expect(drawer).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(drawer.locator(".drawer-close")).to_be_focused()
        expect(page.locator("#room")).to_have_js_property("inert", True)

    def closed() -> None:
        expect(drawer).to_be_hidden()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(page.locator("#room")).to_have_js_property("inert", False)

    opened()
    page.keyboard.press("Escape")
    closed()
    expect(toggle).to_be_focused()  # focus back where it was

    opened()
    page.touchscreen.tap(380, 400)  # beside the drawer, on the shaded chat
    closed()

    opened()
    drawer.locator(".drawer-close").tap()
    closed()

    opened()
    drawer.get_by_role("link", name=f"#{LONG_ROOM}").tap()
    page.wait_for_url(re.compile(f"/rooms/{LONG_ROOM}$"))
    page.wait_for_selector("#status:has-text('live')")
    expect(page.locator("#room-title")).to_have_text(f"#{LONG_ROOM}")
    expect(drawer).to_be_hidden()


def test_the_people_panel_opens_from_the_room_header(server, team, pages):
    page = phone(pages)
    log_in(page, server, "eren")
    open_room(page, server)
    toggle, sheet = page.locator("#people-toggle"), page.locator("#people-drawer")
    toggle.tap()
    expect(sheet).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(sheet.locator("#members li[data-user=eren]")).to_be_visible()
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    expect(toggle).to_be_focused()
    toggle.tap()
    page.touchscreen.tap(10, 400)  # beside the sheet, which opens from the right
    expect(sheet).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")


def test_a_messages_actions_are_in_its_menu_and_edit_it(server, team, pages):
    page = phone(pages)
    log_in(page, server, "eren")
    open_room(page, server)
    send(page, "helo from the phone")
    mine = stored(page, "helo from the phone")
    toggle = mine.locator("button.actions-toggle")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(mine.locator(".tools button.edit")).to_be_hidden()  # not shown under every message

    toggle.tap()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(mine.locator(".tools button.react")).to_be_visible()
    page.touchscreen.tap(200, 600)  # elsewhere (below the messages): the menu closes
    expect(mine.locator(".tools button.edit")).to_be_hidden()

    toggle.tap()
    mine.locator(".tools button.edit").tap()
    expect(mine.locator(".tools")).to_be_hidden()  # the menu closes behind the action
    box = mine.locator("form.edit-form textarea")
    box.fill("hello from the phone")
    box.press("Enter")
    expect(mine.locator(".content")).to_have_text("hello from the phone")
    expect(mine.locator(".meta .edited")).to_be_visible()

    toggle.tap()
    page.keyboard.press("Escape")
    expect(mine.locator(".tools button.edit")).to_be_hidden()
    expect(toggle).to_be_focused()


def test_the_reaction_palette_fits_a_phone(server, team, pages):
    """The quick reactions and "More…" stay on the screen: the row wraps
    (with `width: max-content` alone it ran off a 390 px screen's edge)."""
    page = phone(pages)
    log_in(page, server, "eren")
    open_room(page, server)
    send(page, "react to me")
    mine = stored(page, "react to me")
    mine.locator("button.actions-toggle").tap()
    mine.locator(".tools button.react").tap()
    more = mine.locator(".palette button.more")
    expect(more).to_be_visible()
    width = page.viewport_size["width"]
    for button in mine.locator(".palette button").all():
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)
    more.tap()
    expect(page.locator("#emoji-picker")).to_be_visible()


def test_a_desktop_keeps_the_actions_on_hover(server, team, pages):
    page = pages(viewport={"width": 1280, "height": 800})
    log_in(page, server, "eren")
    open_room(page, server)
    send(page, "hello from the desk")
    mine = stored(page, "hello from the desk")
    expect(mine.locator("button.actions-toggle")).to_be_hidden()
    expect(page.locator("#rooms-toggle")).to_be_hidden()
    expect(page.locator("#rooms-drawer")).to_be_visible()  # the sidebar, in the page
    mine.hover()
    mine.locator(".tools button.edit").click()
    expect(mine.locator("form.edit-form textarea")).to_be_visible()
