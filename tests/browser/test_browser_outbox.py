"""Sends in flight when the server dies (static/socket.js's request queue), in real
headless Chromium against the real gunicorn and PostgreSQL, killed with SIGKILL and
started again on the same port and database: every unanswered send goes out again
after the reconnect, oldest first, with its original client_id; the room shows each
message once, in the order written, and the table holds them in that order, once.
"""

import json
import os
import re
import signal
import time

import pytest
from playwright.sync_api import expect

from chat import actions

from ..conftest import make_user, room_row
from .ui import PASSWORD, log_in, open_room

pytestmark = pytest.mark.e2e

# The page retries with backoff (up to 15 s between attempts) while gunicorn boots.
RECONNECT_MS = 60_000


@pytest.fixture
def server(start_server):
    return start_server(RATE_LIMIT_PER_SEC="0")


@pytest.fixture
def eren(db, server, pages):
    """eren's page, live in #general, with one message already stored."""
    user = make_user(db, "eren", PASSWORD)
    page = pages()
    page.user = user
    log_in(page, server, "eren")
    open_room(page, server)
    write(page, "before the outage")
    expect(page.locator("#messages li.message[data-seq]")).to_have_count(1)
    return page


def write(page, text: str) -> None:
    page.fill("#content", text)
    page.press("#content", "Enter")


def pending(page, text: str):
    line = page.locator("#messages li.message.pending", has_text=text)
    expect(line).to_have_count(1)
    expect(line.locator(".state")).to_have_text("sending…")
    return line


def kill(server) -> None:
    server.stop(signal.SIGKILL)  # the whole process group, master and workers


@pytest.mark.parametrize(
    "in_flight",
    [
        "typed during the outage",  # A and B both typed while the server is down
        "written, never answered",  # A reached the socket of a server that then died
        "stored, never acked",  # A was stored, and the server died before its ack
    ],
)
def test_unacked_sends_are_resent_in_order_after_restart(eren, server, db, in_flight):
    if in_flight == "typed during the outage":
        kill(server)
        expect(eren.locator("#status")).to_have_text("reconnecting…")
        write(eren, "A")
    else:
        # Frozen, the server keeps its sockets open but answers nothing: A is
        # written to the socket (the room is ready) and stays unanswered.
        os.killpg(server.proc.pid, signal.SIGSTOP)
        write(eren, "A")
        client_id = pending(eren, "A").get_attribute("data-client-id")
        if in_flight == "stored, never acked":
            actions.send_message(db, room_row(db), eren.user, "A", client_id)
        kill(server)
        expect(eren.locator("#status")).to_have_text("reconnecting…")
    write(eren, "B")
    pending(eren, "A")  # still sending, never "Not sent" for a disconnect
    pending(eren, "B")
    ids = [pending(eren, t).get_attribute("data-client-id") for t in ("A", "B")]

    server.start()  # same port, same database
    expect(eren.locator("#status")).to_have_text("live", timeout=RECONNECT_MS)
    texts = eren.locator("#messages li.message .content")
    expect(texts).to_have_text(["before the outage", "A", "B"])
    expect(eren.locator("#messages li.message.pending, #messages li.failed")).to_have_count(0)
    rows = db.execute(
        "SELECT content, client_id FROM messages WHERE content IN ('A', 'B') ORDER BY seq"
    ).fetchall()
    assert rows == [{"content": "A", "client_id": ids[0]}, {"content": "B", "client_id": ids[1]}]
    seqs = eren.eval_on_selector_all("#messages li.message", "items => items.map(i => i.id)")
    assert seqs == ["m1", "m2", "m3"]

    eren.reload()  # what the server has is what the page showed
    eren.wait_for_selector("#status:has-text('live')")
    expect(texts).to_have_text(["before the outage", "A", "B"])


def test_an_edit_and_a_reaction_made_during_an_outage_are_sent_after_it(eren, server, db):
    mine = eren.locator("#m1")
    kill(server)
    expect(eren.locator("#status")).to_have_text("reconnecting…")
    mine.hover()
    mine.locator(".tools button.edit").click()
    box = mine.locator("form.edit-form textarea")
    box.fill("edited during the outage")
    box.press("Enter")
    expect(mine.locator("form.edit-form button.save")).to_have_text("Saving…")
    expect(box).not_to_be_editable()  # open, with its text, until the server has it
    mine.locator(".tools button.react").click()
    mine.locator(".palette button[data-emoji='🎉']").click()
    write(eren, "after the edit")

    server.start()  # same port, same database
    expect(eren.locator("#status")).to_have_text("live", timeout=RECONNECT_MS)
    expect(mine.locator("form.edit-form")).to_have_count(0)
    expect(mine.locator(".content")).to_have_text("edited during the outage")
    expect(mine.locator(".reactions button.reaction[data-emoji='🎉'] .count")).to_have_text("1")
    after = eren.locator("#messages li.message:not(.pending)", has_text="after the edit")
    expect(after).to_have_count(1)
    rows = db.execute("SELECT kind, content FROM messages WHERE seq > 1 ORDER BY seq").fetchall()
    assert rows == [
        {"kind": "edit", "content": "edited during the outage"},
        {"kind": "reaction_add", "content": "🎉"},
        {"kind": "chat", "content": "after the edit"},
    ]


def tamper_with_the_first_socket(page, in_flight: str) -> set:
    """On the page's first socket only: chat frames from the page never reach the
    server ("never reached the server"), or reach it but its answers about them
    never come back ("stored, answer lost"). Later sockets pass everything.
    Returns the set of client_ids whose answers were kept from the page."""
    sockets = []
    kept_back = set()

    def route(ws):
        sockets.append(ws)
        upstream = ws.connect_to_server()
        if len(sockets) > 1:
            return
        mine = set()

        def from_page(message):
            frame = json.loads(message)
            if frame.get("type") == "chat":
                mine.add(frame["client_id"])
                if in_flight == "never reached the server":
                    return
            upstream.send(message)

        def from_server(message):
            client_id = json.loads(message).get("client_id")
            if client_id in mine:
                kept_back.add(client_id)
            else:
                ws.send(message)

        ws.on_message(from_page)
        upstream.on_message(from_server)

    page.route_web_socket(re.compile(r"/ws$"), route)
    return kept_back


@pytest.mark.parametrize("in_flight", ["never reached the server", "stored, answer lost"])
def test_a_reload_while_sending_sends_again_once(eren, server, db, in_flight):
    kept_back = tamper_with_the_first_socket(eren, in_flight)
    open_room(eren, server)
    write(eren, "A")
    client_id = pending(eren, "A").get_attribute("data-client-id")
    if in_flight == "stored, answer lost":
        deadline = time.monotonic() + 20
        while client_id not in kept_back and time.monotonic() < deadline:
            eren.evaluate("0")  # a round trip, during which Playwright runs the route's handlers
        assert stored_texts(db) == ["before the outage", "A"]
    eren.reload()  # the second socket passes everything
    expect(eren.locator("#status")).to_have_text("live")
    expect(eren.locator("#messages li.message .content")).to_have_text(["before the outage", "A"])
    expect(eren.locator("#messages li.message.pending")).to_have_count(0)
    assert stored_texts(db) == ["before the outage", "A"]


def stored_texts(db) -> list[str]:
    return [r["content"] for r in db.execute("SELECT content FROM messages ORDER BY seq")]


def test_a_tab_logged_out_elsewhere_stops_sending_and_says_so(eren, server, db):
    """The session of a tab is logged out (from another browser, a password change):
    its socket is closed with 1008 "revoked". The tab then says it was logged out,
    with a link to log in again; its box no longer sends, and a send on its way says
    it waits for that login instead of "sending…" for ever. Logged in again in this
    tab, the page sends it, once."""
    tamper_with_the_first_socket(eren, "never reached the server")
    open_room(eren, server)
    write(eren, "A")
    pending(eren, "A")
    (session_id,) = [r["id"] for r in db.execute("SELECT id FROM user_sessions")]
    actions.end_other_session(db, eren.user.id, session_id, None)

    expect(eren.locator("#status")).to_contain_text("logged out")
    closed = eren.locator("#send-closed")
    expect(closed).to_have_text("You were logged out — log in again")
    expect(eren.locator("#content")).to_be_disabled()
    expect(eren.locator("#send button[type=submit]")).to_be_disabled()
    held = eren.locator("#messages li.message.held", has_text="A")
    expect(held.locator(".state")).to_contain_text("you were logged out")
    expect(eren.locator("#messages li.message.pending")).to_have_count(0)

    closed.get_by_role("link", name="log in again").click()
    eren.fill("#username", "eren")
    eren.fill("#password", PASSWORD)
    eren.click("form button[type=submit]")
    eren.wait_for_url(f"{server.url}/rooms/general")
    expect(eren.locator("#status")).to_have_text("live")
    expect(eren.locator("#messages li.message .content")).to_have_text(["before the outage", "A"])
    expect(eren.locator("#messages li.message.pending, #messages li.held")).to_have_count(0)
    assert stored_texts(db) == ["before the outage", "A"]
