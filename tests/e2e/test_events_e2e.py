"""Edits, deletions and reactions end to end: socket frames on the real gunicorn (two
gevent workers) and PostgreSQL, live across workers and replayed by a client resuming
with `after`.

Nothing sleeps to synchronise: every wait is for a frame or an HTTP answer, and seq
order is commit order, so the frames before a later marker are all that came before it.
"""

import pytest

from ..servers import FRAME_TIMEOUT, http
from .clients import Tab, open_on_worker, open_room, post

pytestmark = pytest.mark.e2e


def api(server, person: dict, method: str, path: str, body: dict | None = None):
    response = http().request(
        method,
        f"{server.url}/api/rooms/general/messages{path}",
        json=body,
        headers={"Authorization": f"Bearer {person['token']}"},
        timeout=FRAME_TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return response.json()


def acked(tab: Tab, frame: dict) -> int:
    """Send an event frame and wait for its ack (other frames stay); the event's seq."""
    tab.send(frame)
    _, ack = tab.expect(keep=True, type="ack", client_id=frame["client_id"])
    return ack["seq"]


def test_live_edit_delete_and_reaction_frames_reach_another_workers_client(server, people):
    eren, mikasa = people["eren"], people["mikasa"]
    writer = open_room(server, "general", eren["token"], "eren")
    writer_pid = server.worker_of(writer.ws)
    reader = open_on_worker(server, "general", mikasa, lambda pid: pid != writer_pid)

    seq = writer.chat("helo", "c1")
    edit = acked(writer, {"type": "edit", "seq": seq, "content": "hello *you*", "client_id": "e1"})
    react = acked(reader, {"type": "react", "seq": seq, "emoji": "👍", "client_id": "r1"})
    unreact = acked(reader, {"type": "react", "seq": seq, "emoji": "👍", "client_id": "r2"})
    delete = acked(writer, {"type": "delete", "seq": seq, "client_id": "d1"})
    assert [edit, react, unreact, delete] == [seq + 1, seq + 2, seq + 3, seq + 4]

    for tab in (reader, writer):
        frames = [f for f in tab.chats_and_events_until(delete) if f["seq"] > seq]
        assert [(f["type"], f["seq"], f["target_seq"]) for f in frames] == [
            ("chat_edit", edit, seq),
            ("reaction", react, seq),
            ("reaction", unreact, seq),
            ("chat_delete", delete, seq),
        ]
        edited, on, off, deleted = frames
        assert (edited["username"], edited["content"]) == ("eren", "hello *you*")
        assert edited["html"] == "<p>hello <em>you</em></p>"
        assert (on["username"], on["emoji"], on["on"]) == ("mikasa", "👍", True)
        assert (off["emoji"], off["on"]) == ("👍", False)
        assert deleted["username"] == "eren"


def test_refused_events_are_error_frames_and_the_socket_goes_on(server, people):
    eren, mikasa = people["eren"], people["mikasa"]
    author = open_room(server, "general", eren["token"], "eren")
    other = open_room(server, "general", mikasa["token"], "mikasa")
    seq = author.chat("mine", "c1")
    for frame, code in (
        ({"type": "edit", "seq": seq, "content": "hers now", "client_id": "x1"}, "forbidden"),
        ({"type": "delete", "seq": seq, "client_id": "x2"}, "forbidden"),
        ({"type": "react", "seq": 999, "emoji": "👍", "client_id": "x3"}, "not_found"),
        ({"type": "react", "seq": seq, "emoji": "no spaces", "client_id": "x4"}, "bad_frame"),
    ):
        other.send(frame)
        _, error = other.expect(keep=True, type="error", client_id=frame["client_id"])
        assert (error["code"], error["room"]) == (code, "general")
    # Nothing was stored: the next message takes the next seq.
    assert other.chat("still here", "c2") == seq + 1


def test_an_event_for_a_private_room_of_others_is_not_found(server, people, db):
    from chat import actions

    actions.create_room(db, "plans", people["eren"]["id"], is_private=True)
    tab = Tab.open_mux(server, people["mikasa"]["token"])
    tab.send({"type": "delete", "room": "plans", "seq": 1, "client_id": "d"})
    _, error = tab.expect(type="error", client_id="d")
    assert error["code"] == "not_found"


def test_resuming_with_after_replays_edits_and_deletes_in_order(server, people):
    eren, mikasa = people["eren"], people["mikasa"]
    first = post(server, eren, "general", "first")
    second = post(server, mikasa, "general", "second")
    seen = second  # a client that saw both, then went away
    api(server, eren, "PATCH", f"/{first}", {"content": "first, edited"})
    api(server, mikasa, "POST", f"/{first}/reactions", {"emoji": "🎉"})
    third = post(server, eren, "general", "third")
    api(server, mikasa, "DELETE", f"/{second}")
    api(server, eren, "PATCH", f"/{third}", {"content": "third, edited"})
    last = api(server, eren, "DELETE", f"/{third}")["seq"]

    tab = Tab.open(server, "general", eren["token"], after=seen)
    before, ready = tab.until("ready")
    assert ready["last_seq"] == last
    assert [(f["type"], f["seq"], f.get("target_seq")) for f in before] == [
        ("chat_edit", seen + 1, first),
        ("reaction", seen + 2, first),
        ("chat", third, None),
        ("chat_delete", third + 1, second),
        ("chat_edit", third + 2, third),
        ("chat_delete", last, third),
    ]
    # A row read from the table shows the message as it is now: deleted, its edit emptied.
    caught_up_third, edit_of_third = before[2], before[4]
    assert (caught_up_third["deleted"], caught_up_third["content"]) == (True, "")
    assert (edit_of_third["content"], edit_of_third["html"]) == ("", "")
    # From the table to live without a gap or a duplicate: the next events arrive once.
    live = api(server, mikasa, "POST", f"/{first}/reactions", {"emoji": "🎉"})["seq"]
    marker = post(server, mikasa, "general", "marker")
    frames = tab.chats_and_events_until(marker)
    assert [(f["type"], f["seq"]) for f in frames] == [("reaction", live), ("chat", marker)]
    assert frames[0]["on"] is False


def test_joining_without_after_shows_current_state_then_the_recent_events(server, people):
    eren = people["eren"]
    seq = post(server, eren, "general", "typo")
    api(server, eren, "PATCH", f"/{seq}", {"content": "fixed"})
    api(server, eren, "POST", f"/{seq}/reactions", {"emoji": "👀"})
    tab = Tab.open(server, "general", eren["token"])
    before, ready = tab.until("ready")
    assert [f["type"] for f in before] == ["chat", "chat_edit", "reaction"]
    message = before[0]
    assert message["content"] == "fixed" and "edited" in message
    assert message["reactions"] == {"👀": ["eren"]}
    assert ready["last_seq"] == seq + 2
