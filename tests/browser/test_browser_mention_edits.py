"""Mentions follow edits and deletions in real headless Chromium (issue 14, item 6):
the `@` badge of the rooms list and the highlight in the open room show the
mentions of each message's current text, live and after a reload."""

import pytest
from playwright.sync_api import expect

from chat import actions
from chat.domain.entities import User

from ..conftest import make_token, room_row
from ..servers import http
from .ui import log_in, message, open_room

pytestmark = pytest.mark.e2e


class Api:
    """mikasa's messages, written over the JSON API."""

    def __init__(self, server, db, user: User):
        self.url = f"{server.url}/api/rooms/general/messages"
        self.session = http()
        self.session.headers["Authorization"] = f"Bearer {make_token(db, user)}"

    def send(self, text: str) -> int:
        response = self.session.post(self.url, json={"content": text})
        assert response.status_code == 201, response.text
        return response.json()["seq"]

    def edit(self, seq: int, text: str) -> None:
        response = self.session.patch(f"{self.url}/{seq}", json={"content": text})
        assert response.status_code == 200, response.text

    def delete(self, seq: int) -> None:
        assert self.session.delete(f"{self.url}/{seq}").status_code == 200


def badges(page):
    item = page.locator('li.room-item[data-room="general"]')
    return item.locator(".mentions"), item.locator(".badge")


def rooms_page(page, server):
    page.goto(f"{server.url}/rooms")
    page.wait_for_selector("#status:has-text('live')")


def test_the_badge_follows_edits_of_a_message_that_arrived_live(server, people, pages, db):
    actions.join_room(db, room_row(db).id, people["eren"].id)
    mikasa = Api(server, db, people["mikasa"])
    eren = pages()
    log_in(eren, server, "eren")
    rooms_page(eren, server)
    mentions, unread = badges(eren)

    seq = mikasa.send("hello")
    expect(unread).to_have_text("1")
    assert mentions.is_hidden()
    mikasa.edit(seq, "hello @eren")  # added by an edit: new to eren
    expect(mentions).to_have_text("@1")
    mikasa.edit(seq, "hello https://social.example/@eren/1")  # inside a URL: no mention
    expect(mentions).to_be_hidden()
    mikasa.edit(seq, "hello (@Eren)")
    expect(mentions).to_have_text("@1")
    mikasa.delete(seq)
    expect(mentions).to_be_hidden()
    expect(unread).to_be_hidden()  # the server's count skips deleted messages

    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    assert mentions.is_hidden() and unread.is_hidden()


def test_the_badge_follows_edits_of_a_message_from_before_the_page(server, people, pages, db):
    actions.join_room(db, room_row(db).id, people["eren"].id)
    mikasa = Api(server, db, people["mikasa"])
    seq = mikasa.send("@eren are you there?")
    eren = pages()
    log_in(eren, server, "eren")
    rooms_page(eren, server)
    mentions, _ = badges(eren)
    expect(mentions).to_have_text("@1")

    mikasa.edit(seq, "anyone there?")  # the page cannot know it was counted: it asks
    expect(mentions).to_be_hidden()
    mikasa.edit(seq, "anyone there? @eren?")
    expect(mentions).to_have_text("@1")
    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    expect(mentions).to_have_text("@1")


def test_an_edit_changes_the_highlight_in_the_open_room(server, people, pages, db):
    mikasa = Api(server, db, people["mikasa"])
    eren = pages()
    log_in(eren, server, "eren")
    open_room(eren, server)
    seq = mikasa.send("look at this")
    message(eren, "look at this").wait_for()
    mikasa.edit(seq, "look at this @eren")
    expect(message(eren, "look at this").locator('.mention.me[data-user="eren"]')).to_have_count(1)
    mikasa.edit(seq, "look at this https://x.example/@eren")
    expect(message(eren, "look at this").locator(".mention")).to_have_count(0)
