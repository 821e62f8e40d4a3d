"""Threads on the live room page (issue 18: static/thread_panel.js, thread_marks.js,
quote.js) in real headless Chromium against the real gunicorn and PostgreSQL: a reply
goes to its thread's panel and not to the main flow, its root counts it, live for
everyone; "Also send to #room" shows it in both; a quote-reply shows its snippet; the
panel's own box sends files (its own chips, drop zone and emoji button), quotes inside
the thread, shows a reply as "sending…" until the server has it and gives a refused one
back; an edit or a reaction of a reply also in the room shows in both lists; on a phone
the thread is the whole screen; the open panel passes axe-core.
"""

import base64
import io
import json
import os
import re
import time
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from chat.bots.work import Worker

from ..conftest import ROOT, make_user
from .ui import PASSWORD, drag, log_in, message, open_room, send, thread_state

pytestmark = pytest.mark.e2e

# Where the screenshots of the open panel go (SCREENSHOTS_DIR to keep them elsewhere).
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "test-output" / "threads")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture
def people(db):
    return {name: make_user(db, name, PASSWORD) for name in ("eren", "mikasa")}


def png(width: int, height: int) -> bytes:
    """A picture with something in it: a gradient."""
    image = Image.new("RGB", (width, height))
    image.putdata(
        [(x * 255 // width, y * 255 // height, 120) for y in range(height) for x in range(width)]
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def worker(make_app):
    """The worker, in this process: `drain()` makes the thumbnails due and publishes
    their chat_files frames, as `flask work` would."""
    app = make_app(BOT_RETRY_DELAY=0.0, BOT_POLL_INTERVAL=60.0, BOT_VISIBILITY_TIMEOUT=30.0)
    return Worker(app.config, app.extensions["db_pool"])


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


def attach_in_thread(page, name: str, data: bytes):
    """A file chosen with the thread box's paperclip, uploaded."""
    page.set_input_files(
        "#thread-attach-input", files=[{"name": name, "mimeType": "image/png", "buffer": data}]
    )
    expect(page.locator("#thread-attachments li.chip[data-state=done]")).to_have_count(1)


def quote_in_thread(page, item):
    toggle = item.locator("button.actions-toggle")
    if toggle.is_visible():
        toggle.click()
    else:
        item.hover()
    item.locator(".tools button.quote").click()


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
    expect(eren.locator("#thread-content")).to_be_focused()  # a click: into its box
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
    # Opened by the address, not a click: the focus stays in the room's box.
    expect(eren.locator("#content")).to_be_focused()

    eren.press("#thread-content", "Escape")
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


def test_the_open_thread_desktop_and_phone_with_no_axe_violations(
    server, people, pages, axe, worker
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    eren = in_the_room(pages, server, "eren", viewport={"width": 1280, "height": 800})
    send(eren, "a question with a thread")
    root = stored(eren, "a question with a thread")
    open_thread(eren, root)
    reply(eren, "a first **answer** for @mikasa")
    first = eren.locator(
        "#thread-panel li.message[data-seq]:not(.pending)", has_text="a first answer"
    )
    expect(first).to_have_count(1)
    # A quote of it, with a picture; and a quote and a file waiting in the box.
    quote_in_thread(eren, first)
    attach_in_thread(eren, "the plan.png", png(640, 420))
    reply(eren, "and the plan, drawn")
    drawn = eren.locator("#thread-panel li.message", has_text="and the plan, drawn")
    expect(drawn.locator("blockquote.quote")).to_have_count(1)
    assert worker.drain() >= 1
    expect(drawn.locator("button.file-thumb img")).to_be_visible()
    quote_in_thread(eren, first)
    attach_in_thread(eren, "notes.png", png(40, 30))
    eren.fill("#thread-content", "one more thing")
    eren.screenshot(path=str(SHOTS / "thread-1280x800.png"))
    found = []
    axe.scan(eren, found)
    assert found == [], "\n".join(str(v) for v in found)

    phone = in_the_room(pages, server, "mikasa", **PHONE)
    theirs = stored(phone, "a question with a thread")
    panel = open_thread(phone, theirs)
    expect(panel.locator("li.message", has_text="a first answer")).to_have_count(1)
    expect(
        panel.locator("li.message", has_text="and the plan").locator("button.file-thumb img")
    ).to_be_visible()
    quote_in_thread(phone, panel.locator("li.message", has_text="and the plan"))
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


def test_a_file_sent_in_a_thread_shows_in_the_panel_not_the_room(server, people, pages, worker):
    eren = in_the_room(pages, server, "eren", viewport={"width": 1280, "height": 800})
    mikasa = in_the_room(pages, server, "mikasa", viewport={"width": 1280, "height": 800})
    send(eren, "photos of the wall?")
    panel = open_thread(eren, stored(eren, "photos of the wall?"))
    theirs = open_thread(mikasa, stored(mikasa, "photos of the wall?"))
    expect(eren.locator("#thread-emoji-button")).to_be_visible()

    # Dropped on the thread: its own drop zone and chips, not the room's.
    picture = {
        "b64": base64.b64encode(png(600, 400)).decode(),
        "name": "wall.png",
        "type": "image/png",
    }
    drag(eren, "thread-messages", "dragenter", [picture])
    expect(eren.locator("#thread-drop-zone")).to_be_visible()
    expect(eren.locator("#drop-zone")).to_be_hidden()
    drag(eren, "thread-messages", "drop")
    expect(eren.locator("#thread-drop-zone")).to_be_hidden()
    expect(eren.locator("#thread-attachments li.chip[data-state=done]")).to_have_count(1)
    expect(eren.locator("#attachments li.chip")).to_have_count(0)
    reply(eren, "the north side")
    expect(eren.locator("#thread-attachments")).to_be_hidden()

    for page, thread in ((eren, panel), (mikasa, theirs)):
        item = thread.locator("li.message[data-seq]:not(.pending)", has_text="the north side")
        expect(item.locator("ul.files li.file-image")).to_have_count(1)
        expect(message(page, "the north side")).to_have_count(0)  # not in the main flow
    assert worker.drain() >= 1  # the thumbnail's chat_files frame (with `thread`) comes live
    for thread in (panel, theirs):
        thumb = thread.locator("li.message", has_text="the north side").locator(
            "button.file-thumb img"
        )
        expect(thumb).to_have_attribute("alt", "wall.png")
    expect(eren.locator("#messages ul.files")).to_have_count(0)

    # A file alone (no text), chosen with the paperclip, goes too.
    attach_in_thread(eren, "second.png", png(80, 60))
    eren.press("#thread-content", "Enter")
    expect(theirs.locator("li.message ul.files li.file-image")).to_have_count(2)


def test_quote_inside_a_thread(server, people, pages):
    eren = in_the_room(pages, server, "eren")
    mikasa = in_the_room(pages, server, "mikasa")
    send(eren, "where do we meet?")
    panel = open_thread(eren, stored(eren, "where do we meet?"))
    reply(eren, "at the **gate**")
    theirs = open_thread(mikasa, stored(mikasa, "where do we meet?"))
    quoted = theirs.locator("li.message[data-seq]:not(.thread-root)", has_text="at the gate")
    expect(quoted.locator(".tools button.reply")).to_have_count(0)  # the box is the reply

    quote_in_thread(mikasa, quoted)
    chip = mikasa.locator("#thread-quote-chip")
    expect(chip).to_have_text("Replying to @eren: at the **gate**×")
    expect(mikasa.locator("#thread-content")).to_be_focused()
    expect(mikasa.locator("#quote-chip")).to_be_hidden()
    reply(mikasa, "which gate?")
    expect(chip).to_be_hidden()
    for page, thread in ((mikasa, theirs), (eren, panel)):
        item = thread.locator("li.message[data-seq]:not(.pending)", has_text="which gate?")
        expect(item.locator("blockquote.quote .quote-author")).to_have_text("eren")
        expect(item.locator("blockquote.quote .quote-text")).to_have_text("at the **gate**")
        expect(message(page, "which gate?")).to_have_count(0)

    # Its link goes to the quoted reply in the panel (the room's list has not got it).
    theirs.locator("li.message", has_text="which gate?").locator("a.quote-link").click()
    expect(quoted).to_have_class(re.compile(r"\bhighlight\b"))
    assert "#m" not in mikasa.url

    # Esc drops the quote and keeps the panel open; the next reply carries none.
    quote_in_thread(mikasa, quoted)
    expect(chip).to_be_visible()
    mikasa.press("#thread-content", "Escape")
    expect(chip).to_be_hidden()
    expect(mikasa.locator("#thread-panel")).to_be_visible()
    reply(mikasa, "never mind")
    item = theirs.locator("li.message[data-seq]:not(.pending)", has_text="never mind")
    expect(item).to_have_count(1)
    expect(item.locator("blockquote.quote")).to_have_count(0)


def hold_replies(page):
    """Keep the page's replies (chat frames with `thread`) from the server until
    released; "refuse:" ones are refused as the server would. Returns the held list
    and release()."""
    held = []
    upstreams = []

    def route(ws):
        upstream = ws.connect_to_server()
        upstreams.append(upstream)

        def from_page(raw):
            frame = json.loads(raw) if isinstance(raw, str) else {}
            if frame.get("type") == "chat" and frame.get("thread"):
                if frame["content"].startswith("refuse:"):
                    refusal = {
                        "type": "error",
                        "code": "not_found",
                        "message": "that message is gone",
                    }
                    ws.send(
                        json.dumps({**refusal, "client_id": frame["client_id"], "room": "general"})
                    )
                    return
                held.append(raw)
                return
            upstream.send(raw)

        ws.on_message(from_page)

    page.route_web_socket(re.compile(r"/ws$"), route)

    def release():
        for raw in held:
            upstreams[-1].send(raw)
        held.clear()

    return held, release


def test_a_reply_shows_as_sending_then_settles_and_a_refused_one_comes_back(server, people, pages):
    eren = pages()
    log_in(eren, server, "eren")
    held, release = hold_replies(eren)
    open_room(eren, server)
    send(eren, "is the gate shut?")
    panel = open_thread(eren, stored(eren, "is the gate shut?"))

    reply(eren, "checking now")
    pending = panel.locator("li.message.pending", has_text="checking now")
    expect(pending.locator(".state")).to_have_text("sending…")
    client_id = pending.get_attribute("data-client-id")
    expect(eren.locator("#messages li.pending")).to_have_count(0)
    expect(eren.locator("#thread-content")).to_have_value("")
    while not held:  # a round trip, during which Playwright runs the route's handlers
        eren.evaluate("0")
    assert json.loads(held[0])["client_id"] == client_id

    release()
    settled = panel.locator("li.message.mine[data-seq]", has_text="checking now")
    expect(settled).to_have_count(1)
    expect(settled).not_to_have_class(re.compile("pending"))
    expect(panel.locator("li.message.pending")).to_have_count(0)
    assert settled.get_attribute("id") == f"t{settled.get_attribute('data-seq')}"

    # Refused: the text back in the box, the reason under it, no line left behind.
    reply(eren, "refuse:this one")
    expect(eren.locator("#thread-note")).to_have_text("Not sent: that message is gone.")
    expect(eren.locator("#thread-content")).to_have_value("refuse:this one")
    expect(panel.locator("li.message", has_text="refuse:this one")).to_have_count(0)


def test_edits_and_reactions_of_a_reply_also_in_the_room_show_in_both(server, people, pages):
    eren = in_the_room(pages, server, "eren")
    mikasa = in_the_room(pages, server, "mikasa")
    send(eren, "plans for tonight?")
    panel = open_thread(eren, stored(eren, "plans for tonight?"))
    theirs = open_thread(mikasa, stored(mikasa, "plans for tonight?"))
    reply(eren, "dinner at sevn", also=True)
    mine = panel.locator("li.message[data-seq]:not(.pending)", has_text="dinner at sevn")
    expect(mine.locator(".tools")).to_have_count(1)

    mine.hover()
    mine.locator(".tools button.edit").click()
    box = mine.locator("form.edit-form textarea")
    box.fill("dinner at seven")
    box.press("Enter")
    for page, thread in ((eren, panel), (mikasa, theirs)):
        for item in (
            thread.locator("li.message", has_text="dinner at seven"),
            message(page, "dinner at seven"),
        ):
            expect(item.locator(".content")).to_have_text("dinner at seven")
            expect(item.locator(".edited")).to_have_count(1)

    mine = panel.locator("li.message", has_text="dinner at seven")
    mine.hover()
    mine.locator(".tools button.react").click()
    mine.locator(".palette button[data-emoji='🎉']").click()
    for page, thread in ((eren, panel), (mikasa, theirs)):
        for item in (
            thread.locator("li.message", has_text="dinner at seven"),
            message(page, "dinner at seven"),
        ):
            expect(item.locator(".reactions button.reaction[data-emoji='🎉'] .count")).to_have_text(
                "1"
            )


def test_the_thread_box_emoji_button_inserts_on_a_phone(server, people, pages):
    phone = in_the_room(pages, server, "eren", **PHONE)
    send(phone, "how was it?")
    open_thread(phone, stored(phone, "how was it?"))
    phone.fill("#thread-content", "great ")
    phone.locator("#thread-emoji-button").click()
    picker = phone.locator("#emoji-picker")
    expect(picker).to_be_visible()
    choice = picker.locator("button[data-emoji='🎉']").first
    choice.click()  # a real click: the picker is above the panel, not under it
    expect(phone.locator("#thread-content")).to_have_value("great 🎉")
    expect(phone.locator("#thread-content")).to_be_focused()
