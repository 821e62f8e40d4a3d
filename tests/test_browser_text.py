"""The user's text is never lost or silently changed (static/message_text.js,
static/composer.js, static/message_events.js), in real headless Chromium against the
real gunicorn and PostgreSQL: a long paste stays whole with a counter and is not sent,
a blank-by-Unicode text is not sent, an edit over the limit keeps its box open, and a
text the server refuses comes back to be edited, with a Retry only where one can help.
"""

import json
import re
import unicodedata

import pytest
from playwright.sync_api import expect

from chat.domain.text import is_blank

from .conftest import make_user
from .test_browser import PASSWORD, log_in, open_room

pytestmark = pytest.mark.e2e

LIMIT = 4000  # the default MAX_MESSAGE_CHARS, which the 10,000-character paste meets


@pytest.fixture
def server(start_server):
    return start_server(RATE_LIMIT_PER_SEC="0")


@pytest.fixture
def eren(db, server, pages):
    """eren's page, live in #general."""
    make_user(db, "eren", PASSWORD)
    page = pages()
    log_in(page, server, "eren")
    open_room(page, server)
    return page


def stored_texts(db) -> list[str]:
    return [r["content"] for r in db.execute("SELECT content FROM messages ORDER BY seq")]


def send_and_wait(page, text: str) -> None:
    """Send through the box and wait for the ack: every send before it was answered."""
    page.fill("#content", text)
    page.press("#content", "Enter")
    expect(page.locator("#messages li.message:not(.pending)", has_text=text)).to_have_count(1)


def number(n: int) -> str:
    """n as the counter writes it in the browser's locale (en-US here: 10,000)."""
    return f"{n:,}"


@pytest.mark.parametrize(
    "paste",
    [
        pytest.param("x" * 10_000, id="10,000 letters"),
        pytest.param("line of text\n" * 700, id="9,100 in lines"),
        # 8,002 UTF-16 units: a maxlength would have cut these at 2,000 emoji.
        pytest.param("😀" * (LIMIT + 1), id="4,001 emoji"),
    ],
)
def test_long_paste_is_kept_whole(eren, db, paste):
    box, counter = eren.locator("#content"), eren.locator("#send-counter")
    box.focus()
    eren.keyboard.insert_text(paste)  # as a paste arrives: one input event
    expect(box).to_have_value(paste)  # whole, not cut at any maxlength
    count = len(paste)  # Python counts code points, as the server does
    expect(counter).to_have_text(f"{number(count)} / {number(LIMIT)}")
    expect(counter).to_have_class(re.compile(r"\bover\b"))
    expect(eren.locator("#send button[type=submit]")).to_be_disabled()

    box.press("Enter")
    expect(eren.locator("#send-note")).to_have_text(
        f"Too long to send: over the limit of {number(LIMIT)} characters."
        " Shorten it or split it into two messages."
    )
    expect(box).to_have_value(paste)
    expect(eren.locator("#messages li.message")).to_have_count(0)

    # Cut to the limit (in code points), it goes, whole; the note and the alarm go too.
    fitting = "".join(list(paste)[:LIMIT])
    box.fill(fitting)
    expect(eren.locator("#send-note")).to_be_hidden()
    expect(counter).not_to_have_class(re.compile(r"\bover\b"))
    box.press("Enter")
    expect(eren.locator("#messages li.message:not(.pending)")).to_have_count(1)
    expect(box).to_have_value("")
    assert stored_texts(db) == [fitting]  # the refused one was never sent: it would be first


def test_the_counter_shows_from_90_percent_and_counts_code_points(eren):
    box, counter = eren.locator("#content"), eren.locator("#send-counter")
    box.fill("x" * (LIMIT * 9 // 10 - 1))
    expect(counter).to_be_hidden()
    box.fill("x" * (LIMIT * 9 // 10))
    expect(counter).to_have_text(f"{number(LIMIT * 9 // 10)} / {number(LIMIT)}")
    expect(counter).not_to_have_class(re.compile(r"\bover\b"))
    # A family emoji is 7 code points (4 people, 3 joiners) in 11 UTF-16 units.
    family = "👨\u200d👩\u200d👧\u200d👦"
    box.fill("x" * (LIMIT - 7) + family)
    expect(counter).to_have_text(f"{number(LIMIT)} / {number(LIMIT)}")
    expect(eren.locator("#send button[type=submit]")).to_be_enabled()
    box.press("End")
    eren.keyboard.insert_text("!")
    expect(counter).to_have_text(f"{number(LIMIT + 1)} / {number(LIMIT)}")
    expect(counter).to_have_class(re.compile(r"\bover\b"))
    expect(box).to_have_attribute("aria-invalid", "true")


BLANK_TEXTS = [
    " \t\n \u3000\u00a0",  # whitespace, ASCII and not
    "\u200b",  # zero width space
    "\u200b\u200c\u200d\u2060\ufeff",  # zero-width (non-)joiners, word joiner, BOM
    "\u00ad",  # soft hyphen
    "\u200e\u200f\u202e\u2066",  # bidi marks and controls
    "\u034f",  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0",  # Hangul fillers
    "\u2800",  # braille blank
    "\ufe0f\U000e0100",  # variation selectors
    "\u200b \u2800\n\u3164",  # a mixture
]


def test_blank_by_unicode_is_not_sent(eren, db):
    # The rule, over every code point this Python's Unicode tables assign (Chromium's
    # may know newer ones): the page's isBlank agrees with the server's rule.
    blank_in_page = set(
        eren.evaluate(
            """async () => {
                const { isBlank } = await import("/static/message_text.js");
                const blank = [];
                for (let cp = 0; cp <= 0x10ffff; cp++) {
                    if (cp >= 0xd800 && cp <= 0xdfff) continue; // surrogates
                    if (isBlank(String.fromCodePoint(cp))) blank.push(cp);
                }
                return blank;
            }"""
        )
    )
    assigned = [c for c in range(0x110000) if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    assert {c for c in assigned if c in blank_in_page} == {c for c in assigned if is_blank(chr(c))}

    box, note = eren.locator("#content"), eren.locator("#send-note")
    box.press("Enter")  # an empty box: nothing at all happens
    expect(note).to_be_hidden()
    for text in BLANK_TEXTS:
        box.fill(text)
        box.press("Enter")
        expect(note).to_have_text(
            "Nothing to send: the text is only spaces or invisible characters."
        )
        expect(box).to_have_value(text)
    # Invisible characters around visible ones are the writer's: sent as typed.
    send_and_wait(eren, "\u200bhi\u200d")
    expect(note).to_be_hidden()
    assert stored_texts(db) == ["\u200bhi\u200d"]  # none of the blank ones went before it


def stored(page, text: str):
    """The acknowledged message with `text`, found by its seq from then on."""
    item = page.locator("#messages li.message[data-seq]:not(.pending)", has_text=text)
    item.locator(".tools").wait_for(state="attached")
    return page.locator(f"#m{item.get_attribute('data-seq')}")


def test_edit_over_limit_keeps_editor(eren, db):
    send_and_wait(eren, "short note")
    mine = stored(eren, "short note")
    mine.hover()
    mine.locator(".tools button.edit").click()
    form = mine.locator("form.edit-form")
    box, note = form.locator("textarea"), form.locator(".text-note")

    long_text = "y" * 9_000
    box.fill(long_text)
    expect(form.locator(".counter")).to_have_text(f"{number(9_000)} / {number(LIMIT)}")
    expect(form.locator("button.save")).to_be_disabled()
    box.press("Enter")
    expect(note).to_have_text("Too long to save: over the limit of 4,000 characters. Shorten it.")
    expect(form).to_be_visible()
    expect(box).to_have_value(long_text)

    box.fill("\u200b\u2060")
    box.press("Enter")
    expect(note).to_have_text("Nothing to save: the text is only spaces or invisible characters.")
    expect(box).to_have_value("\u200b\u2060")

    box.fill("a better note")
    expect(note).to_be_hidden()
    box.press("Enter")
    expect(form).to_have_count(0)  # closed once the server had it
    expect(mine.locator(".content")).to_have_text("a better note")
    edits = db.execute("SELECT content FROM messages WHERE kind = 'edit'").fetchall()
    assert edits == [{"content": "a better note"}]


def raise_the_pages_limit(page, server, limit: int) -> None:
    """The room page as if rendered before the server's limit was lowered to today's:
    the page allows `limit`, so the real server refuses longer texts with too_large.
    (An init script, run before the page's own: a document answered by page.route
    would count as a public one, which Chromium forbids to open sockets to 127.0.0.1.)"""
    script = """new MutationObserver((changes, observer) => {
        const room = document.getElementById("room");
        if (!room) return;
        room.dataset.maxChars = "LIMIT";
        observer.disconnect();
    }).observe(document, { childList: true, subtree: true });"""
    page.add_init_script(script.replace("LIMIT", str(limit)))
    open_room(page, server)


def test_refused_text_stays_editable(eren, server, db):
    raise_the_pages_limit(eren, server, 2 * LIMIT)
    too_long = "z" * (LIMIT + 500)
    eren.fill("#content", too_long)
    eren.press("#content", "Enter")
    failed = eren.locator("#messages li.message.failed")
    expect(failed.locator(".state")).to_have_text(f"Not sent: content is over {LIMIT} characters.")
    expect(failed.locator("button.retry")).to_have_count(0)  # it would be refused again
    expect(eren.locator("#content")).to_have_value("")

    eren.fill("#content", "a draft")
    failed.locator("button.restore").click()  # "Edit"
    expect(eren.locator("#content")).to_have_value(f"{too_long}\na draft")  # nothing overwritten
    expect(failed).to_have_count(0)
    expect(eren.locator("#content")).to_be_focused()

    # An edit the server refuses keeps its box open, with the text and the reason.
    send_and_wait(eren, "to be edited")
    mine = stored(eren, "to be edited")
    mine.hover()
    mine.locator(".tools button.edit").click()
    box = mine.locator("form.edit-form textarea")
    box.fill(too_long)
    box.press("Enter")
    expect(mine.locator("form.edit-form .text-note")).to_have_text(
        f"Not saved: content is over {LIMIT} characters."
    )
    expect(box).to_have_value(too_long)
    expect(box).to_be_editable()
    assert stored_texts(db) == ["to be edited"]


# Refusals as the server words them; the page offers Retry only where it can succeed.
REFUSALS = {
    "too_large": False,
    "bad_frame": False,
    "forbidden": False,
    "not_found": False,
    "rate_limited": True,
    "unavailable": True,
}


def refuse_once(page, server) -> None:
    """Between page and server: a chat whose text is `refuse:<code>` is answered, the
    first time its client_id is seen, with an error of that code; the rest passes."""
    seen = set()

    def route(ws):
        upstream = ws.connect_to_server()

        def from_page(message):
            frame = json.loads(message) if isinstance(message, str) else {}
            content = frame.get("content", "")
            if frame.get("type") == "chat" and content.startswith("refuse:"):
                if frame["client_id"] not in seen:
                    seen.add(frame["client_id"])
                    code = content.removeprefix("refuse:")
                    refusal = {"type": "error", "code": code, "message": f"refused as {code}"}
                    refusal.update(client_id=frame["client_id"], room="general")
                    ws.send(json.dumps(refusal))
                    return
            upstream.send(message)

        ws.on_message(from_page)

    page.route_web_socket(re.compile(r"/ws$"), route)


def test_refusals_offer_retry_only_where_it_can_succeed(eren, server, db):
    refuse_once(eren, server)
    open_room(eren, server)
    for code in REFUSALS:
        eren.fill("#content", f"refuse:{code}")
        eren.press("#content", "Enter")
    failed = eren.locator("#messages li.message.failed")
    expect(failed).to_have_count(len(REFUSALS))
    for code, retryable in REFUSALS.items():
        line = failed.filter(has_text=f"refuse:{code}")
        expect(line.locator(".state")).to_have_text(f"Not sent: refused as {code}.")
        expect(line.locator("button.restore")).to_have_text("Edit")
        expect(line.locator("button.retry")).to_have_count(1 if retryable else 0)
    # A Retry sends the same message again (its client_id), and this time it goes.
    failed.filter(has_text="refuse:rate_limited").locator("button.retry").click()
    expect(eren.locator("#messages li.message[data-seq]:not(.failed)")).to_have_text(
        re.compile("refuse:rate_limited")
    )
    failed.filter(has_text="refuse:forbidden").locator("button.discard").click()
    expect(failed).to_have_count(len(REFUSALS) - 2)

    eren.reload()  # what was refused is still there, with its reason, and still not sent
    eren.wait_for_selector("#status:has-text('live')")
    expect(failed).to_have_count(len(REFUSALS) - 2)
    expect(failed.filter(has_text="refuse:unavailable").locator("button.retry")).to_have_count(1)
    expect(failed.filter(has_text="refuse:too_large").locator(".state")).to_have_text(
        "Not sent: refused as too_large."
    )
    assert stored_texts(db) == ["refuse:rate_limited"]


def test_a_frame_too_big_for_the_server_is_refused_not_resent(start_server, db, pages):
    """A limit of characters that allows frames over WS_MAX_FRAME_BYTES (a setting
    that disagrees with itself): the server closes the socket (1009) on the frame;
    the page says so and keeps the text, and does not send it again on every
    reconnect, each of which would close again."""
    server = start_server(RATE_LIMIT_PER_SEC="0", WS_MAX_FRAME_BYTES="1024")
    make_user(db, "eren", PASSWORD)
    page = pages()
    log_in(page, server, "eren")
    open_room(page, server)
    big = "é" * 1000  # 1,000 characters, 2,000 bytes of UTF-8
    page.fill("#content", big)
    page.press("#content", "Enter")
    failed = page.locator("#messages li.message.failed")
    expect(failed.locator(".state")).to_have_text("Not sent: the message is too large to send.")
    expect(failed.locator("button.retry")).to_have_count(0)
    expect(page.locator("#status")).to_have_text("live")  # back, and staying
    send_and_wait(page, "small enough")
    assert stored_texts(db) == ["small enough"]
