"""The composer in real headless Chromium against the real gunicorn and PostgreSQL
(static/composer.js, autocomplete.js, emoji_picker.js, room_switcher.js): drafts kept
per room across reloads and gone once sent, `@name`, `:emoji` and `/command`
suggestions taken with the keyboard, the emoji picker for the box and for reactions,
Up to edit one's last message, and Ctrl+K to switch rooms.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat import actions

from ..conftest import ROOT, make_user, room_row
from .axe import violations_within
from .ui import PASSWORD, log_in, message, open_room, send

pytestmark = pytest.mark.e2e

# Where the screenshots of the suggestions and the picker go (SCREENSHOTS_DIR to
# keep them elsewhere, e.g. to look at them); test-output/ is not committed.
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "test-output" / "composer")


@pytest.fixture
def eren(db, server, pages, people):
    """eren's page, live in #general, which he and mikasa are members of."""
    general = room_row(db)
    for person in people.values():
        actions.join_room(db, general.id, person.id)
    page = pages()
    log_in(page, server, "eren")
    open_room(page, server)
    return page


def acked(page, text: str):
    """The message with `text`, once the server has it (its tools exist then)."""
    item = page.locator("#messages li.message[data-seq]:not(.pending)", has_text=text)
    item.locator(".tools").wait_for(state="attached")
    return page.locator(f"#m{item.get_attribute('data-seq')}")


def focused_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def drafts(page) -> dict:
    return page.evaluate(
        "Object.fromEntries(Object.keys(localStorage).filter(k => k.startsWith('chat:draft:'))"
        ".map(k => [k, localStorage.getItem(k)]))"
    )


# --- drafts ---------------------------------------------------------------------------


def test_a_draft_is_kept_per_room_across_reloads_and_goes_once_sent(eren, server, db, people):
    actions.create_room(db, "random", people["eren"].id)
    box = eren.locator("#content")
    box.fill("half a thought")
    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    expect(box).to_have_value("half a thought")

    open_room(eren, server, "random")  # another room has its own draft
    expect(box).to_have_value("")
    box.fill("for random only")
    open_room(eren, server, "general")
    expect(box).to_have_value("half a thought")

    box.press("End")
    eren.keyboard.type(", finished")
    box.press("Enter")
    acked(eren, "half a thought, finished")
    expect(box).to_have_value("")
    assert drafts(eren) == {"chat:draft:eren:random": "for random only"}
    eren.reload()  # a sent message never comes back as a draft
    eren.wait_for_selector("#status:has-text('live')")
    expect(box).to_have_value("")
    expect(message(eren, "half a thought, finished")).to_have_count(1)


def test_another_tab_of_the_room_follows_the_draft_until_it_is_sent(eren, server, pages):
    other = eren.context.new_page()
    open_room(other, server)
    eren.locator("#content").fill("typed in the first tab")
    expect(other.locator("#content")).to_have_value("typed in the first tab")
    eren.locator("#content").press("Enter")
    expect(other.locator("#content")).to_have_value("")
    expect(message(other, "typed in the first tab")).to_have_count(1)


# --- suggestions ---------------------------------------------------------------------


def test_at_suggests_members_first_and_the_keyboard_takes_one(eren, server, db, pages, people):
    make_user(db, "mike", PASSWORD)  # not a member of #general
    mikasa = pages()
    log_in(mikasa, server, "mikasa")
    open_room(mikasa, server)  # a member (the fixture), and now online
    expect(eren.locator('#members li[data-user=mikasa][data-status="online"]')).to_have_count(1)

    box = eren.locator("#content")
    box.fill("thanks ")
    box.press("End")
    eren.keyboard.type("@mi")
    suggestions = eren.locator("#suggestions")
    expect(suggestions).to_be_visible()
    expect(suggestions).to_have_attribute("data-kind", "mention")
    options = suggestions.locator("[role=option]")
    expect(options).to_have_count(2)
    assert options.evaluate_all("os => os.map(o => o.dataset.value)") == ["mikasa", "mike"]
    expect(options.nth(1)).to_contain_text("not in this room")
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(0).get_attribute("id"))

    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    box.press("ArrowDown")  # wraps around
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    box.press("Enter")  # takes the suggestion, does not send
    expect(suggestions).to_be_hidden()
    expect(box).to_have_value("thanks @mikasa ")
    assert box.get_attribute("aria-activedescendant") is None

    eren.keyboard.type("@mi")
    expect(suggestions).to_be_visible()
    box.press("Escape")
    expect(suggestions).to_be_hidden()
    expect(box).to_have_value("thanks @mikasa @mi")
    box.press("Enter")  # closed: Enter sends
    sent = acked(eren, "thanks @mikasa")
    expect(sent.locator(".mention[data-user=mikasa]")).to_have_count(1)


def test_a_shortcode_suggestion_inserts_its_emoji(eren):
    box = eren.locator("#content")
    box.fill("nice ")
    box.press("End")
    eren.keyboard.type(":tad")
    suggestions = eren.locator("#suggestions")
    expect(suggestions).to_have_attribute("data-kind", "emoji")
    first = suggestions.locator("[role=option]").first
    expect(first).to_have_attribute("data-value", "🎉")
    expect(first).to_contain_text(":tada:")
    box.press("Tab")
    expect(box).to_have_value("nice 🎉 ")
    assert focused_id(eren) == "content"

    eren.keyboard.type(":sm")
    expect(suggestions.locator("[role=option]").first).to_be_visible()
    values = suggestions.locator("[role=option]").evaluate_all("os => os.map(o => o.dataset.value)")
    assert "😄" in values
    box.press("Escape")
    eren.keyboard.type("ile: ok")  # typed out, the server turns it into its emoji
    box.press("Enter")
    expect(acked(eren, "nice 🎉").locator(".content")).to_have_text("nice 🎉 😄 ok")


def test_a_slash_suggests_the_commands_with_their_help(eren):
    box = eren.locator("#content")
    box.press("/")
    suggestions = eren.locator("#suggestions")
    expect(suggestions).to_have_attribute("data-kind", "command")
    options = suggestions.locator("[role=option]")
    assert options.evaluate_all("os => os.map(o => o.dataset.value)") == ["me", "stock", "help"]
    expect(options.first).to_contain_text("say what you are doing")
    eren.keyboard.type("m")
    expect(options).to_have_count(1)
    box.press("Enter")
    expect(box).to_have_value("/me ")
    eren.keyboard.type("waves")
    box.press("Enter")
    expect(eren.locator("#messages li.message.action", has_text="waves")).to_have_count(1)

    # A suggestion typed out in full: Enter sends rather than completes.
    eren.keyboard.type("/help")
    expect(options).to_have_count(1)
    box.press("Enter")
    expect(eren.locator("#messages li.notice.local.help")).to_have_count(1)
    expect(box).to_have_value("")
    expect(suggestions).to_be_hidden()


# --- the emoji picker ----------------------------------------------------------------


def test_the_picker_searches_and_inserts_at_the_caret(eren):
    box = eren.locator("#content")
    box.fill("ab")
    box.press("ArrowLeft")  # the caret between a and b
    button = eren.locator("#emoji-button")
    button.click()
    picker = eren.locator("#emoji-picker")
    expect(picker).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(picker.locator("button[data-emoji]").first).to_be_visible()
    assert focused_id(eren) == "emoji-search"
    eren.keyboard.type("tada")
    expect(picker.locator("button[data-emoji]").first).to_have_attribute("data-emoji", "🎉")
    eren.keyboard.press("Enter")  # the first match
    expect(picker).to_be_hidden()
    expect(box).to_have_value("a🎉b")
    assert focused_id(eren) == "content"

    # Keyboard only: into the grid, along it, and Esc gives the focus back.
    button.focus()
    eren.keyboard.press("Enter")
    expect(picker).to_be_visible()
    eren.keyboard.type("heart")
    eren.keyboard.press("ArrowDown")
    second = picker.locator("button[data-emoji]").nth(1)
    eren.keyboard.press("ArrowRight")
    expect(second).to_be_focused()
    chosen = second.get_attribute("data-emoji")
    eren.keyboard.press("Enter")
    expect(box).to_have_value(f"a🎉{chosen}b")
    button.click()
    expect(picker).to_be_visible()
    eren.keyboard.press("Escape")
    expect(picker).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")


def test_more_in_the_reaction_palette_reacts_with_any_emoji(eren, server, pages):
    mikasa = pages()
    log_in(mikasa, server, "mikasa")
    open_room(mikasa, server)
    send(eren, "launch day")
    mine = acked(eren, "launch day")
    mine.hover()
    mine.locator(".tools button.react").click()
    palette = mine.locator(".palette")
    expect(palette.locator("button[data-emoji]")).to_have_count(6)  # the quick ones stay
    more = palette.locator("button.more")
    more.click()
    picker = eren.locator("#emoji-picker")
    expect(picker).to_be_visible()
    eren.keyboard.type("rocket")
    picker.locator("button[data-emoji='🚀']").click()
    expect(picker).to_be_hidden()
    expect(mine.locator(".palette")).to_have_count(0)
    chip = mine.locator("button.reaction[data-emoji='🚀']")
    expect(chip.locator(".count")).to_have_text("1")
    expect(chip).to_have_attribute("aria-pressed", "true")
    theirs = acked(mikasa, "launch day")
    expect(theirs.locator("button.reaction[data-emoji='🚀'] .count")).to_have_text("1")

    # The picker remembers: the rocket is among the first offered next time.
    eren.locator("#emoji-button").click()
    expect(picker.locator(".emoji-row").first.locator("button[data-emoji='🚀']")).to_have_count(1)


# --- Up to edit, Ctrl+K to switch -------------------------------------------------------


def test_up_in_an_empty_box_edits_the_last_message_and_esc_cancels(eren):
    for text in ("first one", "second one"):
        send(eren, text)
        acked(eren, text)
    box = eren.locator("#content")
    box.focus()
    box.press("ArrowUp")
    last = acked(eren, "second one")
    editor = last.locator("form.edit-form textarea")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("second one")
    eren.keyboard.press("Escape")
    expect(last.locator("form.edit-form")).to_have_count(0)
    expect(box).to_be_focused()

    box.fill("not empty")
    box.press("ArrowUp")  # a caret move in a box with text, not an edit
    expect(last.locator("form.edit-form")).to_have_count(0)
    box.fill("")
    box.press("ArrowUp")
    expect(editor).to_be_focused()
    editor.fill("second one, edited")
    editor.press("Enter")
    expect(last.locator(".content")).to_have_text("second one, edited")
    expect(last.locator(".meta .edited")).to_have_count(1)
    expect(box).to_be_focused()


def test_ctrl_k_switches_room(eren, server, db, people):
    for name in ("random", "rust"):
        actions.create_room(db, name, people["eren"].id)
    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    eren.locator("#content").focus()
    eren.keyboard.press("Control+k")
    dialog = eren.locator("dialog#room-switcher")
    expect(dialog).to_be_visible()
    box = dialog.locator("input[role=combobox]")
    expect(box).to_be_focused()
    options = dialog.locator("[role=option]")
    expect(options).to_have_count(3)
    assert_accessible(eren, "#room-switcher")
    SHOTS.mkdir(parents=True, exist_ok=True)
    eren.screenshot(path=str(SHOTS / "room-switcher.png"))
    eren.keyboard.press("Escape")  # closes, the focus back where it was
    expect(dialog).to_be_hidden()
    expect(eren.locator("#content")).to_be_focused()

    eren.keyboard.press("Control+k")
    eren.keyboard.type("r")
    # Names that start so first, then those that hold it.
    expect(options).to_have_count(3)
    rooms = options.evaluate_all("os => os.map(o => o.dataset.room)")
    assert rooms == ["random", "rust", "general"]
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    eren.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    eren.keyboard.press("Enter")
    eren.wait_for_url(re.compile(r"/rooms/rust$"))
    eren.wait_for_selector("#status:has-text('live')")
    expect(eren.locator("#room-title")).to_have_text("#rust")


# --- how it looks ---------------------------------------------------------------------


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_the_suggestions_and_the_picker_fit_the_screen(eren, db, people, width, height):
    """Screenshots of both (in SHOTS), and neither reaches past the window's edges."""
    make_user(db, "mike", PASSWORD)
    eren.set_viewport_size({"width": width, "height": height})
    send(eren, "hello :wave:")
    acked(eren, "hello")
    SHOTS.mkdir(parents=True, exist_ok=True)
    box = eren.locator("#content")
    box.fill("")
    box.focus()
    eren.keyboard.type("thanks :sm")
    suggestions = eren.locator("#suggestions")
    expect(suggestions.locator("[role=option]").first).to_be_visible()
    assert_inside_window(eren, "#suggestions", width)
    assert_accessible(eren, "#send")
    eren.screenshot(path=str(SHOTS / f"suggestions-{width}.png"))

    box.press("Escape")
    eren.locator("#emoji-button").click()
    picker = eren.locator("#emoji-picker")
    expect(picker.locator("button[data-emoji]").first).to_be_visible()
    assert_inside_window(eren, "#emoji-picker", width)
    assert_accessible(eren, "#emoji-picker")
    eren.screenshot(path=str(SHOTS / f"picker-{width}.png"))
    eren.keyboard.type("cat")
    expect(picker.locator("button[data-emoji='🐱']")).to_be_visible()
    assert_inside_window(eren, "#emoji-picker", width)
    eren.screenshot(path=str(SHOTS / f"picker-search-{width}.png"))


def assert_inside_window(page, selector: str, width: int) -> None:
    box = page.locator(selector).bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
    assert box["y"] >= 0, (selector, box)
    overflow = page.locator(selector).evaluate("n => n.scrollWidth > n.clientWidth")
    assert not overflow, f"{selector} scrolls sideways"


def assert_accessible(page, selector: str) -> None:
    """axe-core finds nothing wrong inside `selector` (the parts this file tests;
    the rest of the page is other tests' business)."""
    found = violations_within(page, selector)
    assert not found, "\n".join(str(v) for v in found)


def test_the_scan_of_one_part_sees_a_violation_there_and_only_there(eren):
    """assert_accessible's scan (tests/browser/axe.py, the npm axe-core every browser
    test uses) finds what is wrong inside its selector, and nothing outside it."""
    eren.evaluate(
        "() => document.getElementById('send').append(Object.assign("
        "document.createElement('input'), {id: 'unlabelled'}))"
    )
    inside = violations_within(eren, "#send")
    assert [v.rule for v in inside] == ["label"], [str(v) for v in inside]
    assert violations_within(eren, "#messages") == []
    eren.evaluate("() => document.getElementById('unlabelled').remove()")  # for the final scan
    assert_accessible(eren, "#send")
