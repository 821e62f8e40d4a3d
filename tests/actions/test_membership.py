"""Only joining (explicitly, or by posting in a public room), an invitation or
creating a room makes someone a member (DESIGN §9).

Everything that merely records or reads state (a read marker, a typing
notice, watching a room for its badge, opening its history, searching,
listing its messages, asking for an export) leaves a person who is not a
member exactly as they were: no membership row, no unread count, no export.
"""

import threading

import pytest

from chat import actions
from chat.domain.entities import User
from chat.realtime.client import ClientSession

from ..conftest import ScriptedSocket, make_token, room_row, send_as

pytestmark = pytest.mark.usefixtures("realtime")


def is_member(db, user: User, room: str = "general") -> bool:
    row = db.execute(
        "SELECT 1 FROM room_members m JOIN rooms r ON r.id = m.room_id"
        " WHERE r.name = %s AND m.user_id = %s",
        (room, user.id),
    ).fetchone()
    return row is not None


@pytest.fixture
def watcher(realtime, db, eren, mikasa):
    """mikasa's /ws socket, watching #general (which eren made and wrote in)."""
    for i in range(3):
        send_as(db, eren, f"message {i}")
    ws = ScriptedSocket()
    session = ClientSession(ws, mikasa, realtime)
    threading.Thread(target=session.run, daemon=True).start()
    ws.inbox.put('{"type":"join","room":"general","watch":true}')
    ws.wait_for(lambda s: any(f["type"] == "ready" for f in s.sent))
    yield ws
    ws.close()


def answered(ws, frame: str) -> dict:
    """Send `frame`, then one that is always refused: frames are handled in order,
    so when the refusal arrives the first frame has been acted on."""
    ws.inbox.put(frame)
    ws.inbox.put('{"type":"nonsense"}')
    ws.wait_for(lambda s: any(f.get("code") == "unknown_type" for f in s.sent))
    errors = [f for f in ws.sent if f["type"] == "error" and f["code"] != "unknown_type"]
    ws.sent.clear()
    return errors[0] if errors else {}


@pytest.mark.parametrize(
    "frame, refusal",
    [
        ('{"type":"read","room":"general","seq":3}', None),
        ('{"type":"read","room":"general","seq":99}', None),
        ('{"type":"typing","room":"general"}', "not_joined"),
    ],
    ids=["read", "read-past-the-end", "typing"],
)
def test_recording_state_over_a_socket_never_grants_membership(watcher, db, mikasa, frame, refusal):
    error = answered(watcher, frame)

    assert error.get("code") == refusal
    assert not is_member(db, mikasa)
    assert actions.mark_read(db, room_row(db).id, mikasa.id, 3) is None


@pytest.mark.parametrize(
    "path",
    [
        "/rooms/general/history",
        "/api/rooms/general/messages",
        "/api/rooms",
        "/search?q=message",
        "/api/search?q=message",
        "/api/rooms/general/export.jsonl",
        "/rooms/general/export.csv",
    ],
)
def test_reading_over_http_never_grants_membership(client, db, eren, mikasa, path):
    send_as(db, eren, "a message")
    headers = {"Authorization": f"Bearer {make_token(db, mikasa)}"}

    response = client.get(path, headers=headers)

    assert response.status_code < 500
    assert not is_member(db, mikasa)
    rooms = client.get("/api/rooms", headers=headers).json["rooms"]
    assert "general" not in [r["name"] for r in rooms]  # her rooms: none yet
    if "export" in path:
        assert response.status_code == 403  # members only, and reading made nobody one


def test_a_member_still_moves_the_read_marker(db, eren):
    room = room_row(db)
    actions.join_room(db, room.id, eren.id)
    for i in range(3):
        send_as(db, eren, f"message {i}")

    assert actions.mark_read(db, room.id, eren.id, 2) == 2
    assert actions.mark_read(db, room.id, eren.id, 1) == 2  # never back
    assert actions.mark_read(db, room.id, eren.id, 99) == 3  # never past the end
