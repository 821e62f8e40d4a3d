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

from chat import actions
from chat.bots.work import Worker
from chat.domain.threads import ReplyTo

from ..conftest import ROOT, add_event, make_token, make_user, room_row, send_as
from ..servers import http
from .ui import PASSWORD, drag, in_the_room, log_in, message, open_room, send, thread_state
from .ui import reply as reply_by_api

pytestmark = pytest.mark.e2e

# Where the screenshots of the open panel go (SCREENSHOTS_DIR to keep them elsewhere).
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "test-output" / "threads")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


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


def stored(page, text: str):
    """The message with `text` in the main flow, once the server has it."""
    item = page.locator(
        "#messages li.message[data-seq]:not(.pending)",
        has=page.locator(":scope > .content", has_text=text),  # not a reply naming its root
    )
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
    # Its first page: the root on top, or (a long thread) its newest replies.
    panel.locator("li.message[data-seq]").first.wait_for()
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
        expect(in_room.locator("a.thread-link")).to_have_text("replied in a thread")
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
    expect(chip).to_have_text("Quoting @eren: at the **gate**×")
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


# --- long threads, drafts, permalinks, follow, history ------------------------------


def long_thread(db, people, replies: int = 130) -> tuple[int, list[int]]:
    """eren's root with `replies` replies, eren and mikasa (both members) taking
    turns: the root's seq and the replies' seqs, oldest first."""
    general = room_row(db)
    for person in people.values():
        actions.join_room(db, general.id, person.id)
    root = send_as(db, people["eren"], "a long thread")
    seqs = []
    for i in range(replies):
        who = people["mikasa" if i % 2 else "eren"]
        text, to = f"reply {i:03}", ReplyTo(thread=root)
        seqs.append(actions.send_message(db, general, who, text, None, reply=to).seq)
    return root, seqs


def panel_seqs(page) -> list[int]:
    """The seqs in the panel's list, top to bottom."""
    seqs = "items => items.map((li) => Number(li.dataset.seq))"
    return page.eval_on_selector_all("#thread-messages li.message[data-seq]", seqs)


def scroll_panel_to_top(page):
    page.locator("#thread-messages").evaluate("(list) => { list.scrollTop = 0; }")


def back_to_the_root(page):
    """Scroll the panel up, a page at a time, until its root is in."""
    replies = page.locator("#thread-messages li.message[data-seq]:not(.thread-root)")
    for _ in range(10):
        if page.locator("#thread-messages li.thread-root").count():
            return
        shown = replies.count()
        scroll_panel_to_top(page)
        expect(replies).not_to_have_count(shown)
    raise AssertionError("the root never came")


def test_a_long_thread_pages_back_to_its_root_each_reply_once(server, db, people, pages, axe):
    root, seqs = long_thread(db, people)
    eren = in_the_room(pages, server, "eren", **DESKTOP)
    panel = open_thread(eren, stored(eren, "a long thread"))
    replies = panel.locator("li.message[data-seq]:not(.thread-root)")
    # The newest page, its last reply at the end, no root yet.
    expect(replies).to_have_count(50)
    assert panel_seqs(eren) == seqs[-50:]
    expect(panel.locator("li.thread-root")).to_have_count(0)

    # An older page held on its way while a reply arrives live: both land, each once.
    held = []

    def hold_the_first(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    eren.route(lambda url: "/threads/" in url and "before=" in url, hold_the_first)
    top = eren.locator(f"#t{seqs[-50]}")  # the reply at the top of the view
    scroll_panel_to_top(eren)
    while not held:  # a round trip, during which Playwright runs the route's handlers
        eren.evaluate("0")
    expect(eren.locator("#thread-messages")).to_have_attribute("aria-busy", "true")
    live = reply_by_api(server, db, people["mikasa"], root, "live while a page loads")
    expect(panel.locator("li.message", has_text="live while a page loads")).to_have_count(1)
    y = top.bounding_box()["y"]
    held[0].continue_()
    expect(replies).to_have_count(101)
    # The reply that was at the top stays where it was on screen.
    assert abs(top.bounding_box()["y"] - y) <= 1
    assert panel_seqs(eren) == seqs[-100:] + [live]
    expect(eren.locator("#thread-scrollback-status")).to_have_text("50 older replies loaded.")

    # Scrolled back: how it looks, and axe.
    SHOTS.mkdir(parents=True, exist_ok=True)
    eren.screenshot(path=str(SHOTS / "long-thread-1280x800.png"))
    found = []
    axe.scan(eren, found)
    assert found == [], "\n".join(str(v) for v in found)

    back_to_the_root(eren)
    expect(panel.locator("li.thread-root .content")).to_have_text("a long thread")
    expect(panel.locator("li.thread-replies")).to_have_count(1)
    assert panel_seqs(eren) == [root, *seqs, live]
    expect(eren.locator("#thread-scrollback-status")).to_contain_text("start of the thread reached")

    # Scrolled back to the start, a reply arrives live: once, at the end, and the
    # view stays where the reader is.
    at = eren.locator("#thread-messages").evaluate("(list) => list.scrollTop")
    later = reply_by_api(server, db, people["mikasa"], root, "and one more")
    expect(panel.locator("li.message", has_text="and one more")).to_have_count(1)
    assert panel_seqs(eren) == [root, *seqs, live, later]
    assert eren.locator("#thread-messages").evaluate("(list) => list.scrollTop") == at
    # Not seen yet, so not read: both replies that came while the reader was
    # scrolled back stay unread until they scroll to them.
    assert thread_state(server, db, people["eren"], root)["unread"] == 2
    eren.locator("#thread-messages").evaluate("(list) => { list.scrollTop = list.scrollHeight; }")
    deadline = time.monotonic() + 10
    while (state := thread_state(server, db, people["eren"], root))["last_read_seq"] < later:
        assert time.monotonic() < deadline, state  # each check is a round trip to the server
    assert state["unread"] == 0

    phone = in_the_room(pages, server, "mikasa", **PHONE)
    panel = open_thread(phone, stored(phone, "a long thread"))
    expect(panel.locator("li.message[data-seq]")).to_have_count(50)
    scroll_panel_to_top(phone)
    expect(panel.locator("li.message[data-seq]")).to_have_count(100)
    phone.locator("#thread-messages").evaluate("(list) => { list.scrollTop -= 200; }")
    phone.screenshot(path=str(SHOTS / "long-thread-390x844.png"))
    axe.scan(phone, found)
    assert found == [], "\n".join(str(v) for v in found)


def test_each_thread_keeps_its_own_draft(server, people, pages):
    eren = in_the_room(pages, server, "eren", **DESKTOP)
    send(eren, "first topic")
    first = stored(eren, "first topic")
    send(eren, "second topic")
    second = stored(eren, "second topic")
    panel = open_thread(eren, first)
    expect(eren.locator("#thread-title")).to_have_text("Thread in #general")
    reply(eren, "an answer")
    answer = panel.locator("li.message[data-seq]:not(.pending)", has_text="an answer")
    expect(answer).to_have_count(1)
    box, chip, also = (
        eren.locator("#thread-content"),
        eren.locator("#thread-quote-chip"),
        eren.locator("#thread-also"),
    )

    def shows(text, quoted, ticked):
        expect(box).to_have_value(text)
        if quoted:
            expect(chip).to_have_text("Quoting @eren: an answer×")
        else:
            expect(chip).to_be_hidden()
        expect(also).to_be_checked(checked=ticked)

    quote_in_thread(eren, answer)
    also.check()
    box.fill("half a thought")

    open_thread(eren, second)  # another thread: its own (empty) box
    shows("", quoted=False, ticked=False)
    expect(box).to_be_focused()
    box.fill("about the second")
    open_thread(eren, first)  # back: as it was left
    shows("half a thought", quoted=True, ticked=True)

    # Closing keeps it: by the button, and by Escape.
    eren.click("#thread-close")
    expect(panel).to_be_hidden()
    open_thread(eren, first)
    shows("half a thought", quoted=True, ticked=True)
    open_thread(eren, second)
    shows("about the second", quoted=False, ticked=False)
    box.press("Escape")
    expect(panel).to_be_hidden()
    open_thread(eren, second)
    shows("about the second", quoted=False, ticked=False)

    # A reload keeps them too.
    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    expect(panel.locator("li.thread-root")).to_contain_text("second topic")
    shows("about the second", quoted=False, ticked=False)
    open_thread(eren, stored(eren, "first topic"))
    shows("half a thought", quoted=True, ticked=True)

    # Sent: with its quote and in the room too; the box empty, "Also send" unticked.
    box.press("Enter")
    sent = panel.locator("li.message[data-seq]:not(.pending)", has_text="half a thought")
    expect(sent.locator("blockquote.quote .quote-text")).to_have_text("an answer")
    expect(message(eren, "half a thought")).to_have_count(1)
    shows("", quoted=False, ticked=False)
    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    shows("", quoted=False, ticked=False)


@pytest.mark.parametrize("how", ["address", "link"])
def test_a_permalink_to_a_reply_opens_its_thread_at_it(server, db, people, pages, how):
    root, seqs = long_thread(db, people)
    target = seqs[10]  # older than the panel's first page
    general = room_row(db)
    quoting = actions.send_message(
        db, general, people["mikasa"], "see that reply", None, reply=ReplyTo(quote=target)
    ).seq
    eren = pages(**DESKTOP)
    log_in(eren, server, "eren")
    if how == "address":
        eren.goto(f"{server.url}/rooms/general#m{target}")
        eren.wait_for_selector("#status:has-text('live')")
    else:
        open_room(eren, server)
        link = eren.locator(f"#m{quoting} a.quote-link")
        expect(link).to_have_attribute("href", f"/rooms/general#m{target}")
        link.click()
    item = eren.locator(f"#thread-messages #t{target}")
    expect(item).to_have_class(re.compile(r"\bhighlight\b"))
    expect(item).to_be_in_viewport()
    expect(item).to_contain_text("reply 010")
    # Nothing in the main flow is highlighted instead.
    expect(eren.locator("#messages li.highlight")).to_have_count(0)
    assert f"thread={root}" in eren.url
    # Loaded back to it: every reply from some older one to the newest, once, in order.
    shown = [seq for seq in panel_seqs(eren) if seq != root]
    assert target in shown
    assert shown == seqs[seqs.index(shown[0]) :]


def test_a_permalink_to_an_event_still_shows_the_next_message(server, db, people, pages):
    general = room_row(db)
    actions.join_room(db, general.id, people["eren"].id)
    first = send_as(db, people["eren"], "before the event")
    event = add_event(db, people["eren"], "edit", first, "before the event, edited")
    after = send_as(db, people["eren"], "after the event")
    assert after > event
    eren = pages(**DESKTOP)
    log_in(eren, server, "eren")
    eren.goto(f"{server.url}/rooms/general#m{event}")
    eren.wait_for_selector("#status:has-text('live')")
    expect(eren.locator(f"#m{after}")).to_have_class(re.compile(r"\bhighlight\b"))
    expect(eren.locator("#thread-panel")).to_be_hidden()


def test_an_address_of_no_thread_says_so_with_nothing_to_use(server, db, people, pages):
    """?thread=<a seq no message has>: the panel says there is no such thread; its
    box and Follow are not there to use. Opening a real thread then works."""
    general = room_row(db)
    actions.join_room(db, general.id, people["eren"].id)
    root = send_as(db, people["eren"], "a real root")
    eren = pages(**DESKTOP)
    log_in(eren, server, "eren")
    eren.goto(f"{server.url}/rooms/general?thread=99999")
    eren.wait_for_selector("#status:has-text('live')")
    expect(eren.locator("#thread-messages")).to_have_text("There is no such thread in this room.")
    expect(eren.locator("#thread-content")).to_be_disabled()
    expect(eren.locator("#thread-also")).to_be_disabled()
    expect(eren.locator("#thread-follow")).to_be_hidden()
    eren.locator(f"#m{root} button", has_text="Reply").click()
    expect(eren.locator("#thread-content")).to_be_enabled()
    expect(eren.locator("#thread-follow")).to_be_visible()
    expect(eren.locator("#thread-messages")).not_to_contain_text("no such thread")


def test_a_thread_of_one_day_has_one_day_line(server, db, people, pages):
    """The root, shown on top once every reply is in, takes the day line; its
    first reply on the same day does not repeat it."""
    general = room_row(db)
    actions.join_room(db, general.id, people["eren"].id)
    root = send_as(db, people["eren"], "the root")
    for text in ("first reply", "second reply"):
        reply_by_api(server, db, people["eren"], root, text)
    eren = pages(**DESKTOP)
    log_in(eren, server, "eren")
    eren.goto(f"{server.url}/rooms/general?thread={root}")
    expect(eren.locator("#thread-messages li.thread-root")).to_have_count(1)
    reply_by_api(server, db, people["eren"], root, "third reply")  # live, into the open panel
    expect(eren.locator("#thread-messages li", has_text="third reply")).to_have_count(1)
    expect(eren.locator("#thread-messages li.day")).to_have_count(1)
    expect(eren.locator("#thread-messages li.day")).to_have_text("Today")


def drop_room_removed(page):
    """Keep `room_removed` frames from the page: it still thinks its reader a member."""

    def route(ws):
        upstream = ws.connect_to_server()

        def from_server(raw):
            frame = json.loads(raw) if isinstance(raw, str) else {}
            if frame.get("type") != "room_removed":
                ws.send(raw)

        upstream.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws$"), route)


def test_a_refused_follow_goes_back_and_says_why(server, db, people, pages):
    general = room_row(db)
    for person in people.values():
        actions.join_room(db, general.id, person.id)
    root = send_as(db, people["eren"], "follow this one?")
    mikasa = pages(**DESKTOP)
    log_in(mikasa, server, "mikasa")
    drop_room_removed(mikasa)
    open_room(mikasa, server)
    open_thread(mikasa, stored(mikasa, "follow this one?"))
    button = mikasa.locator("#thread-follow")
    expect(button).to_have_text("Follow")

    # She leaves #general elsewhere, and this page has not heard.
    api = http()
    api.headers["Authorization"] = f"Bearer {make_token(db, people['mikasa'])}"
    assert api.post(f"{server.url}/api/rooms/general/leave").status_code == 200
    button.click()
    note = mikasa.locator("#thread-note")
    expect(note).to_have_text("Not followed: join #general to follow its threads.")
    expect(button).to_have_text("Follow")
    expect(button).to_have_attribute("aria-pressed", "false")
    assert thread_state(server, db, people["mikasa"], root) is None

    # A page that knows she is not a member offers no Follow.
    mikasa.reload()
    mikasa.wait_for_selector("#status:has-text('live')")
    expect(mikasa.locator("#thread-panel")).to_be_visible()
    expect(button).to_be_hidden()


def test_back_closes_the_thread_on_a_phone(server, people, pages):
    phone = in_the_room(pages, server, "eren", **PHONE)
    send(phone, "back to the room?")
    root = stored(phone, "back to the room?")
    seq = root.get_attribute("data-seq")
    phone.evaluate("window.__samePage = true")  # gone if the page is ever loaded again
    panel = open_thread(phone, root)
    assert phone.url.endswith(f"/rooms/general?thread={seq}")
    expect(phone.locator("#thread-content")).to_be_focused()
    # What the panel covers is out of reach (Tab, screen readers) while it is open.
    covered = ["#room", "body > header.top", "#rooms-drawer"]
    for selector in covered:
        expect(phone.locator(selector)).to_have_js_property("inert", True)
    for _ in range(12):  # Tab goes round the panel only
        phone.keyboard.press("Tab")
        assert phone.evaluate(
            "document.activeElement === document.body"
            " || document.getElementById('thread-panel').contains(document.activeElement)"
        )

    phone.go_back()
    expect(panel).to_be_hidden()
    for selector in covered:
        expect(phone.locator(selector)).to_have_js_property("inert", False)
    assert phone.url.endswith("/rooms/general")
    assert phone.evaluate("window.__samePage === true")  # still the room's page
    phone.go_forward()
    expect(panel).to_be_visible()
    expect(panel.locator("li.thread-root")).to_contain_text("back to the room?")
    assert phone.url.endswith(f"?thread={seq}")

    # Closed by its button: the entry that opened it is gone back over.
    phone.locator("#thread-close").click()
    expect(panel).to_be_hidden()
    phone.wait_for_url(re.compile(r"/rooms/general$"))
    assert phone.evaluate("window.__samePage === true")
    phone.go_back()  # then Back leaves the room, as it would have before
    phone.wait_for_url(re.compile(r"/rooms$"))

    # Reopened by the address after a reload: Escape takes it away, no entry left.
    phone.goto(f"{phone.url}/general?thread={seq}")
    phone.wait_for_selector("#status:has-text('live')")
    expect(panel).to_be_visible()
    expect(panel).to_be_focused()  # it covers the room: the focus goes with it, not to the box
    phone.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert phone.url.endswith("/rooms/general")


def test_a_refused_reply_comes_back_with_its_quote_and_a_deleted_quote_says_so(
    server, db, people, pages
):
    eren = in_the_room(pages, server, "eren", **DESKTOP)
    mikasa = in_the_room(pages, server, "mikasa", **DESKTOP)
    send(eren, "which way?")
    panel = open_thread(eren, stored(eren, "which way?"))
    reply(eren, "north, I think")
    theirs = open_thread(mikasa, stored(mikasa, "which way?"))
    north = theirs.locator("li.message[data-seq]:not(.thread-root)", has_text="north")
    expect(north.locator(".tools")).to_have_count(1)
    quoted = mikasa.locator(f"#t{north.get_attribute('data-seq')}")
    quote_in_thread(mikasa, quoted)
    mikasa.check("#thread-also")
    # A bot's command in a thread: the server refuses it (bots answer in the room).
    mikasa.fill("#thread-content", "/stock=AAPL.US")
    mikasa.press("#thread-content", "Enter")
    expect(mikasa.locator("#thread-note")).to_contain_text("a bot answers in the room")
    expect(mikasa.locator("#thread-content")).to_have_value("/stock=AAPL.US")
    expect(mikasa.locator("#thread-quote-chip")).to_have_text("Quoting @eren: north, I think×")
    expect(mikasa.locator("#thread-also")).to_be_checked()
    expect(theirs.locator("li.message.pending")).to_have_count(0)

    # eren deletes the reply she quotes: her chip says so, and her reply goes
    # without the quote (the server would refuse a quote of it).
    mine = panel.locator("li.message[data-seq]:not(.thread-root)", has_text="north")
    mine.hover()
    eren.once("dialog", lambda dialog: dialog.accept())
    mine.locator(".tools button.delete").click()
    expect(quoted).to_have_class(re.compile(r"\bdeleted\b"))
    expect(mikasa.locator("#thread-quote-chip")).to_contain_text("quoted message was deleted")
    mikasa.fill("#thread-content", "why north?")
    mikasa.press("#thread-content", "Enter")
    sent = theirs.locator("li.message[data-seq]:not(.pending)", has_text="why north?")
    expect(sent).to_have_count(1)
    expect(sent.locator("blockquote.quote")).to_have_count(0)
    expect(mikasa.locator("#thread-quote-chip")).to_be_hidden()


def test_typing_a_reply_shows_in_that_threads_panel_only(server, people, pages):
    eren = in_the_room(pages, server, "eren")
    mikasa = in_the_room(pages, server, "mikasa")
    send(eren, "ship it on friday?")
    send(eren, "and the release notes?")
    open_thread(eren, stored(eren, "ship it on friday?"))
    open_thread(mikasa, stored(mikasa, "ship it on friday?"))

    mikasa.locator("#thread-content").press_sequentially("on it")
    expect(eren.locator("#thread-typing")).to_have_text("mikasa is typing…")
    expect(eren.locator("#typing")).to_have_text("")  # the room's line is the main flow's
    reply(mikasa, "on it")
    expect(eren.locator("#thread-typing")).to_have_text("")  # her reply came

    # Typing in the room's own box shows in the room's line, not the panel's.
    mikasa.locator("#content").press_sequentially("hello")
    expect(eren.locator("#typing")).to_have_text("mikasa is typing…")
    expect(eren.locator("#thread-typing")).to_have_text("")

    # In another thread: not shown in the thread eren has open.
    open_thread(mikasa, stored(mikasa, "and the release notes?"))
    mikasa.locator("#thread-content").press_sequentially("later")
    expect(eren.locator("#thread-typing")).to_have_text("")


def test_a_reply_mentioning_a_non_member_says_so_under_it_in_the_panel(server, db, people, pages):
    for size, outsider in ((DESKTOP, "levi"), (PHONE, "hange")):
        make_user(db, outsider, PASSWORD)  # never joined #general
        mikasa = in_the_room(pages, server, "mikasa", **size)
        send(mikasa, f"who checks the wall, {outsider}?")
        open_thread(mikasa, stored(mikasa, f"who checks the wall, {outsider}?"))
        reply(mikasa, f"maybe @{outsider} can")
        line = mikasa.locator("#thread-messages li.not-members")
        expect(line).to_contain_text(f"{outsider} is not in #general and was not notified.")
        expect(line).to_be_visible()  # on a phone too, where the panel covers the room
        expect(mikasa.locator("#messages li.not-members")).to_have_count(0)
        line.locator("button", has_text=f"Add {outsider}").click()
        expect(line).to_have_text(f"Added {outsider} to #general.")
        mikasa.close()
