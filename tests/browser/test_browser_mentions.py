"""Mentions and unread badges in real headless Chromium: @name highlighted for the person
named, and the rooms list counting mentions live and after a reload."""

import pytest
from playwright.sync_api import expect

from chat import actions

from ..conftest import room_row
from .ui import log_in, message, open_room, post, send, wait_until_read

pytestmark = pytest.mark.e2e


def test_a_mention_is_highlighted_for_the_named_person_only(server, people, pages):
    eren, mikasa = pages(), pages()
    for page, name in ((eren, "eren"), (mikasa, "mikasa")):
        log_in(page, server, name)
        open_room(page, server)
    send(mikasa, "look @Eren, and @mikasa too")
    message(eren, "look").locator('.mention.me[data-user="eren"]').wait_for()
    assert message(eren, "look").locator(".mention.me").count() == 1
    mine = message(mikasa, "look").locator(".mention.me")
    mine.wait_for()  # mikasa sees her own name marked, not eren's
    assert mine.get_attribute("data-user") == "mikasa"

    eren.goto(f"{server.url}/rooms/general/history")  # without JavaScript's help
    assert eren.locator('.content .mention.me[data-user="eren"]').count() == 1


def test_the_rooms_list_counts_mentions_live_and_after_a_reload(server, people, pages, db):
    general = room_row(db, "general")
    actions.join_room(db, general.id, people["eren"].id)
    eren = pages()
    log_in(eren, server, "eren")
    mentions = eren.locator('li.room-item[data-room="general"] .mentions')
    unread = eren.locator('li.room-item[data-room="general"] .badge')
    eren.wait_for_selector("#status:has-text('live')")
    assert mentions.is_hidden()

    post(server, db, people["mikasa"], "hello all")
    post(server, db, people["mikasa"], "@eren are you there?")
    expect(mentions).to_have_text("@1")
    assert mentions.is_visible()
    assert unread.text_content() == "2"

    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    assert mentions.text_content() == "@1" and mentions.is_visible()
    assert unread.text_content() == "2"

    open_room(eren, server)  # reading the room clears both
    message(eren, "are you there").locator(".mention.me").wait_for()
    wait_until_read(server, db, people["eren"])
    eren.goto(f"{server.url}/rooms")
    eren.wait_for_selector("#status:has-text('live')")
    post(server, db, people["mikasa"], "third")
    expect(unread).to_have_text("1")
    assert mentions.is_hidden()
