"""The browser UI in real headless Chromium (Debian's), driven by Playwright, against the real
gunicorn and PostgreSQL. A failing test leaves screenshots of every open page in
test-output/<test name>/ (the `browser` and `pages` fixtures are in conftest.py).
"""

import time

import pytest
from playwright.sync_api import expect

from chat import actions

from ..conftest import CI, make_token, room_row
from ..servers import http
from .conftest import CHROMIUM, WAIT_MS
from .ui import log_in, message, open_room, send, words

pytestmark = pytest.mark.e2e


def test_two_people_chat_live(server, people, pages):
    eren, mikasa = pages(), pages()
    for page, name in ((eren, "eren"), (mikasa, "mikasa")):
        log_in(page, server, name)
        open_room(page, server)
    send(eren, "hello from eren")
    message(mikasa, "hello from eren").wait_for()
    send(mikasa, "hi **eren**")
    message(eren, "hi eren").locator("strong").wait_for()  # Markdown, rendered
    # Own sends leave the pending state once acknowledged.
    eren.wait_for_selector("#messages li.message.pending", state="detached")


def test_reload_shows_everything_once(server, people, pages, db):
    eren = pages()
    log_in(eren, server, "eren")
    open_room(eren, server)
    for i in range(5):
        send(eren, f"message {i}")
    message(eren, "message 4").wait_for()  # perhaps still sending: a reload sends it again
    eren.reload()
    eren.wait_for_selector("#status:has-text('live')")
    expect(eren.locator("#messages li.message[id]")).to_have_count(5)
    ids = eren.eval_on_selector_all("#messages li.message", "items => items.map(i => i.id)")
    assert ids == [f"m{seq}" for seq in range(1, 6)]


def test_page_reconnects_after_a_server_restart_and_shows_what_it_missed(server, people, pages, db):
    eren = pages()
    log_in(eren, server, "eren")
    open_room(eren, server)
    send(eren, "before the restart")
    message(eren, "before the restart").wait_for()

    server.stop()
    eren.wait_for_selector("#status:has-text('reconnecting')")
    server.start()  # same port, same database: a restart
    token = make_token(db, people["mikasa"])
    api = http()
    api.headers["Authorization"] = f"Bearer {token}"
    for i in range(3):
        response = api.post(
            f"{server.url}/api/rooms/general/messages",
            json={"content": f"while you were away {i}", "client_id": f"away-{i}"},
        )
        assert response.status_code == 201
    message(eren, "while you were away 2").wait_for()
    eren.wait_for_selector("#status:has-text('live')")
    texts = eren.locator("#messages li.message").all_inner_texts()
    assert sum("while you were away" in t for t in texts) == 3
    assert sum("before the restart" in t for t in texts) == 1


def test_markup_in_messages_is_shown_as_text(server, people, pages):
    eren, mikasa = pages(), pages()
    for page, name in ((eren, "eren"), (mikasa, "mikasa")):
        log_in(page, server, name)
        open_room(page, server)
    attack = (
        "<script>window.pwned=1</script>"
        '<img src=x onerror="window.pwned=2"> [x](javascript:window.pwned=3)'
    )
    send(eren, attack)
    message(mikasa, "<script>window.pwned=1</script>").wait_for()
    assert mikasa.evaluate("window.pwned") is None
    assert mikasa.locator("#messages img").count() == 0
    mikasa.goto(f"{server.url}/rooms/general/history")
    assert mikasa.locator("text=<script>window.pwned=1</script>").count() == 1
    assert mikasa.evaluate("window.pwned") is None
    assert mikasa.locator("main img").count() == 0


def test_a_non_member_cannot_reach_a_private_room(server, people, pages, db):
    from chat import actions

    actions.create_room(db, "plans", people["eren"].id, is_private=True)
    mikasa = pages()
    log_in(mikasa, server, "mikasa")
    response = mikasa.goto(f"{server.url}/rooms/plans")
    assert response.status == 404
    mikasa.goto(f"{server.url}/rooms")
    assert mikasa.locator("text=plans").count() == 0
    # The same socket API the page uses, from the page: the room does not exist for her.
    error = mikasa.evaluate(
        """() => new Promise((resolve) => {
            const ws = new WebSocket(`ws://${location.host}/ws`);
            ws.onopen = () => ws.send(JSON.stringify({type: "join", room: "plans"}));
            ws.onmessage = (e) => {
                const frame = JSON.parse(e.data);
                if (frame.type === "error") resolve(frame);
            };
        })"""
    )
    assert error["code"] == "not_found"


def test_typing_and_presence_show_for_the_other_person(server, people, pages, db):
    general = room_row(db, "general")
    for person in people.values():
        actions.join_room(db, general.id, person.id)
    eren, mikasa = pages(), pages()
    for page, name in ((eren, "eren"), (mikasa, "mikasa")):
        log_in(page, server, name)
        open_room(page, server)
    status = mikasa.locator('#members li[data-user="eren"]')
    expect(status).to_have_attribute("data-status", "online")
    eren.type("#content", "typing slowly", delay=50)
    mikasa.wait_for_selector("#typing:has-text('eren')")
    eren.close()
    # Offline PRESENCE_GRACE (5 s) after the close: a next page would have come by then.
    expect(status).to_have_attribute("data-status", "offline", timeout=WAIT_MS)
    expect(status.locator(".presence-text")).to_have_text("offline")
    expect(mikasa.locator("#typing")).to_have_text("")
    # Closing a tab is not news: no line in the room.
    assert mikasa.locator("#messages .notice").count() == 0


def test_the_pages_have_no_console_errors_and_a_strict_csp(server, people, pages):
    page = pages()
    errors = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    log_in(page, server, "eren")
    response = page.goto(f"{server.url}/rooms/general")
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    page.wait_for_selector("#status:has-text('live')")
    page.goto(f"{server.url}/rooms")
    page.goto(f"{server.url}/rooms/general/history")
    assert errors == []


def test_ci_has_chromium():
    """Under CI the browser must exist: the other tests would otherwise fail, not skip."""
    if CI:
        assert CHROMIUM.exists()


def test_a_send_made_while_offline_is_retried_and_stored_once(server, people, pages, db):
    eren = pages()
    log_in(eren, server, "eren")
    open_room(eren, server)
    server.stop()
    eren.wait_for_selector("#status:has-text('reconnecting')")
    send(eren, "written while the server was down")
    eren.wait_for_selector("#messages li.message.pending")  # waiting, not "Not sent"
    server.start()
    eren.wait_for_selector("#status:has-text('live')")
    eren.wait_for_selector(
        "#messages li.message:not(.pending):not(.failed) >> text=written while the server was down"
    )
    eren.reload()
    message(eren, "written while the server was down").wait_for()
    stored = db.execute(
        "SELECT count(*) AS n FROM messages WHERE content = 'written while the server was down'"
    ).fetchone()
    assert stored == {"n": 1}
    assert message(eren, "written while the server was down").count() == 1


def test_the_room_is_marked_read_when_its_messages_are_seen(server, people, pages, db):
    actions.join_room(db, room_row(db, "general").id, people["eren"].id)
    eren = pages()
    log_in(eren, server, "eren")
    open_room(eren, server)
    token = make_token(db, people["mikasa"])
    api = http()
    api.headers["Authorization"] = f"Bearer {token}"
    for i in range(3):
        api.post(f"{server.url}/api/rooms/general/messages", json={"content": f"news {i}"})
    message(eren, "news 2").wait_for()
    mine = http()
    mine.headers["Authorization"] = f"Bearer {make_token(db, people['eren'])}"
    deadline = time.monotonic() + 20
    unread = None
    while time.monotonic() < deadline:  # each check is a round trip to the server
        rooms = mine.get(f"{server.url}/api/rooms").json()["rooms"]
        unread = next(r["unread"] for r in rooms if r["name"] == "general")
        if unread == 0:
            break
    assert unread == 0


def test_me_is_an_action_and_help_is_a_notice_for_the_sender_only(server, people, pages, db):
    eren, mikasa = pages(), pages()
    for page, name in ((eren, "eren"), (mikasa, "mikasa")):
        log_in(page, server, name)
        open_room(page, server)
    send(eren, "/help")
    eren.wait_for_selector("#messages li.notice.local.help >> text=/stock=SYMBOL")
    send(eren, "/dance")
    eren.wait_for_selector("#messages li.notice.local.error >> text=unknown command /dance")
    assert eren.input_value("#content") == "/dance"  # back in the input, to be fixed
    eren.fill("#content", "")
    send(eren, "/me waves *happily*")
    for page in (mikasa, eren):
        action = page.locator("#messages li.message.action", has_text="waves")
        action.wait_for()
        assert words(action.locator(".content").inner_text()) == "eren waves happily"
        action.locator(".content em").wait_for()  # Markdown, rendered
    # Everything eren's page showed for himself only stayed there, and nothing pending is left.
    assert mikasa.locator("#messages li.notice.local").count() == 0
    assert eren.locator("#messages li.pending, #messages li.failed").count() == 0
    assert db.execute("SELECT content, kind FROM messages").fetchall() == [
        {"content": "waves *happily*", "kind": "action"}
    ]
    mikasa.goto(f"{server.url}/rooms/general/history")
    assert words(mikasa.locator("li.action .content").inner_text()) == "eren waves happily"


def test_every_frame_a_page_receives_goes_through_the_frame_check(
    server, people, pages, monkeypatch
):
    """tests/browser/conftest.py checks each frame a page's socket receives
    against the frame schemas; here the check only notes what it was given."""
    from .. import contract

    checked = []
    monkeypatch.setattr(
        contract, "frame_mismatch", lambda frame, entry="ServerFrame": checked.append(frame)
    )
    page = pages()
    log_in(page, server, "eren")
    open_room(page, server)
    assert "ready" in [frame["type"] for frame in checked]
