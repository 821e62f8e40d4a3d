"""Files, images and link previews in real headless Chromium against the real gunicorn,
PostgreSQL and the worker (static/attachments.js, files_view.js, lightbox.js,
previews.js): files dropped, pasted and chosen upload at once with their progress,
refusals and cancels show on their chips, the message and its files go together (or
come back together), the other person sees the image's box at once and its thumbnail
live when the worker has made it, the lightbox opens and closes, other files are
download rows, and a link preview appears for the other person and goes for everyone
when its author removes it; at desktop and phone sizes.
"""

import base64
import io
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from chat import actions
from chat.bots.work import Worker

from ..bots.pages import Page, PageServer
from ..conftest import ROOT, room_row
from .ui import drag, log_in, message, open_room, send

pytestmark = pytest.mark.e2e

# Where the screenshots go (SCREENSHOTS_DIR to keep them elsewhere); not committed.
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "test-output" / "files-ui")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}

# A preview page, as tests/bots/test_work.py serves it.
PREVIEW_PAGE = (
    "<html><head><title>Ignored</title>"
    '<meta property="og:title" content="Eren &amp; the Walls">'
    '<meta property="og:description" content="A story about walls, and what lies beyond them:'
    " the sea, the other continent, and a long argument about freedom that goes on and on"
    ' for more than three lines on any screen this card is shown on, which is the point.">'
    '<meta property="og:site_name" content="Paradis">'
    '<meta property="og:image" content="/wall.png">'
    "</head><body>secret body</body></html>"
)

# Paste an image into the message box, as a screenshot in the clipboard would.
PASTE_JS = """([b64, type]) => {
  const dt = new DataTransfer();
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  dt.items.add(new File([bytes], "image.png", { type }));
  const event = new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true });
  document.getElementById("content").dispatchEvent(event);
}"""


# Count XMLHttpRequest aborts from here on (window.__aborts).
COUNT_ABORTS_JS = """() => {
  window.__aborts = 0;
  const abort = XMLHttpRequest.prototype.abort;
  XMLHttpRequest.prototype.abort = function () { window.__aborts++; return abort.call(this); };
}"""
# Count uploads on their way at once (window.__most: the most at any moment).
COUNT_UPLOADS_JS = """() => {
  window.__going = 0;
  window.__most = 0;
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    window.__going++;
    window.__most = Math.max(window.__most, window.__going);
    // Done at readyState 4, before its load event (where the next one starts).
    const done = () => {
      if (this.readyState !== 4) return;
      window.__going--;
      this.removeEventListener("readystatechange", done);
    };
    this.addEventListener("readystatechange", done);
    return send.call(this, body);
  };
}"""
# A failed image (state "failed"), drawn by the page's own module, for its author or not.
FAILED_ROW_JS = """async (mine) => {
  const { filesList } = await import("/static/files_view.js");
  const file = { id: "k1", name: "broken.jpg", size: 2048, type: "image/jpeg", width: 800,
                 height: 600, url: "/files/k1/broken.jpg", thumb: null, state: "failed" };
  const row = filesList([file], mine).querySelector("li");
  return { cls: row.className, link: row.querySelector("a.file-name")?.getAttribute("href") ?? null,
           text: row.textContent, boxes: row.querySelectorAll(".file-placeholder").length };
}"""
BUSY = json.dumps(
    {
        "error": {
            "code": "busy",
            "message": "this server is busy with other uploads; try again shortly",
        }
    }
)
NO_OVERFLOW_JS = (
    "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
)
PDF = b"%PDF-1.4\n" + b"x" * 3000


def png(width: int, height: int) -> bytes:
    """A picture with something to see in it (a gradient and a band)."""
    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            (x * 255 // width, y * 255 // height, 160 if height // 3 < y < height // 2 else 90)
            for y in range(height)
            for x in range(width)
        ]
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(png(width, height))).save(out, "JPEG", quality=90)
    return out.getvalue()


def upload(name: str, data: bytes, media_type: str) -> dict:
    return {"b64": base64.b64encode(data).decode(), "name": name, "type": media_type}


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.fixture
def worker(make_app):
    """The worker, in this process: `drain()` does every job due (thumbnails,
    previews), publishing their frames as `flask work` would."""
    made = []

    def make(**settings):
        app = make_app(
            BOT_RETRY_DELAY=0.0, BOT_POLL_INTERVAL=60.0, BOT_VISIBILITY_TIMEOUT=30.0, **settings
        )
        made.append(Worker(app.config, app.extensions["db_pool"]))
        return made[-1]

    return make


@pytest.fixture
def members(db, people):
    general = room_row(db)
    for person in people.values():
        actions.join_room(db, general.id, person.id)
    return people


def open_as(pages, server, username: str, **options):
    page = pages(**options)
    log_in(page, server, username)
    open_room(page, server)
    return page


def chips(page):
    return page.locator("#attachments li.chip")


def wait_uploaded(page, count: int):
    """Until `count` chips have finished: each progress bar at its max."""
    done = page.locator("#attachments li.chip[data-state=done]")
    expect(done).to_have_count(count)
    for i in range(count):
        bar = done.nth(i).locator("progress")
        assert bar.get_attribute("value") == bar.get_attribute("max")


def loaded(page, img, width: int | None = None) -> None:
    """Until the image has loaded (at its natural `width`, when given)."""
    check = "img.naturalWidth > 0" if width is None else f"img.naturalWidth === {width}"
    page.wait_for_function(f"img => img.complete && {check}", arg=img.element_handle())


def stored_files(db) -> int:
    return db.execute("SELECT count(*) AS n FROM files").fetchone()["n"]


# --- images: drop, upload, send, thumbnail live, lightbox ------------------------------


def test_a_dropped_image_reaches_the_other_person_with_its_thumbnail_live(
    server, pages, members, worker, db
):
    eren = open_as(pages, server, "eren", viewport=DESKTOP)
    mikasa = open_as(pages, server, "mikasa", viewport=DESKTOP)
    photo = png(800, 600)

    drag(eren, "messages", "dragenter", [upload("walls.png", photo, "image/png")])
    expect(eren.locator("#drop-zone")).to_be_visible()
    shot(eren, "desktop-drop-zone")
    drag(eren, "messages", "drop")
    expect(eren.locator("#drop-zone")).to_be_hidden()
    expect(chips(eren)).to_have_count(1)
    expect(chips(eren).locator(".chip-name")).to_have_text("walls.png")
    wait_uploaded(eren, 1)
    eren.locator("#content").fill("the walls at dawn")
    shot(eren, "desktop-composer-chips")
    eren.press("#content", "Enter")
    expect(chips(eren)).to_have_count(0)
    expect(eren.locator("#attachments")).to_be_hidden()

    # Before the worker: the scaled box (400 x 300) is reserved, nothing moves later.
    item = message(mikasa, "the walls at dawn")
    box = item.locator("ul.files li.file-image .file-placeholder")
    expect(box).to_be_visible()
    size = box.bounding_box()
    assert (round(size["width"]), round(size["height"])) == (400, 300)

    assert worker().drain() >= 1  # the image job: its chat_files frame comes live
    thumb = item.locator("ul.files button.file-thumb img")
    expect(thumb).to_have_attribute("alt", "walls.png")
    expect(thumb).to_have_attribute("width", "400")
    expect(thumb).to_have_attribute("height", "300")
    loaded(mikasa, thumb)
    shot(mikasa, "desktop-message-with-image")

    thumb.click()
    dialog = mikasa.locator("dialog#lightbox")
    expect(dialog).to_be_visible()
    big = dialog.locator("img")
    expect(big).to_have_attribute("alt", "walls.png")
    loaded(mikasa, big, 800)
    url = item.locator("ul.files button.file-thumb").get_attribute("data-url")
    expect(dialog.locator("a.lightbox-download")).to_have_attribute("href", url)
    shot(mikasa, "desktop-lightbox")
    fits = big.bounding_box()
    assert fits["width"] <= DESKTOP["width"] and fits["height"] <= DESKTOP["height"]
    mikasa.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert mikasa.evaluate("document.activeElement.classList.contains('file-thumb')")

    # A reload (catch-up) draws the thumbnail from the message itself.
    mikasa.reload()
    mikasa.wait_for_selector("#status:has-text('live')")
    expect(message(mikasa, "the walls at dawn").locator("button.file-thumb img")).to_be_visible()


# --- paste, the paperclip, download rows, a refused send --------------------------------


def test_a_pasted_screenshot_and_a_chosen_document_go_as_one_message(server, pages, members, db):
    eren = open_as(pages, server, "eren", viewport=DESKTOP)
    mikasa = open_as(pages, server, "mikasa", viewport=DESKTOP)

    eren.evaluate(PASTE_JS, [base64.b64encode(png(120, 80)).decode(), "image/png"])
    expect(chips(eren)).to_have_count(1)
    expect(chips(eren).first.locator(".chip-name")).to_have_text(
        re.compile(r"^pasted image \d{4}-\d\d-\d\d \d\d\.\d\d\.png$")
    )
    expect(eren.locator("#content")).to_have_value("")  # nothing pasted as text
    with eren.expect_file_chooser() as chooser:
        eren.click("#attach-button")
    chooser.value.set_files(
        [
            {
                "name": "minutes.pdf",
                "mimeType": "application/pdf",
                "buffer": PDF,
            }
        ]
    )
    wait_uploaded(eren, 2)
    expect(chips(eren).nth(1).locator(".chip-size")).to_have_text("2.9 KiB")

    # A refused send (files do not go with a command) gives back the text and the files.
    send(eren, "/help")
    expect(eren.locator("#send-note")).to_contain_text("Not sent")
    expect(eren.locator("#content")).to_have_value("/help")
    wait_uploaded(eren, 2)
    expect(eren.locator("#messages li.message:is(.pending, .failed)")).to_have_count(0)

    eren.locator("#content").fill("")
    eren.press("#content", "Enter")  # files alone: no text needed
    expect(chips(eren)).to_have_count(0)
    item = mikasa.locator("#messages li.message", has=mikasa.locator("ul.files"))
    expect(item.locator("ul.files > li")).to_have_count(2)
    expect(item.locator("li.file-image .file-placeholder")).to_have_attribute(
        "aria-label", re.compile(r"^pasted image .*\.png")
    )
    row = item.locator("li.file-row")
    link = row.locator("a.file-name")
    expect(link).to_have_text("minutes.pdf")
    expect(link).to_have_attribute("download", "minutes.pdf")
    expect(row.locator(".file-size")).to_have_text("2.9 KiB")
    with mikasa.expect_download() as got:
        link.click()
    assert got.value.suggested_filename == "minutes.pdf"


# --- refusals, the limit of ten, cancelling ---------------------------------------------


def test_refused_and_cancelled_uploads_show_on_their_chips(start_server, pages, members, db):
    server = start_server(RATE_LIMIT_PER_SEC="0", UPLOAD_MAX_BYTES="2000")
    eren = open_as(pages, server, "eren", viewport=DESKTOP)

    eren.set_input_files(
        "#attach-input", [{"name": "big.log", "mimeType": "text/plain", "buffer": b"y" * 5000}]
    )
    refused = chips(eren).first
    expect(refused).to_have_attribute("data-state", "error")
    expect(refused.locator(".chip-error")).to_contain_text("Not uploaded:")
    expect(refused.locator(".chip-error")).to_contain_text("2,000 bytes")
    eren.locator("#content").fill("the log")
    eren.press("#content", "Enter")
    expect(eren.locator("#send-note")).to_contain_text("remove the files")
    expect(eren.locator("#content")).to_have_value("the log")
    refused.locator("button.chip-remove").click()
    expect(chips(eren)).to_have_count(0)

    # Eleven at once: ten are attached, and the note says what happened to the last.
    eren.set_input_files(
        "#attach-input",
        [{"name": f"n{i}.txt", "mimeType": "text/plain", "buffer": b"note"} for i in range(11)],
    )
    expect(chips(eren)).to_have_count(10)
    expect(eren.locator("#attach-note")).to_contain_text("At most 10 files")
    wait_uploaded(eren, 10)
    for _ in range(10):
        # Each × deletes its upload on the server: counted below once they are all done.
        with eren.expect_response(lambda r: r.request.method == "DELETE"):
            chips(eren).first.locator("button.chip-remove").click()
    expect(eren.locator("#attach-note")).to_be_hidden()
    before = stored_files(db)

    # An upload on its way (held here, as a slow network would): × aborts it.
    held, cancelled = [], []

    def hold(route):  # until cancelled; after that, never let it through
        if cancelled:
            route.abort()
        else:
            held.append(route)

    eren.route("**/api/files?**", hold)
    eren.set_input_files(
        "#attach-input", [{"name": "slow.txt", "mimeType": "text/plain", "buffer": b"slow"}]
    )
    slow = chips(eren).first
    expect(slow).to_have_attribute("data-state", "uploading")
    expect(slow.locator("button.chip-remove")).to_have_attribute(
        "aria-label", "Cancel the upload of slow.txt"
    )
    eren.evaluate(COUNT_ABORTS_JS)
    slow.locator("button.chip-remove").click()
    expect(chips(eren)).to_have_count(0)
    assert eren.evaluate("window.__aborts") == 1
    cancelled.append(True)
    for route in held:  # never let the held upload through, now or at teardown
        try:
            route.abort()
        except PlaywrightError:
            pass  # the browser's abort ended it already
    eren.unroute("**/api/files?**")
    send(eren, "the log, without it")
    expect(message(eren, "the log, without it").locator("ul.files")).to_have_count(0)
    assert stored_files(db) == before


# --- link previews ----------------------------------------------------------------------


def test_a_link_preview_appears_and_its_author_removes_it_for_everyone(
    server, pages, members, worker
):
    site = PageServer()
    try:
        site.pages["/walls"] = Page(PREVIEW_PAGE)
        url = site.url("/walls")
        eren = open_as(pages, server, "eren", viewport=DESKTOP)
        mikasa = open_as(pages, server, "mikasa", viewport=DESKTOP)
        send(eren, f"read {url} tonight")
        expect(message(mikasa, "tonight")).to_have_attribute("data-seq", re.compile(r"\d"))
        worker(LINK_PREVIEWS=True, EGRESS_ALLOW=site.allow).drain()
    finally:
        site.close()

    card = message(mikasa, "tonight").locator(".preview-card")
    expect(card).to_be_visible()
    expect(card.locator(".preview-site")).to_have_text("Paradis")
    title = card.locator("a.preview-title")
    expect(title).to_have_text("Eren & the Walls")
    expect(title).to_have_attribute("href", url)
    expect(title).to_have_attribute("target", "_blank")
    expect(title).to_have_attribute("rel", "noopener noreferrer")
    expect(card.locator("img")).to_have_count(0)  # img-src 'self': no outside pictures
    lines = card.locator(".preview-description").evaluate(
        "p => Math.round(p.getBoundingClientRect().height"
        " / parseFloat(getComputedStyle(p).lineHeight))"
    )
    assert lines <= 3
    expect(card.locator("button.preview-remove")).to_have_count(0)  # not her message
    shot(mikasa, "desktop-preview-card")

    own = message(eren, "tonight").locator(".preview-card")
    remove = own.locator("button.preview-remove")
    expect(remove).to_have_attribute("aria-label", "Remove preview")
    remove.click()
    expect(own).to_have_count(0)
    expect(card).to_have_count(0)
    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    expect(message(eren, "tonight")).to_be_visible()
    expect(message(eren, "tonight").locator(".preview-card")).to_have_count(0)


# --- phones -----------------------------------------------------------------------------


def test_on_a_phone_chips_wrap_and_the_lightbox_fills_the_screen(server, pages, members, worker):
    eren = open_as(pages, server, "eren", **PHONE)
    attach = eren.locator("#attach-button")
    expect(attach).to_be_in_viewport()
    files = [upload("harbour at night.png", png(600, 900), "image/png")] + [
        upload(f"a rather long file name for the minutes {i}.txt", b"minutes", "text/plain")
        for i in range(3)
    ]
    drag(eren, "messages", "dragenter", files)
    drag(eren, "messages", "drop")
    wait_uploaded(eren, 4)
    eren.locator("#content").fill("from the harbour")
    tops = {round(chips(eren).nth(i).bounding_box()["y"]) for i in range(4)}
    assert len(tops) > 1  # wrapped onto more than one line
    assert eren.evaluate(NO_OVERFLOW_JS)
    for i in range(4):
        chip = chips(eren).nth(i).bounding_box()
        assert chip["x"] >= 0 and chip["x"] + chip["width"] <= 390
    expect(attach).to_be_in_viewport()
    shot(eren, "phone-composer-chips")

    eren.press("#content", "Enter")
    item = message(eren, "from the harbour")
    expect(item.locator("ul.files > li")).to_have_count(4)
    worker().drain()
    thumb = item.locator("button.file-thumb img")
    loaded(eren, thumb)
    width = thumb.bounding_box()["width"]
    assert width <= 390
    assert eren.evaluate(NO_OVERFLOW_JS)
    item.scroll_into_view_if_needed()
    shot(eren, "phone-message-with-image")

    thumb.click()
    dialog = eren.locator("dialog#lightbox")
    expect(dialog).to_be_visible()
    frame = dialog.bounding_box()
    assert (round(frame["width"]), round(frame["height"])) == (390, 844)
    big = dialog.locator("img")
    loaded(eren, big)
    fits = big.bounding_box()
    assert fits["width"] <= 390 and fits["height"] <= 844
    expect(dialog.locator("button.lightbox-close")).to_be_in_viewport()
    shot(eren, "phone-lightbox")
    dialog.locator("button.lightbox-close").click()
    expect(dialog).to_be_hidden()


# --- ten at once, two at a time; a busy server's 429 is waited out ----------------------


def notes(count: int) -> list[dict]:
    return [
        {"name": f"note {i}.txt", "mimeType": "text/plain", "buffer": b"note %d " % i * 400}
        for i in range(count)
    ]


def test_ten_files_at_once_upload_two_at_a_time_and_all_arrive(server, pages, members):
    eren = open_as(pages, server, "eren", viewport=DESKTOP)
    mikasa = open_as(pages, server, "mikasa", viewport=DESKTOP)
    eren.evaluate(COUNT_UPLOADS_JS)
    # Held at first (a slow network); then the server is busy once (429, Retry-After).
    held, state = [], {"hold": True, "refused": 0}

    def handle(route):
        if state["hold"]:
            held.append(route)
        elif state["refused"] == 0:
            state["refused"] = 1
            route.fulfill(
                status=429, headers={"Retry-After": "1"}, content_type="application/json", body=BUSY
            )
        else:
            route.continue_()

    eren.route("**/api/files?**", handle)
    eren.set_input_files("#attach-input", notes(10))
    expect(chips(eren)).to_have_count(10)
    expect(eren.locator("#attachments li.chip[data-state=uploading]")).to_have_count(2)
    waiting = eren.locator("#attachments li.chip[data-state=waiting]")
    expect(waiting).to_have_count(8)
    expect(waiting.first.locator(".chip-status")).to_have_text("waiting")
    expect(waiting.first.locator("progress")).to_have_attribute(
        "aria-label", re.compile(r"^note \d\.txt: waiting$")
    )
    expect(waiting.first.locator("button.chip-remove")).to_have_attribute(
        "aria-label", re.compile(r"^Cancel the upload of note")
    )
    shot(eren, "desktop-ten-chips-waiting")
    eren.press("#content", "Enter")  # not yet: the files are not all up
    expect(eren.locator("#send-note")).to_contain_text("wait until the files have uploaded")

    state["hold"] = False  # the next one is refused once (busy), the rest go through
    for route in held:
        route.continue_()
    wait_uploaded(eren, 10)
    assert state["refused"] == 1  # one was refused, and tried again
    assert eren.evaluate("window.__most") <= 2
    eren.unroute("**/api/files?**")

    eren.locator("#content").fill("ten notes")
    eren.press("#content", "Enter")
    expect(chips(eren)).to_have_count(0)
    expect(message(mikasa, "ten notes").locator("ul.files > li.file-row")).to_have_count(10)
    expect(message(eren, "ten notes").locator("ul.files > li.file-row")).to_have_count(10)


def test_ten_chips_on_a_phone_leave_the_messages_most_of_the_screen(server, pages, members):
    eren = open_as(pages, server, "eren", **PHONE)
    for i in range(6):
        send(eren, f"before the notes {i}")
    expect(message(eren, "before the notes 5")).to_be_visible()
    files = [upload("harbour.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")]
    files += [
        upload(f"a rather long file name for the minutes {i}.txt", b"m" * 3000, "text/plain")
        for i in range(9)
    ]
    drag(eren, "messages", "dragenter", files)
    drag(eren, "messages", "drop")
    wait_uploaded(eren, 10)
    listed = eren.locator("#attachments").bounding_box()
    assert listed["height"] <= 844 * 0.3 + 1
    assert eren.locator("#messages").bounding_box()["height"] >= 844 * 0.4
    assert eren.evaluate(NO_OVERFLOW_JS)
    expect(eren.locator("#attach-button")).to_be_in_viewport()
    expect(eren.locator("#content")).to_be_in_viewport()
    # The SVG is served as a download: the document icon, not the image one.
    svg = chips(eren).first
    expect(svg.locator(".chip-name")).to_have_text("harbour.svg")
    expect(svg.locator(".chip-glyph svg rect")).to_have_count(0)
    expect(chips(eren).nth(1).locator(".chip-size")).to_have_text("2.9 KiB")
    shot(eren, "phone-ten-chips")
    # The last chip is reached by scrolling the chips, not the page.
    chips(eren).last.scroll_into_view_if_needed()
    expect(chips(eren).last.locator("button.chip-remove")).to_be_in_viewport()


# --- an image the worker could not process -----------------------------------------------


def test_a_failed_image_is_a_warning_row_not_a_box(server, pages, members, worker):
    eren = open_as(pages, server, "eren", viewport=DESKTOP)
    mikasa = open_as(pages, server, "mikasa", viewport=DESKTOP)
    # The page's drawing of state "failed", whatever the server sends yet.
    theirs, mine = (mikasa.evaluate(FAILED_ROW_JS, who) for who in (False, True))
    assert theirs["cls"] == mine["cls"] == "file-row file-failed"
    assert theirs["link"] is None and mine["link"] == "/files/k1/broken.jpg"
    assert "broken.jpg — this image could not be processed" in theirs["text"]
    assert theirs["boxes"] == mine["boxes"] == 0

    whole = jpeg(800, 600)
    broken = whole[: len(whole) // 3]  # the header intact, the picture cut off
    eren.set_input_files(
        "#attach-input", [{"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": broken}]
    )
    wait_uploaded(eren, 1)
    send(eren, "the broken one")
    expect(message(mikasa, "the broken one").locator("ul.files > li")).to_have_count(1)
    worker().drain()
    got = eren.evaluate("async () => (await (await fetch('/api/rooms/general/messages')).json())")
    files = [f for m in got["messages"] for f in (m.get("files") or [])]
    assert files and files[-1]["state"] == "failed"
    # Live: the chat_files frame redraws the message's files in place.
    row = message(mikasa, "the broken one").locator("ul.files li.file-failed")
    expect(row).to_contain_text("broken.jpg — this image could not be processed")
    expect(row.locator("a")).to_have_count(0)
    expect(message(mikasa, "the broken one").locator(".file-placeholder")).to_have_count(0)
    own = message(eren, "the broken one").locator("ul.files li.file-failed")
    expect(own.locator("a.file-name")).to_have_attribute("download", "broken.jpg")
