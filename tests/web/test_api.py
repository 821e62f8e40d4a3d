"""The JSON API: token or session auth, reading pages of messages, idempotent sends."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import actions
from chat.domain.entities import User
from chat.domain.threads import ReplyTo

from ..conftest import csrf_token, make_token, make_user, room_row

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def user(db):
    return make_user(db, "eren", "correct horse")


@pytest.fixture
def headers(db, user) -> dict:
    return {"Authorization": f"Bearer {make_token(db, user)}"}


def seed(db, user: User, count: int, room: str = "general") -> None:
    row = room_row(db, room)
    for i in range(1, count + 1):
        actions.send_message(db, row, user, f"message {i}", None)


def seqs(response) -> list[int]:
    return [m["seq"] for m in response.json["messages"]]


def message_count(db) -> int:
    return db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"]


def send(client, headers, content="hi", client_id=None, room="general"):
    body = {"content": content}
    if client_id is not None:
        body["client_id"] = client_id
    return client.post(f"/api/rooms/{room}/messages", json=body, headers=headers)


def room_counts(client, headers, room: str = "general") -> tuple[int, int]:
    rooms = client.get("/api/rooms", headers=headers).json["rooms"]
    found = next(r for r in rooms if r["name"] == room)
    return found["unread"], found["mentions"]


# --- authentication ---------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/rooms"),
        ("GET", "/api/rooms/general/messages"),
        ("POST", "/api/rooms/general/messages"),
        ("GET", "/api/rooms/nope/messages"),  # no hint whether the room exists
    ],
)
def test_no_auth_is_401_json(client, db, method, path):
    response = client.open(path, method=method, json={"content": "hi"})

    assert response.status_code == 401
    assert response.is_json
    assert response.json["error"]["code"] == "unauthorized"
    assert "Bearer" in response.json["error"]["message"]
    assert message_count(db) == 0


def test_list_rooms_with_token(client, db, user, headers):
    actions.create_room(db, "lobby", user.id)
    seed(db, user, 3)

    response = client.get("/api/rooms", headers=headers)

    assert response.status_code == 200
    entry = {
        "private": False,
        "direct": False,
        "partner": None,
        "partner_status": None,
        "partner_display_name": None,
        "topic": "",
        "archived": False,
        "muted": False,
        "unread": 0,
        "mentions": 0,
    }
    assert response.json == {
        "rooms": [
            # Posting joined #general (read up to the first post); lobby is the creator's.
            {"name": "general", "title": "#general", "last_seq": 3, "last_read_seq": 1} | entry,
            {"name": "lobby", "title": "#lobby", "last_seq": 0, "last_read_seq": 0} | entry,
        ]
    }


def test_unread_counts_follow_the_read_state_without_going_back(client, db, user, headers):
    room = room_row(db)
    actions.join_room(db, room.id, user.id)  # joins at seq 0: nothing read yet
    seed(db, make_user(db, "mikasa", "correct horse"), 5)

    def unread() -> int:
        rooms = client.get("/api/rooms", headers=headers).json["rooms"]
        return next(r["unread"] for r in rooms if r["name"] == "general")

    assert unread() == 5
    assert actions.mark_read(db, room.id, user.id, 3) == 3
    assert unread() == 2
    assert actions.mark_read(db, room.id, user.id, 1) == 3  # older: ignored
    assert unread() == 2
    assert actions.mark_read(db, room.id, user.id, 99) == 5  # clamped to the end
    assert unread() == 0


def test_private_rooms_only_for_members(client, db, user, headers):
    other = make_user(db, "levi")
    actions.create_room(db, "secret", other.id, is_private=True)
    actions.create_room(db, "mine", user.id, is_private=True)

    names = [r["name"] for r in client.get("/api/rooms", headers=headers).json["rooms"]]
    assert names == ["mine"]  # their rooms: #general is public, but not joined
    for method in ("GET", "POST"):
        response = client.open(
            "/api/rooms/secret/messages", method=method, json={"content": "hi"}, headers=headers
        )
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
    assert room_row(db, "secret").last_seq == 0


# --- reading messages -------------------------------------------------------


def test_messages_default_is_newest_50_oldest_first(client, db, user, headers):
    seed(db, user, 120)

    response = client.get("/api/rooms/general/messages", headers=headers)

    assert response.status_code == 200
    assert response.json["room"] == "general"
    assert response.json["last_seq"] == 120
    assert seqs(response) == list(range(71, 121))
    first = response.json["messages"][0]
    assert set(first) == {"type", "room", "seq", "username", "content", "html", "ts"}
    assert first["type"] == "chat" and first["room"] == "general"
    assert first["username"] == "eren" and first["content"] == "message 71"
    assert TS.fullmatch(first["ts"])


@pytest.mark.parametrize(
    "query, expected",
    [
        ("after=0", range(1, 51)),
        ("after=10", range(11, 61)),
        ("after=100", range(101, 121)),
        ("after=120", []),
        ("after=500", []),
        ("before=30", range(1, 30)),
        ("before=1", []),
        ("before=121", range(71, 121)),
        ("after=10&before=20", range(11, 20)),
        ("after=10&before=11", []),
        ("limit=5", range(116, 121)),
        ("limit=200", range(1, 121)),
        ("after=0&limit=3", range(1, 4)),
        ("before=30&limit=3", range(27, 30)),
        ("after=10&before=100&limit=4", range(11, 15)),
        ("after=", range(71, 121)),
        # before=0 is a bound (nothing is below seq 0), never "no bound".
        ("before=0", []),
        ("after=10&before=0", []),
        ("after=10&before=5", []),
        ("before=121&limit=1", [120]),
        ("before=500&limit=2", [119, 120]),
        ("only=messages", range(71, 121)),
        ("before=30&limit=3&only=messages", range(27, 30)),
        ("only=", range(71, 121)),
    ],
)
def test_messages_paging(client, db, user, headers, query, expected):
    seed(db, user, 120)
    response = client.get(f"/api/rooms/general/messages?{query}", headers=headers)
    assert response.status_code == 200
    assert seqs(response) == list(expected)


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=1000",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "after=abc",
        "after=-1",
        "before=x",
        "before=%EF%BC%91",
        "before=-1",
        "before=1.5",
        "before=1e3",
        "before=+5",
        "before= 5",
        "before=1234567890123456789",  # past any seq there can be
        "after=0x10",
        "only=events",
        "only=MESSAGES",
        "only=messages,events",
    ],
)
def test_messages_bad_query_is_400_json(client, db, user, headers, query):
    response = client.get(f"/api/rooms/general/messages?{query}", headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert response.json["error"]["message"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit must be 1 to 200"),
        ("limit=abc", "limit must be a non-negative whole number"),
        ("before=-1", "before must be a non-negative whole number"),
        ("after=x", "after must be a non-negative whole number"),
        ("only=events", "only must be 'messages'"),
    ],
)
def test_messages_bad_query_says_which_argument_and_why(client, db, user, headers, query, field):
    response = client.get(f"/api/rooms/general/messages?{query}", headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["message"].startswith(field)


def edit(db, user: User, seq: int, text: str) -> int:
    return actions.edit_message(db, room_row(db), user, seq, text).seq


def test_only_messages_leaves_events_out_and_shows_current_state(client, db, user, headers):
    """A reader paging back wants messages as they are now: the edits and
    reactions that led there are in the default listing, not in this one."""
    seed(db, user, 5)  # seqs 1-5
    edit(db, user, 2, "second, edited")  # seq 6
    actions.toggle_reaction(db, room_row(db), user, 3, "👍")  # seq 7
    seed(db, user, 2)  # seqs 8-9
    actions.delete_message(db, room_row(db), user, 4)  # seq 10

    every = client.get("/api/rooms/general/messages?before=11", headers=headers)
    assert seqs(every) == list(range(1, 11))
    only = client.get("/api/rooms/general/messages?before=11&only=messages", headers=headers)
    assert seqs(only) == [1, 2, 3, 4, 5, 8, 9]
    by_seq = {m["seq"]: m for m in only.json["messages"]}
    assert {m["type"] for m in only.json["messages"]} == {"chat"}
    assert by_seq[2]["content"] == "second, edited" and "edited" in by_seq[2]
    assert by_seq[3]["reactions"] == {"👍": ["eren"]}
    assert by_seq[4]["deleted"] is True
    # The limit counts messages: the 3 newest before seq 9 skip the events between.
    page = client.get("/api/rooms/general/messages?before=9&limit=3&only=messages", headers=headers)
    assert seqs(page) == [4, 5, 8]
    forward = client.get("/api/rooms/general/messages?after=4&only=messages", headers=headers)
    assert seqs(forward) == [5, 8, 9]


def test_only_main_leaves_replies_out_unless_also_sent_to_the_room(client, db, user, headers):
    """The room page pages back through the main flow: a busy thread does not
    push the room's own messages off a page."""
    seed(db, user, 2)  # seqs 1-2
    room = room_row(db)
    for text, also in (("r1", False), ("r2", True), ("r3", False)):  # seqs 3-5
        actions.send_message(db, room, user, text, None, reply=ReplyTo(1, also))
    seed(db, user, 1)  # seq 6
    main = client.get("/api/rooms/general/messages?before=7&only=main", headers=headers)
    assert seqs(main) == [1, 2, 4, 6]
    assert main.json["messages"][0]["replies"]["count"] == 3
    page = client.get("/api/rooms/general/messages?before=7&limit=2&only=main", headers=headers)
    assert seqs(page) == [4, 6]
    forward = client.get("/api/rooms/general/messages?after=1&only=main", headers=headers)
    assert seqs(forward) == [2, 4, 6]
    every = client.get("/api/rooms/general/messages?before=7&only=messages", headers=headers)
    assert seqs(every) == [1, 2, 3, 4, 5, 6]
    bad = client.get("/api/rooms/general/messages?only=replies", headers=headers)
    assert bad.status_code == 400


def test_a_thread_pages_back_from_its_newest_replies_and_forward_from_after(
    client, db, user, headers
):
    """The thread panel opens on the newest replies and pages back; a script
    pages forward with `after`. The root comes with every page, uncounted."""
    seed(db, user, 1)  # the root, seq 1
    room = room_row(db)
    replies = [
        actions.send_message(db, room, user, f"r{i}", None, reply=ReplyTo(1)).seq for i in range(7)
    ]  # seqs 2-8
    newest = client.get("/api/rooms/general/threads/1?limit=3", headers=headers).json
    assert newest["root"]["seq"] == 1
    assert [r["seq"] for r in newest["replies"]] == replies[-3:] and newest["more"]
    older = client.get("/api/rooms/general/threads/1?limit=3&before=6", headers=headers).json
    assert [r["seq"] for r in older["replies"]] == [3, 4, 5] and older["more"]
    oldest = client.get("/api/rooms/general/threads/1?limit=3&before=3", headers=headers).json
    assert [r["seq"] for r in oldest["replies"]] == [2] and not oldest["more"]
    forward = client.get("/api/rooms/general/threads/4?limit=3&after=5", headers=headers).json
    assert forward["thread"] == 1 and [r["seq"] for r in forward["replies"]] == [6, 7, 8]
    assert not forward["more"]
    one = client.get("/api/rooms/general/threads/1?limit=1&after=0", headers=headers).json
    assert [r["seq"] for r in one["replies"]] == [2] and one["more"]
    for limit in ("0", "201", "x"):
        answer = client.get(f"/api/rooms/general/threads/1?limit={limit}", headers=headers)
        assert answer.status_code == 400


# Each example: a room built by a script of sends and edits (an edit's event
# takes the next seq, between messages), read back page by page.
_ROOM_SCRIPTS = st.lists(st.sampled_from(["send", "send", "send", "edit"]), max_size=130)


@settings(
    derandomize=True,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    script=_ROOM_SCRIPTS,
    limit=st.integers(1, 60),
    only_messages=st.booleans(),
    edits=st.randoms(use_true_random=False),
)
def test_paging_back_with_before_returns_every_seq_once(
    client, db, user, headers, script, limit, only_messages, edits
):
    """Whatever the room's size and its mix of messages and events, paging back
    from the newest with `before` = the oldest seq of the last page returns every
    seq (every message's, with only=messages) exactly once, and then an empty page."""
    name = f"p{db.execute('SELECT count(*) AS n FROM rooms').fetchone()['n']}"
    room = actions.create_room(db, name, user.id)
    messages: list[int] = []
    for step in script:
        if step == "edit" and messages:
            actions.edit_message(db, room_row(db, name), user, edits.choice(messages), "edited")
        else:
            messages.append(actions.send_message(db, room_row(db, name), user, "m", None).seq)
    last_seq = room_row(db, name).last_seq
    expected = messages if only_messages else list(range(1, last_seq + 1))
    query = f"limit={limit}" + ("&only=messages" if only_messages else "")

    seen: list[int] = []
    before = ""
    for _ in range(last_seq + 2):  # a page a request: never more requests than seqs
        url = f"/api/rooms/{room.name}/messages?{query}&before={before}"
        page = seqs(client.get(url, headers=headers))
        assert len(page) <= limit and page == sorted(page)
        if not page:
            break
        seen = page + seen
        before = page[0]
    assert seen == expected  # in order, each once, none missing


def test_messages_carry_their_client_id(client, db, user, headers):
    assert send(client, headers, "hi", client_id="c-17").status_code == 201
    messages = client.get("/api/rooms/general/messages", headers=headers).json["messages"]
    assert [(m["seq"], m["content"], m["client_id"]) for m in messages] == [(1, "hi", "c-17")]


def test_unknown_room_is_404_json(client, db, headers):
    for method in ("GET", "POST"):
        response = client.open(
            "/api/rooms/nope/messages", method=method, json={"content": "hi"}, headers=headers
        )
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
        assert response.json["error"]["message"]


# --- sending ----------------------------------------------------------------


def test_send_with_token(client, db, user, headers):
    response = send(client, headers, "hello from a script", client_id="c-1")

    assert response.status_code == 201
    assert response.json == {"room": "general", "seq": 1, "client_id": "c-1", "duplicate": False}
    row = db.execute("SELECT seq, user_id, content, client_id FROM messages").fetchone()
    assert row == {
        "seq": 1,
        "user_id": user.id,
        "content": "hello from a script",
        "client_id": "c-1",
    }
    assert room_row(db).last_seq == 1


def test_send_without_client_id(client, db, headers):
    first, second = send(client, headers, "a"), send(client, headers, "a")
    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json["seq"], second.json["seq"]) == (1, 2)
    assert first.json["client_id"] is None
    assert message_count(db) == 2


def test_same_client_id_is_one_message(client, db, headers):
    first = send(client, headers, "once", client_id="c-17")
    again = send(client, headers, "once", client_id="c-17")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json == {
        "room": "general",
        "seq": first.json["seq"],
        "client_id": "c-17",
        "duplicate": True,
    }
    assert message_count(db) == 1
    assert room_row(db).last_seq == 1
    # The repeat did not use up a seq: the next send is gapless.
    assert send(client, headers, "next", client_id="c-18").json["seq"] == 2


def test_same_client_id_from_another_user_or_room_is_new(client, db, user, headers):
    other = {"Authorization": f"Bearer {make_token(db, make_user(db, 'levi'))}"}
    actions.create_room(db, "lobby", user.id)

    assert send(client, headers, "a", client_id="c-1").status_code == 201
    assert send(client, other, "b", client_id="c-1").status_code == 201
    lobby = send(client, headers, "c", client_id="c-1", room="lobby")
    assert lobby.status_code == 201 and lobby.json["seq"] == 1
    assert message_count(db) == 3


def test_session_send_needs_the_csrf_header(client, auth, db, user):
    auth.login("eren", "correct horse")

    refused = client.post("/api/rooms/general/messages", json={"content": "hi"})
    assert refused.status_code == 400
    assert refused.json["error"]["code"] == "bad_request"
    assert message_count(db) == 0

    forged = client.post(
        "/api/rooms/general/messages", json={"content": "hi"}, headers={"X-CSRFToken": "forged"}
    )
    assert forged.status_code == 400
    assert message_count(db) == 0

    token = csrf_token(client.get("/rooms").text)
    sent = client.post(
        "/api/rooms/general/messages", json={"content": "hi"}, headers={"X-CSRFToken": token}
    )
    assert sent.status_code == 201
    assert sent.json["seq"] == 1
    assert message_count(db) == 1


def test_session_can_read_without_csrf(client, auth, db, user):
    auth.login("eren", "correct horse")
    assert client.get("/api/rooms/general/messages").status_code == 200


def test_content_at_the_limit_is_accepted(app, client, db, headers):
    limit = app.config["MAX_MESSAGE_CHARS"]
    response = send(client, headers, "é" * limit)
    assert response.status_code == 201
    assert len(db.execute("SELECT content FROM messages").fetchone()["content"]) == limit


@pytest.mark.parametrize(
    "body, code",
    [
        ({"content": "x" * 4001}, "too_large"),
        ({"content": "x" * 4001, "client_id": "c-1"}, "too_large"),
        ({"content": ""}, "bad_frame"),
        ({"content": "   \n"}, "bad_frame"),
        ({}, "bad_frame"),
        ({"content": None}, "bad_frame"),
        ({"content": 42}, "bad_frame"),
        ({"content": ["hi"]}, "bad_frame"),
        ({"content": "nul\x00"}, "bad_frame"),
        ({"content": "lone \ud800 surrogate"}, "bad_frame"),  # valid JSON, not UTF-8 text
        ({"content": "hi", "client_id": "c" * 65}, "bad_frame"),
        ({"content": "hi", "client_id": ""}, "bad_frame"),
        ({"content": "hi", "client_id": 17}, "bad_frame"),
    ],
)
def test_send_refuses_bad_content(app, client, db, headers, body, code):
    assert app.config["MAX_MESSAGE_CHARS"] == 4000
    response = client.post("/api/rooms/general/messages", json=body, headers=headers)

    assert response.status_code == 400
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]
    assert message_count(db) == 0
    assert room_row(db).last_seq == 0


@pytest.mark.parametrize(
    "data, content_type",
    [
        ("hello", "text/plain"),
        ("content=hello", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        ('["hello"]', "application/json"),
        ('"hello"', "application/json"),
        ("", "application/json"),
    ],
)
def test_send_non_json_object_body_is_400(client, db, headers, data, content_type):
    response = client.post(
        "/api/rooms/general/messages", data=data, content_type=content_type, headers=headers
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert message_count(db) == 0


# --- slash commands ---------------------------------------------------------


def test_me_is_stored_as_an_action_and_listed_with_its_kind(client, db, headers):
    assert send(client, headers, "hi").status_code == 201
    response = send(client, headers, "/me waves", client_id="m-1")
    assert response.status_code == 201 and response.json["seq"] == 2
    messages = client.get("/api/rooms/general/messages", headers=headers).json["messages"]
    assert "kind" not in messages[0]  # ordinary messages look as they always did
    assert messages[1]["kind"] == "action" and messages[1]["content"] == "waves"


def test_help_is_answered_in_the_response_only(client, db, headers):
    response = send(client, headers, "/help", client_id="h-1")
    assert response.status_code == 200
    assert response.json["notice"]["code"] == "help"
    assert "/stock=SYMBOL" in response.json["notice"]["content"]
    assert response.json["client_id"] == "h-1"
    assert message_count(db) == 0


def test_a_stock_request_is_accepted_for_the_bot_and_not_stored(client, db, user, headers):
    response = send(client, headers, "/stock=aapl", client_id="s-1")
    assert response.status_code == 202
    assert response.json == {
        "room": "general",
        "client_id": "s-1",
        "notice": {
            "code": "queued",
            "content": "Asked stockbot about AAPL.US; the answer will appear in this room.",
        },
        "duplicate": False,
    }
    again = send(client, headers, "/stock=aapl", client_id="s-1")
    assert again.status_code == 202 and again.json["duplicate"] is True
    assert message_count(db) == 0
    jobs = db.execute("SELECT argument, requested_by FROM bot_jobs").fetchall()
    assert jobs == [{"argument": "AAPL.US", "requested_by": user.id}]


@pytest.mark.parametrize(
    ("content", "code"),
    [("/dance", "unknown_command"), ("/stock", "bad_command"), ("/me ", "bad_command")],
)
def test_refused_commands_are_400_and_change_nothing(client, db, headers, content, code):
    response = send(client, headers, content, client_id="x-1")
    assert response.status_code == 400
    assert response.json["error"]["code"] == code
    assert message_count(db) == 0
    assert room_row(db).last_seq == 0
    assert db.execute("SELECT count(*) AS n FROM bot_jobs").fetchone()["n"] == 0


def test_too_many_waiting_requests_are_429(client, db, headers):
    for i in range(actions.MAX_PENDING_JOBS):
        assert send(client, headers, "/stock=AAPL", client_id=f"s-{i}").status_code == 202
    response = send(client, headers, "/stock=AAPL", client_id="s-x")
    assert response.status_code == 429
    assert response.json["error"]["code"] == "too_many_requests"


def test_a_double_slash_sends_a_leading_slash(client, db, headers):
    assert send(client, headers, "//stock=AAPL is a command").status_code == 201
    assert db.execute("SELECT content FROM messages").fetchone()["content"] == (
        "/stock=AAPL is a command"
    )


def test_unread_counts_others_messages_not_own_ones_nor_events(client, db, user, headers):
    room = room_row(db)
    actions.join_room(db, room.id, user.id)
    mikasa = make_user(db, "mikasa", "correct horse")
    seed(db, mikasa, 2)
    seed(db, user, 3)  # one's own messages are not news
    # An edit of message 1 takes seq 6 (events are rows of their own kind).
    db.execute("UPDATE rooms SET last_seq = 6 WHERE id = %s", (room.id,))
    db.execute(
        "INSERT INTO messages (room_id, seq, user_id, content, kind, target_seq)"
        " VALUES (%s, 6, %s, 'edited', 'edit', 1)",
        (room.id, mikasa.id),
    )

    assert room_counts(client, headers) == (2, 0)


def test_mentions_count_members_mentioned_after_their_read_seq(client, db, user, headers):
    room = room_row(db)
    actions.join_room(db, room.id, user.id)
    mikasa = make_user(db, "mikasa", "correct horse")
    levi = make_user(db, "levi", "correct horse")  # never joined general
    actions.join_room(db, room.id, mikasa.id)
    for text in ["hi @EREN", "@eren @eren twice is one", "`@eren` in code is not", "@levi x"]:
        actions.send_message(db, room, mikasa, text, None)
    actions.send_message(db, room, user, "@eren talking to myself", None)

    assert room_counts(client, headers) == (4, 2)
    rows = db.execute("SELECT user_id, seq FROM mentions ORDER BY seq").fetchall()
    assert rows == [{"user_id": user.id, "seq": 1}, {"user_id": user.id, "seq": 2}]
    assert levi.id not in {r["user_id"] for r in rows}  # not a member: nothing recorded

    actions.mark_read(db, room.id, user.id, 1)
    assert room_counts(client, headers) == (3, 1)
    db.execute("UPDATE messages SET deleted_at = now() WHERE seq = 2")
    assert room_counts(client, headers) == (2, 0)  # a deleted message is neither
