"""Every frame and every HTTP write counts against its sender's budget, whatever it is.

A socket's frames share one token bucket per connection (RATE_LIMIT_BURST at
once, then RATE_LIMIT_PER_SEC): unparseable, unknown, binary and refused
frames take a token exactly like a chat message. HTTP writes to a room
(API sends, edits, deletions, reactions and the HTML form) share one bucket
per user kept in PostgreSQL, so every worker and host enforces one limit.
"""

import threading

import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from chat import actions
from chat.config import load
from chat.realtime.client import ClientSession
from chat.realtime.service import Realtime, Settings
from chat.storage import queries

from ..conftest import ScriptedSocket, csrf_token, make_token, make_user, room_row, send_as
from ..servers import http

BURST = 5
# Slow enough that no token comes back while a test runs.
RATE = 0.001


@pytest.fixture
def limited(database_url):
    pool = ConnectionPool(
        database_url, kwargs={"row_factory": dict_row}, min_size=1, max_size=4, open=True
    )
    config = {
        **load(),
        "DATABASE_URL": database_url,
        "RATE_LIMIT_PER_SEC": RATE,
        "RATE_LIMIT_BURST": BURST,
    }
    rt = Realtime(Settings.from_config(config), pool)
    yield rt
    rt.stop()
    pool.close()


FLOODS = {
    "unparseable": "{not json",
    "not-an-object": "[1, 2]",
    "unknown-type": '{"type":"dance","room":"general"}',
    "binary": b"\x00\x01\x02",
    "bad-field": '{"type":"read","room":"general","seq":"x"}',
    "blank-chat": '{"type":"chat","room":"general","content":"\\u200b"}',
    "typing": '{"type":"typing","room":"general"}',
    "chat": '{"type":"chat","room":"general","content":"hi"}',
}


PLAIN_TEXT = {"unparseable", "not-an-object"}


@pytest.mark.parametrize("kind", FLOODS)
@pytest.mark.parametrize("endpoint", ["/ws", "/ws/<room>"])
def test_every_frame_counts_against_the_rate_limit(limited, db, eren, kind, endpoint):
    room = room_row(db)
    ws = ScriptedSocket()
    default_room = room if endpoint == "/ws/<room>" else None
    session = ClientSession(ws, eren, limited, default_room=default_room)
    threading.Thread(target=session.run, daemon=True).start()
    if default_room is None:
        # The join is a frame too: it takes one of the burst's tokens.
        ws.inbox.put('{"type":"join","room":"general"}')
    ws.wait_for(lambda s: any(f["type"] == "ready" for f in s.sent))
    spent = 1 if default_room is None else 0
    frame = FLOODS[kind]
    if kind == "chat":
        frame = frame[:-1] + ',"client_id":"c-%d"}'
    flood = 30
    for i in range(flood):
        ws.inbox.put(frame % i if isinstance(frame, str) and "%d" in frame else frame)
    ws.inbox.put('{"type":"chat","room":"general","content":"x","client_id":"last"}')
    ws.wait_for(lambda s: any(f.get("client_id") == "last" for f in s.sent))

    limited_frames = [f for f in ws.sent if f.get("code") == "rate_limited"]
    # The burst's tokens went to the first frames, whatever they were; every
    # frame after them was refused as rate_limited, the marker included.
    assert len(limited_frames) == flood + 1 - (BURST - spent)
    assert limited_frames[0]["message"].endswith("moment")
    stored = db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"]
    # On /ws/<room> a text frame that is not a JSON object is a chat message.
    chats = kind == "chat" or (default_room is not None and kind in PLAIN_TEXT)
    assert stored == (BURST - spent if chats else 0)
    ws.close()


def _form_post(client, db):
    token = csrf_token(client.get("/rooms/general").text)
    return lambda i: client.post(
        "/rooms/general/messages", data={"csrf_token": token, "content": f"form {i}"}
    )


HTTP_WRITES = {
    "api-send": lambda c, h: (
        lambda i: c.post("/api/rooms/general/messages", json={"content": f"m {i}"}, headers=h)
    ),
    "api-edit": lambda c, h: (
        lambda i: c.patch("/api/rooms/general/messages/1", json={"content": f"e {i}"}, headers=h)
    ),
    "api-react": lambda c, h: (
        lambda i: c.post("/api/rooms/general/messages/1/reactions", json={"emoji": "👍"}, headers=h)
    ),
    "api-delete": lambda c, h: (
        lambda i: c.delete(f"/api/rooms/general/messages/{i + 1}", headers=h)
    ),
    "api-refused": lambda c, h: (
        lambda i: c.post("/api/rooms/general/messages", json={"content": ""}, headers=h)
    ),
}


@pytest.mark.parametrize("path", [*HTTP_WRITES, "html-form"])
def test_http_writes_share_one_budget_per_user(app, client, auth, db, path):
    app.config.update(RATE_LIMIT_PER_SEC=RATE, RATE_LIMIT_BURST=BURST)
    if path == "html-form":
        auth.register()
        eren = queries.user_by_name(db, "eren")
        write = _form_post(client, db)
    else:
        eren = make_user(db, "eren")
        write = HTTP_WRITES[path](client, {"Authorization": f"Bearer {make_token(db, eren)}"})
    for i in range(BURST + 2):
        send_as(db, eren, f"target {i}")

    answers = [write(i).status_code for i in range(BURST)]
    assert answers == [400 if path == "api-refused" else OK[path]] * BURST
    before = db.execute("SELECT count(*) AS n, max(seq) AS top FROM messages").fetchone()

    refused = write(BURST)

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    if path != "html-form":
        assert refused.json["error"]["code"] == "rate_limited"
    else:  # the room page again, the text still in the box
        assert f">form {BURST}</textarea>" in refused.text
        assert "Not sent: Too many messages at once" in refused.text
    assert db.execute("SELECT count(*) AS n, max(seq) AS top FROM messages").fetchone() == before


OK = {"api-send": 201, "api-edit": 200, "api-react": 200, "api-delete": 200, "html-form": 302}


def test_a_user_and_others_have_separate_budgets(app, client, db, eren, mikasa):
    app.config.update(RATE_LIMIT_PER_SEC=RATE, RATE_LIMIT_BURST=1)
    for user, status in [(eren, 201), (eren, 429), (mikasa, 201), (mikasa, 429)]:
        answer = client.post(
            "/api/rooms/general/messages",
            json={"content": "hi"},
            headers={"Authorization": f"Bearer {make_token(db, user)}"},
        )
        assert answer.status_code == status


def test_the_bucket_refills_at_the_rate(db):
    # Two tokens a second: a burst of 2, then one more after half a second.
    assert actions.take_token(db, "k", 2.0, 2) is None
    assert actions.take_token(db, "k", 2.0, 2) is None
    wait = actions.take_token(db, "k", 2.0, 2)
    assert 0 < wait <= 0.5
    db.execute("UPDATE rate_buckets SET updated_at = updated_at - interval '0.5 seconds'")
    assert actions.take_token(db, "k", 2.0, 2) is None
    assert actions.take_token(db, "k", 2.0, 2) is not None


@pytest.mark.e2e
def test_the_http_limit_holds_across_workers(start_server, db, eren):
    """Fresh connections land on both workers; together they allow one burst."""
    server = start_server(workers=2, RATE_LIMIT_PER_SEC=str(RATE), RATE_LIMIT_BURST=str(BURST))
    headers = {"Authorization": f"Bearer {make_token(db, eren)}", "Connection": "close"}
    statuses = []
    for i in range(BURST * 3):
        with http() as session:
            answer = session.post(
                f"{server.url}/api/rooms/general/messages",
                json={"content": f"m {i}"},
                headers=headers,
                timeout=10,
            )
            statuses.append(answer.status_code)
    assert statuses.count(201) == BURST
    assert statuses.count(429) == BURST * 2
