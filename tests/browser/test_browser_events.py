"""Edit, delete and react in the browser UI (static/message_events.js), in real headless
Chromium against the real gunicorn and PostgreSQL: what one person does, the other sees
live, a reload shows the same state, and the history page shows it without JavaScript.
"""

import pytest

from chat import actions

from ..conftest import make_user
from .ui import PASSWORD, log_in, message, open_room, send, words

pytestmark = pytest.mark.e2e


@pytest.fixture
def people(db):
    return {name: make_user(db, name, PASSWORD) for name in ("eren", "mikasa")}


def two_in_the_room(pages, server, room: str = "general"):
    eren, mikasa = pages(), pages()
    for page, name in ((eren, "eren"), (mikasa, "mikasa")):
        log_in(page, server, name)
        open_room(page, server, room)
    return eren, mikasa


def stored(page, text: str):
    """The message with `text`, once acknowledged (its tools exist then), found by
    its seq from then on (its text may change)."""
    item = page.locator("#messages li.message[data-seq]:not(.pending)", has_text=text)
    item.locator(".tools").wait_for(state="attached")
    return page.locator(f"#m{item.get_attribute('data-seq')}")


def test_edit_own_message_shows_live_to_others_and_in_history(server, people, pages):
    eren, mikasa = two_in_the_room(pages, server)
    send(eren, "helo everyone")
    mine = stored(eren, "helo everyone")
    theirs = stored(mikasa, "helo everyone")
    # Only the author gets an Edit button; only the author (general has no owner) Delete.
    assert theirs.locator(".tools button.edit").count() == 0
    assert theirs.locator(".tools button.delete").count() == 0

    mine.hover()
    mine.locator(".tools button.edit").click()
    box = mine.locator("form.edit-form textarea")
    assert box.input_value() == "helo everyone"  # starts from the text as written
    box.fill("hello **everyone**")
    box.press("Enter")
    theirs.locator(".content strong", has_text="everyone").wait_for()
    theirs.locator(".meta .edited").wait_for()
    mine.locator(".meta .edited").wait_for()
    assert mine.locator("form.edit-form").count() == 0

    mikasa.reload()
    mikasa.wait_for_selector("#status:has-text('live')")
    stored(mikasa, "hello everyone").locator(".meta .edited").wait_for()
    assert mikasa.locator("#messages li.message").count() == 1

    mikasa.goto(f"{server.url}/rooms/general/history")
    item = mikasa.locator("ol.messages > li").first
    assert words(item.locator(".content").first.inner_text()) == "hello everyone"
    item.locator("details.versions summary").click()  # open to whoever reads the room
    assert words(item.locator("li.version .content").inner_text()) == "helo everyone"


def test_escape_cancels_an_edit(server, people, pages, db):
    eren = pages()
    log_in(eren, server, "eren")
    open_room(eren, server)
    send(eren, "keep me")
    mine = stored(eren, "keep me")
    mine.locator(".tools button.edit").focus()  # keyboard: the tools are reachable
    eren.keyboard.press("Enter")
    mine.locator("form.edit-form textarea").fill("changed my mind")
    eren.keyboard.press("Escape")
    assert mine.locator("form.edit-form").count() == 0
    assert words(mine.locator(".content").inner_text()) == "keep me"
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 1


def test_delete_own_message_after_confirming(server, people, pages, db):
    eren, mikasa = two_in_the_room(pages, server)
    send(eren, "regrettable words")
    send(eren, "second thoughts")
    mine = stored(eren, "regrettable words")
    stored(mikasa, "second thoughts")

    eren.once("dialog", lambda dialog: dialog.dismiss())
    mine.locator(".tools button.delete").click()
    send(eren, "marker")
    stored(mikasa, "marker")  # the dismissed delete sent nothing before this
    assert mikasa.locator("li.message.deleted").count() == 0

    eren.once("dialog", lambda dialog: dialog.accept())
    mine.locator(".tools button.delete").click()
    gone = mikasa.locator("#messages li.message.deleted")
    gone.wait_for()
    assert words(gone.inner_text()).endswith("message deleted")
    assert mikasa.locator("#messages", has_text="regrettable").count() == 0
    eren.locator("#messages li.message.deleted .deleted-note").wait_for()
    row = db.execute("SELECT content, deleted_at FROM messages WHERE seq = 1").fetchone()
    assert row["content"] == "" and row["deleted_at"] is not None

    mikasa.goto(f"{server.url}/rooms/general/history")
    assert mikasa.locator("li.deleted >> text=message deleted").count() == 1
    assert mikasa.locator("text=regrettable").count() == 0


def test_the_room_owner_can_delete_anyones_message(server, people, pages, db):
    actions.create_room(db, "owned", people["mikasa"].id)
    eren, mikasa = two_in_the_room(pages, server, "owned")
    send(eren, "off topic")
    theirs = stored(mikasa, "off topic")
    assert theirs.locator(".tools button.edit").count() == 0  # the owner cannot edit it
    mikasa.once("dialog", lambda dialog: dialog.accept())
    theirs.locator(".tools button.delete").click()
    eren.locator("#messages li.message.deleted").wait_for()


def test_reactions_toggle_with_counts(server, people, pages):
    eren, mikasa = two_in_the_room(pages, server)
    send(eren, "pizza tonight?")
    mine = stored(eren, "pizza tonight?")
    theirs = stored(mikasa, "pizza tonight?")

    theirs.hover()
    theirs.locator(".tools button.react").click()
    theirs.locator(".palette button[data-emoji='🎉']").click()
    chip = mine.locator(".reactions button.reaction[data-emoji='🎉']")
    chip.locator(".count", has_text="1").wait_for()
    assert chip.get_attribute("aria-pressed") == "false"  # not eren's own

    chip.click()  # eren joins in: a chip is a toggle
    their_chip = theirs.locator(".reactions button.reaction[data-emoji='🎉']")
    their_chip.locator(".count", has_text="2").wait_for()
    assert their_chip.get_attribute("aria-pressed") == "true"
    assert their_chip.get_attribute("title") == "mikasa, eren"

    their_chip.click()  # mikasa takes hers back
    chip.locator(".count", has_text="1").wait_for()
    assert chip.get_attribute("aria-pressed") == "true"

    # By keyboard: open the palette, the first choice has focus, Enter picks it.
    mine.locator(".tools button.react").focus()
    eren.keyboard.press("Enter")
    eren.keyboard.press("Enter")
    theirs.locator(".reactions button.reaction[data-emoji='👍'] .count", has_text="1").wait_for()

    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    chips = stored(eren, "pizza tonight?").locator(".reactions button.reaction")
    chips.first.wait_for()
    assert [words(t) for t in chips.all_inner_texts()] == ["🎉 1", "👍 1"]

    eren.goto(f"{server.url}/rooms/general/history")
    counts = eren.locator("ul.reactions li.reaction").all_inner_texts()
    assert [words(t) for t in counts] == ["🎉 1", "👍 1"]


def test_message_events_leave_no_console_errors(server, people, pages):
    eren = pages()
    errors = []
    eren.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    eren.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(eren, server, "eren")
    open_room(eren, server)
    send(eren, "checking")
    mine = stored(eren, "checking")
    mine.locator(".tools button.react").click()
    mine.locator(".palette button").first.click()
    mine.locator(".reactions button.reaction").wait_for()
    message(eren, "checking").wait_for()
    assert errors == []
