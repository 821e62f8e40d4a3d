"""Edits, deletions and reactions over HTTP: the JSON API routes, reading events back
with `after`, and the history page (current text, "(edited)" versions, "message
deleted", reaction counts), without JavaScript."""

import re

import pytest

from chat import actions

from ..conftest import csrf_token, make_token, room_row

ANCHOR = re.compile(r'<li id="m(\d+)"')


def bearer(db, user) -> dict:
    return {"Authorization": f"Bearer {make_token(db, user)}"}


def send(db, user, content, room="general") -> int:
    return actions.send_message(db, room_row(db, room), user, content, None).seq


def url(seq: int, room: str = "general", suffix: str = "") -> str:
    return f"/api/rooms/{room}/messages/{seq}{suffix}"


# --- the API ------------------------------------------------------------------------


def test_edit_delete_and_react_over_the_api(client, db, eren, mikasa):
    seq = send(db, eren, "hello")
    headers = bearer(db, eren)

    edited = client.patch(
        url(seq), json={"content": "hello *all*", "client_id": "e1"}, headers=headers
    )
    assert edited.status_code == 200
    assert edited.json == {
        "room": "general",
        "seq": 2,
        "target_seq": seq,
        "client_id": "e1",
        "duplicate": False,
    }
    again = client.patch(
        url(seq), json={"content": "hello *all*", "client_id": "e1"}, headers=headers
    )
    assert (again.json["seq"], again.json["duplicate"]) == (2, True)

    on = client.post(
        url(seq, suffix="/reactions"), json={"emoji": "👍"}, headers=bearer(db, mikasa)
    )
    off = client.post(
        url(seq, suffix="/reactions"), json={"emoji": "👍"}, headers=bearer(db, mikasa)
    )
    assert (on.status_code, on.json["on"], on.json["seq"]) == (200, True, 3)
    assert (off.status_code, off.json["on"], off.json["seq"]) == (200, False, 4)

    deleted = client.delete(url(seq), headers=headers)
    assert (deleted.status_code, deleted.json["seq"]) == (200, 5)
    assert "on" not in deleted.json
    assert db.execute("SELECT deleted_by FROM messages WHERE seq = %s", (seq,)).fetchone() == {
        "deleted_by": eren.id
    }


def test_reading_with_after_returns_events_in_order_after_the_messages(client, db, eren):
    first = send(db, eren, "first")
    second = send(db, eren, "second")
    room = room_row(db)
    actions.edit_message(db, room, eren, first, "first, better")
    actions.toggle_reaction(db, room, eren, second, "🎉")
    actions.delete_message(db, room, eren, second)
    headers = bearer(db, eren)

    page = client.get("/api/rooms/general/messages?after=0", headers=headers).json
    assert [(m["type"], m["seq"], m.get("target_seq")) for m in page["messages"]] == [
        ("chat", 1, None),
        ("chat", 2, None),
        ("chat_edit", 3, first),
        ("reaction", 4, second),
        ("chat_delete", 5, second),
    ]
    # The messages as they are now; the events as what they did.
    one, two, edit, reaction, _ = page["messages"]
    assert (one["content"], "edited" in one) == ("first, better", True)
    assert (two["content"], two["html"], two["deleted"]) == ("", "", True)
    assert "reactions" not in two
    assert edit["content"] == "first, better"
    assert (reaction["emoji"], reaction["on"], reaction["username"]) == ("🎉", True, "eren")

    # A script that had read up to seq 2 sees exactly the changes since, in order.
    resumed = client.get("/api/rooms/general/messages?after=2&limit=2", headers=headers).json
    assert [m["seq"] for m in resumed["messages"]] == [3, 4]
    rest = client.get("/api/rooms/general/messages?after=4", headers=headers).json
    assert [(m["seq"], m["type"]) for m in rest["messages"]] == [(5, "chat_delete")]


@pytest.mark.parametrize(
    "method, path, body, status, code",
    [
        ("PATCH", url(1), {"content": "taken over"}, 403, "forbidden"),
        ("DELETE", url(1), None, 403, "forbidden"),
        ("PATCH", url(99), {"content": "x"}, 404, "not_found"),
        ("DELETE", url(99), None, 404, "not_found"),
        ("POST", url(99, suffix="/reactions"), {"emoji": "👍"}, 404, "not_found"),
        ("PATCH", url(2**63), {"content": "x"}, 404, "not_found"),
        ("PATCH", url(1), {"content": ""}, 400, "bad_frame"),
        ("PATCH", url(1), {"content": "x" * 4001}, 400, "too_large"),
        ("PATCH", url(1), {"text": "x"}, 400, "bad_frame"),
        ("PATCH", url(1), None, 400, "bad_request"),
        ("PATCH", url(1), ["x"], 400, "bad_request"),
        ("POST", url(1, suffix="/reactions"), {"emoji": "a b"}, 400, "bad_frame"),
        ("POST", url(1, suffix="/reactions"), {"emoji": "x" * 33}, 400, "bad_frame"),
        ("POST", url(1, suffix="/reactions"), {}, 400, "bad_frame"),
        ("DELETE", url(1), {"client_id": "x" * 65}, 400, "bad_frame"),
        ("PATCH", url(1, room="nope"), {"content": "x"}, 404, "not_found"),
        ("PATCH", "/api/rooms/general/messages/abc", {"content": "x"}, 404, "not_found"),
    ],
)
def test_refusals_are_clear_json_and_change_nothing(
    client, db, eren, mikasa, method, path, body, status, code
):
    send(db, eren, "eren's words")
    response = client.open(path, method=method, json=body, headers=bearer(db, mikasa))
    assert response.status_code == status, response.text
    assert response.is_json
    assert response.json["error"]["code"] == code
    assert room_row(db).last_seq == 1
    assert db.execute("SELECT content FROM messages").fetchall() == [{"content": "eren's words"}]


def test_a_private_room_is_not_found_for_a_non_member(client, db, eren, mikasa):
    actions.create_room(db, "plans", eren.id, is_private=True)
    seq = send(db, eren, "secret plan", room="plans")
    headers = bearer(db, mikasa)
    for method, path, body in (
        ("PATCH", url(seq, "plans"), {"content": "x"}),
        ("DELETE", url(seq, "plans"), None),
        ("POST", url(seq, "plans", "/reactions"), {"emoji": "👍"}),
    ):
        response = client.open(path, method=method, json=body, headers=headers)
        assert (response.status_code, response.json["error"]["code"]) == (404, "not_found")
    assert room_row(db, "plans").last_seq == 1


def test_the_room_owner_deletes_over_the_api(client, db, eren, mikasa):
    actions.create_room(db, "owned", mikasa.id)
    seq = send(db, eren, "off topic", room="owned")
    response = client.delete(url(seq, "owned"), headers=bearer(db, mikasa))
    assert response.status_code == 200


def test_a_session_write_needs_the_csrf_token(client, auth, db, eren):
    seq = send(db, eren, "hi")
    auth.login("eren", "correct horse")
    refused = client.delete(url(seq), headers={"X-CSRFToken": "forged"})
    assert refused.status_code == 400
    assert db.execute("SELECT deleted_at FROM messages").fetchone()["deleted_at"] is None
    token = csrf_token(client.get("/rooms").text)
    assert client.delete(url(seq), headers={"X-CSRFToken": token}).status_code == 200


# --- the history page -------------------------------------------------------------------


@pytest.fixture
def logged_in(auth, eren):
    assert auth.login("eren", "correct horse").status_code == 302
    return eren


def test_history_shows_current_text_versions_placeholders_and_reactions(
    client, db, logged_in, mikasa
):
    eren = logged_in
    room = room_row(db)
    edited = send(db, eren, "frist draft")
    gone = send(db, eren, "regrettable words")
    liked = send(db, mikasa, "a good point")
    actions.edit_message(db, room, eren, edited, "first draft")
    actions.edit_message(db, room, eren, edited, "**final** draft")
    actions.delete_message(db, room, eren, gone)
    for user, emoji in ((eren, "👍"), (mikasa, "👍"), (eren, "🎉")):
        actions.toggle_reaction(db, room, user, liked, emoji)

    html = client.get("/rooms/general/history").text
    # Messages only, each once: no events on the page.
    assert [int(s) for s in ANCHOR.findall(html)] == [edited, gone, liked]
    item = html[html.index(f'id="m{edited}"') : html.index(f'id="m{gone}"')]
    assert "<strong>final</strong> draft" in item
    assert "<summary>(edited" in item
    versions = re.findall(r'<li class="version">.*?<div class="content">(.*?)</div>', item, re.S)
    assert versions == ["<p>frist draft</p>", "<p>first draft</p>"]
    deleted = html[html.index(f'id="m{gone}"') : html.index(f'id="m{liked}"')]
    assert 'class="deleted"' in deleted and "message deleted" in deleted
    assert "regrettable" not in html
    chips = re.findall(
        r'<li class="reaction" title="([^"]*)"><span class="emoji">(.*?)</span> '
        r'<span class="count">(\d+)</span>',
        html,
    )
    assert chips == [("eren, mikasa", "👍", "2"), ("eren", "🎉", "1")]


def test_history_pages_count_messages_not_events(client, db, logged_in, app):
    app.config["HISTORY_PAGE_SIZE"] = 3
    room = room_row(db)
    seqs = []
    for i in range(7):
        seqs.append(send(db, logged_in, f"m{i}"))
        actions.toggle_reaction(db, room, logged_in, seqs[-1], "👀")  # an event after each
    newest = client.get("/rooms/general/history").text
    assert [int(s) for s in ANCHOR.findall(newest)] == seqs[4:]
    older = re.search(r'<a rel="prev" href="([^"]+)"', newest).group(1)
    middle = client.get(older.replace("&amp;", "&")).text
    assert [int(s) for s in ANCHOR.findall(middle)] == seqs[1:4]
    newer = re.search(r'<a rel="next" href="([^"]+)"', middle).group(1)
    assert [int(s) for s in ANCHOR.findall(client.get(newer).text)] == seqs[4:]
    first = client.get(f"/rooms/general/history?before={seqs[1]}").text
    assert [int(s) for s in ANCHOR.findall(first)] == seqs[:1]
    # From the first page, "newer" is the next three messages, events skipped.
    newer = re.search(r'<a rel="next" href="([^"]+)"', first).group(1)
    assert [int(s) for s in ANCHOR.findall(client.get(newer).text)] == seqs[1:4]
