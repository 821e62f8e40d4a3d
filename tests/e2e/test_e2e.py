"""End to end: the real gunicorn (gevent workers) on the real PostgreSQL, real WebSocket clients."""

import re
import threading

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ..conftest import make_token, make_user
from ..servers import Client, Gunicorn, http, terminate_listeners
from .clients import clients_on_two_workers

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(start_server):
    """Two workers; the per-connection rate limit is off so tests can send quickly
    (tests/e2e/test_realtime_e2e.py checks the limit itself)."""
    return start_server(RATE_LIMIT_PER_SEC="0")


@pytest.fixture
def users(db):
    """Two accounts with API tokens: {name: token}."""
    return {name: make_token(db, make_user(db, name)) for name in ("eren", "mikasa")}


def test_message_sent_on_one_worker_arrives_on_the_other(server, users):
    first, second = clients_on_two_workers(server, users["eren"])
    assert server.worker_of(first.ws) != server.worker_of(second.ws)

    first.send({"type": "chat", "content": "from worker one", "client_id": "a1"})
    frames_first, ack = first.until("ack")
    assert ack["client_id"] == "a1"
    chat = second.chats_until_seq(ack["seq"])[-1]
    assert chat["content"] == "from worker one"
    assert chat["username"] == "eren"
    assert chat["room"] == "general"

    second.send({"type": "chat", "content": "and back", "client_id": "b1"})
    _, ack2 = second.until("ack")
    assert first.chats_until_seq(ack2["seq"])[-1]["content"] == "and back"


def test_plain_text_line_is_a_chat_message(server, users):
    """What websocat sends: a line of text, no JSON."""
    client = Client.open(server, "general", users["eren"])
    client.until("ready")
    client.send("hello from a terminal\n")
    before, ack = client.until("ack")
    chats = [f for f in before if f["type"] == "chat"] or client.chats_until_seq(ack["seq"])
    chat = chats[-1]
    assert chat["content"] == "hello from a terminal"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", chat["ts"])


def send_many(server: Gunicorn, token: str, count: int, prefix: str) -> list[int]:
    """Send `count` messages over one socket, each waiting for its ack; return the seqs."""
    sender = Client.open(server, "general", token)
    sender.until("ready")
    seqs = []
    for i in range(count):
        sender.send({"type": "chat", "content": f"{prefix}{i}", "client_id": f"{prefix}{i}"})
        _, ack = sender.until("ack")
        seqs.append(ack["seq"])
    sender.close()
    return seqs


def test_catch_up_while_others_send_has_no_gap_and_no_duplicate(server, users):
    before = send_many(server, users["mikasa"], 60, "old-")
    assert before == list(range(1, 61))

    # Two senders keep writing while clients join at different points with `after`.
    results: dict[str, list[int]] = {}
    senders = [
        threading.Thread(
            target=lambda p=p: results.__setitem__(p, send_many(server, users["mikasa"], 100, p))
        )
        for p in ("x-", "y-")
    ]
    for thread in senders:
        thread.start()
    joiners = []
    for after in (0, 10, 35, 59, 60):
        client = Client.open(server, "general", users["eren"], after=after)
        joiners.append((after, client))
    for thread in senders:
        thread.join(120)
    last = 60 + 200
    assert sorted(results["x-"] + results["y-"]) == list(range(61, last + 1))

    for after, client in joiners:
        seqs = [f["seq"] for f in client.chats_until_seq(last)]
        assert seqs == list(range(after + 1, last + 1)), f"after={after}"


def test_join_without_after_gets_the_last_50_then_ready(server, users):
    send_many(server, users["mikasa"], 70, "m")
    client = Client.open(server, "general", users["eren"])
    chats, ready = client.until("ready")
    assert [c["seq"] for c in chats] == list(range(21, 71))
    assert ready == {"type": "ready", "room": "general", "last_seq": 70}


def test_resending_a_client_id_is_acked_with_the_first_seq_and_stores_nothing(server, users, db):
    client = Client.open(server, "general", users["eren"])
    client.until("ready")
    frame = {"type": "chat", "room": "general", "content": "once", "client_id": "dup-1"}
    client.send(frame)
    _, first = client.until("ack")
    client.close()

    # The client lost its connection before seeing the ack and retries elsewhere.
    again = Client.open(server, "general", users["eren"], after=first["seq"])
    again.until("ready")
    again.send(frame)
    _, second = again.until("ack")
    assert second["seq"] == first["seq"]
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 1
    assert db.execute("SELECT last_seq FROM rooms WHERE name = 'general'").fetchone() == {
        "last_seq": 1
    }


def test_bad_frames_get_error_frames_and_the_socket_stays_open(server, users):
    client = Client.open(server, "general", users["eren"])
    client.until("ready")
    client.send({"type": "dance", "client_id": "c1"})
    _, error = client.until("error")
    assert error["code"] == "unknown_type" and error["client_id"] == "c1"
    client.send({"type": "chat", "content": "x" * 4001, "client_id": "c2"})
    _, error = client.until("error")
    assert error["code"] == "too_large"
    client.send({"type": "chat", "room": "no-such-room", "content": "hi", "client_id": "c3"})
    _, error = client.until("error")
    assert error["code"] == "not_found"
    client.send({"type": "chat", "content": "still here", "client_id": "c4"})
    _, ack = client.until("ack")
    assert ack["client_id"] == "c4"


def test_oversized_frame_closes_with_1009(server, users):
    client = Client.open(server, "general", users["eren"])
    client.until("ready")
    client.send("x" * (64 * 1024 + 1))
    with pytest.raises(ConnectionClosed) as closed:
        client.until("ack")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@pytest.mark.parametrize(
    ("room", "headers", "status"),
    [
        ("general", {"Origin": "https://evil.example"}, 403),
        ("general", {"Origin": "null"}, 403),
        ("no-such-room", {}, 404),
    ],
)
def test_refused_before_the_upgrade(server, users, room, headers, status):
    with pytest.raises(InvalidStatus) as refused:
        Client.open(server, room, users["eren"], **headers)
    assert refused.value.response.status_code == status


def test_unauthenticated_upgrade_is_refused(server):
    with pytest.raises(InvalidStatus) as refused:
        Client.open(server, "general", "not-a-token")
    assert refused.value.response.status_code == 401


def test_same_origin_upgrade_is_accepted(server, users):
    client = Client.open(server, "general", users["eren"], Origin=server.url)
    client.until("ready")


def register_and_login(base: str):
    session = http()
    page = session.get(base + "/register").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = session.post(
        base + "/register",
        data={
            "csrf_token": token,
            "username": "armin",
            "password": "sea of sand",
            "confirm": "sea of sand",
        },
        allow_redirects=False,
    )
    assert response.status_code == 302
    return session


def test_messages_and_sessions_survive_a_full_restart(start_server, database_url, users, db):
    # No SECRET_KEY: the key generated into instance/secret_key must be shared
    # by both workers and survive the restart.
    server = start_server(SECRET_KEY="", RATE_LIMIT_PER_SEC="0")
    session = register_and_login(server.url)
    cookie = f"session={session.cookies['session']}"
    # Both workers accept the session cookie: they read the same generated key.
    for client in clients_on_two_workers(server, None, Cookie=cookie):
        client.close()
    send_many(server, users["eren"], 5, "before-restart-")
    assert server.stop() == 0

    # A second server on the same database: what a restart of `make run` is.
    server = start_server(SECRET_KEY="", RATE_LIMIT_PER_SEC="0")
    rooms = session.get(server.url + "/rooms", allow_redirects=False)
    assert rooms.status_code == 200, "the session cookie no longer logs in"
    history = session.get(server.url + "/rooms/general/history").text
    for i in range(5):
        assert f"before-restart-{i}" in history
    client = Client.open(server, "general", users["mikasa"], after=0)
    frames, ready = client.until("ready")  # catch-up frames come before any presence frame
    # The account registered above joined #general first (a member event, seq 1).
    assert [(f["type"], f.get("event")) for f in frames[:1]] == [("member", "join")]
    assert [c["content"] for c in frames[1:]] == [f"before-restart-{i}" for i in range(5)]
    assert ready["last_seq"] == 6


def test_notification_lost_while_not_listening_is_read_from_the_table(server, users, db):
    """Rows committed without a NOTIFY (a lost notification) arrive before the next one."""
    client = Client.open(server, "general", users["eren"])
    client.until("ready")
    user = db.execute("SELECT id FROM users WHERE username = 'mikasa'").fetchone()
    with db.transaction():
        db.execute("UPDATE rooms SET last_seq = last_seq + 2 WHERE name = 'general'")
        for seq in (1, 2):
            db.execute(
                "INSERT INTO messages (room_id, seq, user_id, content) "
                "SELECT id, %s, %s, %s FROM rooms WHERE name = 'general'",
                (seq, user["id"], f"silent {seq}"),
            )
    client.send({"type": "chat", "content": "loud", "client_id": "l"})
    chats = client.chats_until_seq(3)
    assert [(c["seq"], c["content"]) for c in chats] == [
        (1, "silent 1"),
        (2, "silent 2"),
        (3, "loud"),
    ]


def test_listen_connection_killed_then_backfilled(server, users, database_url):
    """pg_terminate_backend on every worker's LISTEN connection: nothing is lost or doubled."""
    watchers = clients_on_two_workers(server, users["eren"])
    terminate_listeners(database_url, expect=2)
    seqs = send_many(server, users["mikasa"], 20, "during-")
    for watcher in watchers:
        assert [c["seq"] for c in watcher.chats_until_seq(seqs[-1])] == seqs


def scrape(server: Gunicorn) -> dict[str, float]:
    """/metrics as one worker answers it: every worker's values added up."""
    from prometheus_client.parser import text_string_to_metric_families

    response = http().get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if not sample.labels
    }


def metric_becomes(server: Gunicorn, name: str, value: float) -> dict[str, float]:
    """Scrape until `name` reads `value` (gauges follow sockets closing, workers dying)."""
    import time

    deadline = time.monotonic() + 30
    while (values := scrape(server))[name] != value:
        assert time.monotonic() < deadline, f"{name} stayed {values[name]}, not {value}"
        # Polling: a socket's close or the master's child_exit hook has no event to await.
        time.sleep(0.1)
    return values


def test_metrics_add_up_every_worker(server, users):
    import os
    import signal

    clients = clients_on_two_workers(server, users["eren"])
    api = http()
    api.headers["Authorization"] = f"Bearer {users['mikasa']}"
    for i in range(5):
        response = api.post(
            f"{server.url}/api/rooms/general/messages", json={"content": f"m{i}"}, timeout=10
        )
        assert response.status_code == 201
    for client in clients:
        client.chats_until_seq(5)
    # Extra sockets opened to find both workers were closed: they stop counting.
    values = metric_becomes(server, "chat_connections_open", 2)
    assert values["chat_messages_sent_total"] == 5
    assert values["chat_deliveries_total"] >= 10  # 5 messages to 2 sockets
    # Both workers follow the room, so each timed the 5 messages' arrival.
    assert values["chat_notify_delivery_seconds_count"] == 10

    # A killed worker's sockets stop counting (gunicorn's child_exit hook); what it
    # counted before stays in the totals.
    os.kill(server.worker_of(clients[0].ws), signal.SIGKILL)
    values = metric_becomes(server, "chat_connections_open", 1)
    assert values["chat_messages_sent_total"] == 5
