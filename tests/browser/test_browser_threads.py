"""Threads on the live room page (issue 18: static/thread_panel.js, thread_marks.js,
quote.js) in real headless Chromium against the real gunicorn and PostgreSQL: a reply
goes to its thread's panel and not to the main flow, its root counts it, live for
everyone; "Also send to #room" shows it in both; a quote-reply shows its snippet; on a
phone the thread is the whole screen; the open panel passes axe-core.
"""

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ..conftest import ROOT, make_user
from .ui import PASSWORD, log_in, message, open_room, send, thread_state

pytestmark = pytest.mark.e2e

# Where the screenshots of the open panel go (SCREENSHOTS_DIR to keep them elsewhere).
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "test-output" / "threads")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def people(db):
    return {name: make_user(db, name, PASSWORD) for name in ("eren", "mikasa")}


def in_the_room(pages, server, name: str, **options):
    page = pages(**options)
    log_in(page, server, name)
    open_room(page, server)
    return page


def stored(page, text: str):
    """The message with `text` in the main flow, once the server has it."""
    item = page.locator("#messages li.message[data-seq]:not(.pending)", has_text=text)
    item.locator(".tools").wait_for(state="attached")
    return page.locator(f"#m{item.get_attribute('data-seq')}")


def open_thread(page, root):
    """Reply in thread, from the root's tools (shown on hover, or by "⋯" on phones)."""
    toggle = root.locator("button.actions-toggle")
    if toggle.is_visible():
        toggle.click()
    else:
        root.hover()
    root.locator(".tools button.reply").click()
    panel = page.locator("#thread-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("li.thread-root")).to_have_count(1)
    return panel


def reply(page, text: str, also: bool = False):
    if also:
        page.check("#thread-also")
    page.fill("#thread-content", text)
    page.press("#thread-content", "Enter")


def test_a_reply_goes_to_the_thread_and_its_root_counts_it(server, people, pages):
    eren = in_the_room(pages, server, "eren")
    send(eren, "who takes the release?")
    root = stored(eren, "who takes the release?")
    panel = open_thread(eren, root)
    expect(eren.locator("#thread-panel")).to_be_focused()
    expect(panel.locator("li.thread-root .content")).to_have_text("who takes the release?")

    reply(eren, "I do")
    expect(panel.locator("li.message:not(.thread-root)", has_text="I do")).to_have_count(1)
    expect(message(eren, "I do")).to_have_count(0)  # not in the main flow
    expect(root.locator(".thread-summary .thread-count")).to_have_text("1 reply")
    expect(root.locator(".thread-summary .thread-last")).to_have_text("last reply just now")
    expect(eren.locator("#thread-follow")).to_have_attribute("aria-pressed", "true")

    # A reload: the root says it from the table, and ?thread= opens the panel again.
    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    expect(eren.locator("#thread-panel li.message", has_text="I do")).to_have_count(1)
    expect(stored(eren, "who takes the release?").locator(".thread-count")).to_have_text("1 reply")
    expect(message(eren, "I do")).to_have_count(0)

    eren.keyboard.press("Escape")
    expect(eren.locator("#thread-panel")).to_be_hidden()
    assert "thread=" not in eren.url


def test_another_person_sees_replies_arrive_in_their_open_panel(server, db, people, pages):
    eren = in_the_room(pages, server, "eren")
    mikasa = in_the_room(pages, server, "mikasa")
    send(eren, "ship it on friday?")
    theirs = stored(mikasa, "ship it on friday?")
    panel = open_thread(mikasa, theirs)

    mine = stored(eren, "ship it on friday?")
    open_thread(eren, mine)
    reply(eren, "yes, after the tests")
    expect(panel.locator("li.message", has_text="yes, after the tests")).to_have_count(1)
    expect(theirs.locator(".thread-count")).to_have_text("1 reply")
    expect(theirs.locator(".thread-faces .avatar")).to_have_count(1)
    expect(message(mikasa, "yes, after the tests")).to_have_count(0)

    reply(eren, "and the docs")
    expect(panel.locator("li.message:not(.thread-root)")).to_have_count(2)
    expect(theirs.locator(".thread-count")).to_have_text("2 replies")

    # mikasa answers from her panel: eren's panel and root follow.
    reply(mikasa, "deal")
    expect(eren.locator("#thread-panel li.message", has_text="deal")).to_have_count(1)
    expect(mine.locator(".thread-count")).to_have_text("3 replies")
    expect(mine.locator(".thread-faces .avatar")).to_have_count(2)

    # Her open panel reads the thread up to its last reply.
    seq = int(theirs.get_attribute("data-seq"))
    eren.locator("#thread-panel li.message", has_text="deal").wait_for()
    reply(eren, "read this")
    expect(panel.locator("li.message", has_text="read this")).to_have_count(1)
    last = int(panel.locator("li.message").last.get_attribute("data-seq"))
    expect(mikasa.locator("#thread-follow")).to_have_attribute("aria-pressed", "true")
    deadline = time.monotonic() + 10
    while (state := thread_state(server, db, people["mikasa"], seq))["last_read_seq"] < last:
        assert time.monotonic() < deadline, state  # each check is a round trip to the server
    assert state["unread"] == 0
    expect(theirs.locator(".thread-count")).to_have_text("4 replies")

    # eren deletes a reply in his panel: gone from mikasa's, and her root counts one less.
    first = eren.locator("#thread-panel li.message", has_text="and the docs")
    first.hover()
    eren.once("dialog", lambda dialog: dialog.accept())
    first.locator(".tools button.delete").click()
    expect(panel.locator("li.message.deleted")).to_have_count(1)
    expect(theirs.locator(".thread-count")).to_have_text("3 replies")


def test_also_send_to_the_room_shows_the_reply_in_both(server, people, pages):
    eren = in_the_room(pages, server, "eren")
    mikasa = in_the_room(pages, server, "mikasa")
    send(eren, "lunch at noon?")
    panel = open_thread(eren, stored(eren, "lunch at noon?"))
    reply(eren, "noon works for everyone", also=True)
    expect(panel.locator("li.message", has_text="noon works for everyone")).to_have_count(1)
    for page in (eren, mikasa):
        in_room = message(page, "noon works for everyone")
        expect(in_room).to_have_count(1)
        expect(in_room.locator("a.thread-link")).to_have_text("replied to a thread")
    expect(stored(mikasa, "lunch at noon?").locator(".thread-count")).to_have_text("1 reply")

    # Its link opens the thread for mikasa.
    message(mikasa, "noon works for everyone").locator("a.thread-link").click()
    expect(mikasa.locator("#thread-panel li.thread-root")).to_contain_text("lunch at noon?")


def test_a_quote_reply_shows_the_quoted_snippet(server, people, pages):
    eren = in_the_room(pages, server, "eren")
    mikasa = in_the_room(pages, server, "mikasa")
    send(eren, "the **wall** holds")
    quoted = stored(mikasa, "the wall holds")
    quoted.hover()
    quoted.locator(".tools button.quote").click()
    chip = mikasa.locator("#quote-chip")
    expect(chip).to_have_text("Replying to @eren: the **wall** holds×")
    expect(mikasa.locator("#content")).to_be_focused()
    send(mikasa, "for now")
    expect(chip).to_be_hidden()
    for page in (mikasa, eren):
        block = stored(page, "for now").locator("blockquote.quote")
        expect(block.locator(".quote-author")).to_have_text("eren")
        expect(block.locator(".quote-text")).to_have_text("the **wall** holds")  # text, not HTML
        expect(block.locator("a.quote-link")).to_have_attribute(
            "href", f"/rooms/general#m{quoted.get_attribute('data-seq')}"
        )

    # The × cancels a quote: the next message carries none.
    quoted.hover()
    quoted.locator(".tools button.quote").click()
    chip.locator("button.quote-cancel").click()
    send(mikasa, "no quote here")
    expect(stored(mikasa, "no quote here").locator("blockquote.quote")).to_have_count(0)


def test_the_open_thread_desktop_and_phone_with_no_axe_violations(server, people, pages, axe):
    SHOTS.mkdir(parents=True, exist_ok=True)
    eren = in_the_room(pages, server, "eren", viewport={"width": 1280, "height": 800})
    send(eren, "a question with a thread")
    root = stored(eren, "a question with a thread")
    open_thread(eren, root)
    reply(eren, "a first **answer** for @mikasa")
    expect(eren.locator("#thread-panel li.message", has_text="a first answer")).to_have_count(1)
    eren.screenshot(path=str(SHOTS / "thread-1280x800.png"))
    found = []
    axe.scan(eren, found)
    assert found == [], "\n".join(str(v) for v in found)

    phone = in_the_room(pages, server, "mikasa", **PHONE)
    theirs = stored(phone, "a question with a thread")
    panel = open_thread(phone, theirs)
    expect(panel.locator("li.message", has_text="a first answer")).to_have_count(1)
    box = panel.bounding_box()
    assert box == {"x": 0, "y": 0, "width": 390, "height": 844}
    expect(phone.locator("#thread-content")).to_be_visible()
    phone.screenshot(path=str(SHOTS / "thread-390x844.png"))
    axe.scan(phone, found)
    assert found == [], "\n".join(str(v) for v in found)
    phone.locator("#thread-close").click()
    expect(panel).to_be_hidden()
    # The focus goes back to the message (its "⋯": the tools fold away on phones).
    expect(theirs.locator("button.actions-toggle")).to_be_focused()
