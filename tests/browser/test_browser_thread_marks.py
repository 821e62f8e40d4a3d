"""What threads add to messages on the live room page (static/thread_marks.js,
thread_roots.js, threads_badge.js, message_events.js deletedNote) in real headless
Chromium against the real gunicorn and PostgreSQL, found by a new user:

- a quote shows the quoted message as it is now: an edit or a deletion of it changes
  every quote of it at once, in the room's list and in the thread panel's, to what a
  reload shows;
- a deleted thread root says "original message deleted" live, after a reload and on
  the pages, a deleted message without replies "message deleted";
- a reply also sent to the room names its root (author and start, as text) beside
  "replied in a thread", a link that opens the thread; a root not loaded is asked
  once; the history page names it too;
- the replies summary and those links fit a phone, with 24px tap targets;
- the header's Threads link has the sidebar's unread badge and says it in its name.

Messages are seeded through chat.actions, as another person's tab would send them;
axe-core scans every page (conftest.py).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from chat import actions
from chat.domain.threads import ReplyTo

from ..conftest import ROOT, make_user, room_row, send_as
from .ui import PASSWORD, in_the_room, log_in, open_room, reply

pytestmark = pytest.mark.e2e

SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or ROOT / "test-output" / "threads")
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
# WCAG 2.2's smallest tap target (2.5.8).
TAP_PX = 24


@pytest.fixture
def people(db):
    """eren and mikasa, members of #general (sending there joins them)."""
    team = {name: make_user(db, name, PASSWORD) for name in ("eren", "mikasa")}
    general = room_row(db)
    for person in team.values():
        actions.join_room(db, general.id, person.id)
    return team


def send_in(db, user, text: str, **reply) -> int:
    """`text` sent by `user` in #general through the real action (a reply or a
    quote-reply with ReplyTo's fields); its seq."""
    return actions.send_message(db, room_row(db), user, text, None, reply=ReplyTo(**reply)).seq


def open_thread_of(page, root: int):
    """The thread opened by the root's replies summary."""
    page.locator(f"#m{root} button.thread-summary").click()
    panel = page.locator("#thread-panel")
    expect(panel.locator(f"li.thread-root#t{root}")).to_have_count(1)
    return panel


def quotes(page, seq: int):
    """Every quote of message `seq` on the page: the room's list, then the panel's."""
    return page.locator(
        f'#messages blockquote.quote[data-quote="{seq}"], '
        f'#thread-messages blockquote.quote[data-quote="{seq}"]'
    )


LONG = "the wall " + "holds and holds " * 20  # over the 200 characters a quote keeps


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        (["edit:the wall fell"], "eren the wall fell"),
        ([f"edit:{LONG}"], "eren " + LONG[:200]),
        (["delete"], "eren original message deleted"),
        (["edit:the wall fell", "delete"], "eren original message deleted"),
    ],
    ids=["edited", "edited-long", "deleted", "edited-then-deleted"],
)
def test_every_quote_shows_the_quoted_message_as_it_is_now(
    server, db, people, pages, changes, shown
):
    eren, mikasa = people["eren"], people["mikasa"]
    quoted = send_in(db, eren, "the wall holds")
    root = send_in(db, eren, "who checks the wall?")
    send_in(db, mikasa, "are you sure?", quote=quoted)
    send_in(db, mikasa, "as eren said", thread=root, quote=quoted)
    page = in_the_room(pages, server, "mikasa")
    open_thread_of(page, root)
    blocks = quotes(page, quoted)
    expect(blocks).to_have_count(2)
    expect(blocks.first).to_have_text("eren the wall holds")

    general = room_row(db)
    for change in changes:
        if change == "delete":
            actions.delete_message(db, general, eren, quoted)
        else:
            actions.edit_message(db, general, eren, quoted, change.removeprefix("edit:"))
    # At once, in both lists: the same text, and the deleted form once deleted.
    for block in (blocks.nth(0), blocks.nth(1)):
        expect(block.locator(".quote-text")).to_have_text(shown.removeprefix("eren "))
        expect(block.locator(".quote-author")).to_have_text("eren")
        expect(block.locator(".quote-text.deleted")).to_have_count(1 if "delete" in changes else 0)
    live = [b.inner_text() for b in blocks.all()]

    # As a reload shows them (the server's quote of the message as it is now).
    page.reload()
    page.wait_for_selector("#status:has-text('live')")
    expect(page.locator("#thread-panel li.thread-root")).to_have_count(1)
    expect(blocks).to_have_count(2)
    assert [b.inner_text() for b in blocks.all()] == live


def test_a_deleted_root_says_original_message_deleted_everywhere(server, db, people, pages):
    eren, mikasa = people["eren"], people["mikasa"]
    root = send_in(db, eren, "who takes the release?")
    lone = send_in(db, eren, "a message nobody answered")
    send_in(db, mikasa, "I do", thread=root)
    page = in_the_room(pages, server, "mikasa")
    panel = open_thread_of(page, root)

    general = room_row(db)
    actions.delete_message(db, general, eren, root)
    actions.delete_message(db, general, eren, lone)
    room_root, panel_root = page.locator(f"#m{root}"), panel.locator(f"#t{root}")
    expect(room_root.locator(".content.deleted-note")).to_have_text("original message deleted")
    expect(panel_root.locator(".content.deleted-note")).to_have_text("original message deleted")
    expect(page.locator(f"#m{lone} .content.deleted-note")).to_have_text("message deleted")
    expect(room_root.locator(".thread-count")).to_have_text("1 reply")  # its thread stays

    page.reload()
    page.wait_for_selector("#status:has-text('live')")
    expect(room_root.locator(".content.deleted-note")).to_have_text("original message deleted")
    expect(panel_root.locator(".content.deleted-note")).to_have_text("original message deleted")
    expect(page.locator(f"#m{lone} .content.deleted-note")).to_have_text("message deleted")

    # Its last reply deleted: no longer a thread's root in the room, a message deleted.
    reply_seq = panel.locator("li.message:not(.thread-root)").first.get_attribute("data-seq")
    actions.delete_message(db, general, mikasa, int(reply_seq))
    expect(room_root.locator(".thread-summary")).to_have_count(0)
    expect(room_root.locator(".content.deleted-note")).to_have_text("message deleted")
    expect(panel_root.locator(".content.deleted-note")).to_have_text("original message deleted")

    # The pages say the same, by the same rule.
    send_in(db, mikasa, "still mine", thread=root)
    page.goto(f"{server.url}/rooms/general/history")
    expect(page.locator(f"#m{root} .deleted-note")).to_have_text("original message deleted")
    expect(page.locator(f"#m{lone} .deleted-note")).to_have_text("message deleted")
    page.goto(f"{server.url}/rooms/general/threads/{root}")
    expect(page.locator(f"#m{root} .deleted-note")).to_have_text("original message deleted")


# A root with Markdown and HTML in its text, longer than the snippet's 80 characters.
ROOT_TEXT = (
    "<b>Who</b> takes **the release** on Friday, and who writes the notes for it afterwards?"
)
SNIPPET = ROOT_TEXT[:79] + "…"


@pytest.mark.parametrize("loaded", [True, False], ids=["root-loaded", "root-not-loaded"])
def test_a_reply_also_in_the_room_names_its_root(server, db, people, pages, loaded):
    eren, mikasa = people["eren"], people["mikasa"]
    root = send_in(db, eren, ROOT_TEXT)
    if not loaded:  # pushed out of the page's first 50 messages
        for n in range(60):
            send_as(db, eren, f"filler {n}")
    first = send_in(db, mikasa, "I can take it", thread=root, also_in_room=True)
    page = pages(**DESKTOP)
    asked = []
    root_url = f"/api/rooms/general/threads/{root}?limit=1"
    page.on("request", lambda r: asked.append(r.url) if root_url in r.url else None)
    log_in(page, server, "mikasa")
    open_room(page, server)
    expect(page.locator(f"#m{root}")).to_have_count(1 if loaded else 0)

    snippet = page.locator(f"#m{first} a.thread-snippet[data-thread='{root}']")
    expect(snippet).to_have_text(f"eren: {SNIPPET}")  # as text: the tags show, nothing bold
    expect(snippet.locator("b, strong")).to_have_count(0)
    expect(page.locator(f"#m{first} a.thread-link")).to_have_text("replied in a thread")

    # Another reply of it, live: the root is known, not asked again.
    second = send_in(db, mikasa, "and the notes", thread=root, also_in_room=True)
    expect(page.locator(f"#m{second} a.thread-snippet")).to_have_text(f"eren: {SNIPPET}")
    assert len(asked) == (0 if loaded else 1), asked

    # The root edited, then deleted: every snippet of it follows.
    general = room_row(db)
    actions.edit_message(db, general, eren, root, "Who takes the release?")
    expect(page.locator("a.thread-snippet")).to_have_text(["eren: Who takes the release?"] * 2)
    actions.delete_message(db, general, eren, root)
    expect(page.locator("a.thread-snippet")).to_have_text(["eren: original message deleted"] * 2)

    # The snippet opens the thread.
    page.locator(f"#m{second} a.thread-snippet").click()
    expect(page.locator("#thread-panel li.thread-root")).to_contain_text("original message deleted")
    expect(page.locator("#thread-panel li.message", has_text="and the notes")).to_have_count(1)

    # The history page names it too (server-side, one read for the page's roots).
    page.goto(f"{server.url}/rooms/general/history")
    line = page.locator(f"#m{second} .thread-link")
    expect(line).to_contain_text("replied in a thread: eren: original message deleted")


def test_the_history_page_names_a_reply_s_root_as_text(server, db, people, pages):
    root = send_in(db, people["eren"], ROOT_TEXT)
    shown = send_in(db, people["mikasa"], "I can take it", thread=root, also_in_room=True)
    page = pages(**DESKTOP)
    log_in(page, server, "eren")
    page.goto(f"{server.url}/rooms/general/history")
    snippet = page.locator(f"#m{shown} a.thread-snippet")
    expect(snippet).to_have_text(f"eren: {SNIPPET}")
    expect(snippet.locator("b")).to_have_count(0)
    expect(snippet).to_have_attribute("href", f"/rooms/general/threads/{root}")


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_replies_summary_and_thread_links_fit_the_screen(server, db, people, pages, device):
    armin = make_user(db, "armin_arlert_the_strategist", PASSWORD)
    team = [people["eren"], people["mikasa"], armin]
    root = send_in(db, team[0], "Who takes the release on Friday? " * 3)
    for person in team:
        send_in(db, person, f"{person.username} can", thread=root)
    also = send_in(db, team[2], "me too", thread=root, also_in_room=True)
    options = PHONE if device == "phone" else DESKTOP
    page = in_the_room(pages, server, "eren", **options)
    summary = page.locator(f"#m{root} button.thread-summary")
    expect(summary.locator(".thread-count")).to_have_text("4 replies")
    expect(summary.locator(".thread-faces .avatar")).to_have_count(3)
    expect(page.locator(f"#m{also} a.thread-snippet")).to_be_visible()

    width = options["viewport"]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    box = summary.bounding_box()
    assert box["height"] >= TAP_PX, box
    row = page.locator(f"#m{root}").bounding_box()
    assert box["x"] + box["width"] <= row["x"] + row["width"] + 0.5, (box, row)
    for link in ("a.thread-link", "a.thread-snippet"):
        target = page.locator(f"#m{also} {link}").bounding_box()
        assert target["height"] >= TAP_PX, (link, target)
        assert target["x"] + target["width"] <= width, (link, target)
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = f"{width}x{options['viewport']['height']}"
    page.screenshot(path=str(SHOTS / f"marks-{size}.png"))


def test_the_header_threads_link_counts_unread_replies(server, db, people, pages):
    root = send_as(db, people["eren"], "Who takes the release on Friday?")
    page = in_the_room(pages, server, "eren", **DESKTOP)
    link = page.locator("header.top a.nav-threads")
    badge = link.locator("#nav-threads-badge")
    expect(badge).to_be_hidden()
    expect(link).to_have_accessible_name("Threads")

    reply(server, db, people["mikasa"], root, "I can take it")
    expect(badge).to_have_text("1")
    expect(badge).to_be_visible()
    expect(link).to_have_accessible_name("Threads, 1 unread")
    reply(server, db, people["mikasa"], root, "@eren unless you want it")
    expect(badge).to_have_text("2")
    expect(link).to_have_accessible_name("Threads, 2 unread, 1 mention")
    expect(page.locator("#threads-badge")).to_have_text("2")  # the sidebar's, from the same count
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("header.top").screenshot(path=str(SHOTS / "marks-header-1280.png"))

    # Read in the panel: both go.
    page.locator(f"#m{root} button.thread-summary").click()
    expect(badge).to_be_hidden()
    expect(link).to_have_accessible_name("Threads")
    expect(page.locator("#threads-badge")).to_be_hidden()


def test_a_deleted_quote_reply_loses_its_quote_as_a_reload_shows_it(server, db, people, pages):
    eren, mikasa = people["eren"], people["mikasa"]
    quoted = send_in(db, eren, "the wall holds")
    answer = send_in(db, mikasa, "are you sure?", quote=quoted)
    page = in_the_room(pages, server, "eren")
    expect(quotes(page, quoted)).to_have_count(1)
    actions.delete_message(db, room_row(db), mikasa, answer)
    expect(page.locator(f"#m{answer}.deleted")).to_have_count(1)
    expect(quotes(page, quoted)).to_have_count(0)  # live
    page.reload()
    page.wait_for_selector("#status:has-text('live')")
    expect(page.locator(f"#m{answer}.deleted")).to_have_count(1)
    expect(quotes(page, quoted)).to_have_count(0)  # and from the table
