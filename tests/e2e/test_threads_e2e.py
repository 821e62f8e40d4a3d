"""Threads over the real server (issue 18): gunicorn with two workers, real
WebSocket clients, the JSON API. Resume with `after` in the middle of a busy
thread, following and unread counts on two devices of one person, and a
private room's threads closed to non-members on every route."""

import threading

import pytest

from ..conftest import make_token, make_user
from ..servers import Client, http
from .clients import Tab, open_room

ROOT_TEXT = "who takes the release?"


@pytest.fixture
def people(db) -> dict[str, dict]:
    """Three accounts: {name: {"id", "username", "token"}}."""
    people = {}
    for name in ("eren", "mikasa", "levi"):
        user = make_user(db, name)
        people[name] = {"id": user.id, "username": name, "token": make_token(db, user)}
    return people


def api(server, person, method, path, **body):
    return http().request(
        method,
        f"{server.url}/api{path}",
        headers={"Authorization": f"Bearer {person['token']}"},
        json=body or None,
    )


def post(server, person, room, content, client_id, **fields):
    answer = api(
        server,
        person,
        "POST",
        f"/rooms/{room}/messages",
        content=content,
        client_id=client_id,
        **fields,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["seq"]


def test_resume_in_the_middle_of_a_busy_thread_has_no_gap_and_no_duplicate(server, people):
    eren, mikasa, levi = people["eren"], people["mikasa"], people["levi"]
    root = post(server, eren, "general", ROOT_TEXT, "root")
    early = [post(server, mikasa, "general", f"early {i}", f"e{i}", thread=root) for i in range(20)]
    # Two people keep replying (one of them to replies: same thread) while
    # others write in the main flow and clients resume at points inside it.
    sent: dict[str, list[int]] = {}

    def replies(person, prefix, target):
        sent[prefix] = [
            post(server, person, "general", f"{prefix}{i}", f"{prefix}{i}", thread=target)
            for i in range(40)
        ]

    def main_flow():
        sent["main"] = [post(server, eren, "general", f"m{i}", f"m{i}") for i in range(20)]

    writers = [
        threading.Thread(target=replies, args=(mikasa, "a", root)),
        threading.Thread(target=replies, args=(levi, "b", early[5])),
        threading.Thread(target=main_flow),
    ]
    for writer in writers:
        writer.start()
    resumers = [
        (after, Client.open(server, "general", eren["token"], after=after))
        for after in (early[3], early[10], early[-1])
    ]
    for writer in writers:
        writer.join(120)
    last = max(max(seqs) for seqs in sent.values())
    thread = set(early) | set(sent["a"]) | set(sent["b"])
    for after, client in resumers:
        frames = client.chats_until_seq(last)
        seqs = [f["seq"] for f in frames]
        assert seqs == list(range(after + 1, last + 1)), f"after={after}"
        replies_seen = [f for f in frames if f["seq"] in thread]
        assert all(f["thread"] == root for f in replies_seen)
        assert all("thread" not in f for f in frames if f["seq"] not in thread)
        client.close()
    # The thread read back through the API: every reply once, in order.
    answer = api(server, eren, "GET", f"/rooms/general/threads/{early[7]}?limit=200").json()
    assert answer["thread"] == root and answer["root"]["content"] == ROOT_TEXT
    assert [r["seq"] for r in answer["replies"]] == sorted(thread)
    assert answer["root"]["replies"]["count"] == len(thread)


def test_following_and_unread_counts_reach_both_devices(server, people):
    eren, mikasa = people["eren"], people["mikasa"]
    root = post(server, eren, "general", ROOT_TEXT, "root")
    phone, laptop = Tab.open_mux(server, eren["token"]), Tab.open_mux(server, eren["token"])
    for device in (phone, laptop):
        assert device.aside_until("threads")["unread"] == 0
    reply = post(server, mikasa, "general", "me, @eren", "r1", thread=root)
    for device in (phone, laptop):
        update = device.aside_until("thread_updated", last_seq=reply)
        assert (update["thread"], update["unread"], update["mentions"]) == (root, 1, 1)
    # Read on the phone: the laptop hears it too.
    phone.send({"type": "read", "room": "general", "thread": root, "seq": reply})
    read = laptop.aside_until("thread_updated", last_read_seq=reply)
    assert (read["unread"], read["mentions"]) == (0, 0)
    # The room's own badge held the thread's mention: it clears on the laptop too.
    room_counts = laptop.aside_until("read", room="general")
    assert room_counts["mentions"] == 0
    # Unfollowed on the laptop: the phone hears it, and the next reply tells no one.
    laptop.send({"type": "follow", "room": "general", "thread": root, "following": False})
    assert phone.aside_until("thread_updated", following=False)["thread"] == root
    listed = api(server, eren, "GET", "/threads").json()
    assert listed["threads"] == []
    # A new socket starts from the server's state: nothing unread.
    post(server, mikasa, "general", "again", "r2", thread=root)
    fresh = Tab.open_mux(server, eren["token"])
    assert fresh.aside_until("threads") == {
        "type": "threads",
        "unread": 0,
        "mentions": 0,
        "threads": [],
    }
    for tab in (phone, laptop, fresh):
        tab.close()


def test_typing_a_reply_tells_the_room_which_thread(server, people):
    eren, mikasa = people["eren"], people["mikasa"]
    root = post(server, eren, "general", ROOT_TEXT, "root")
    watcher = open_room(server, "general", eren["token"], "eren")
    typist = open_room(server, "general", mikasa["token"], "mikasa")
    typist.send({"type": "typing", "room": "general", "thread": root})
    _, typing = watcher.until("typing")
    assert typing == {"type": "typing", "room": "general", "username": "mikasa", "thread": root}
    for tab in (watcher, typist):
        tab.close()


def test_a_private_rooms_thread_is_closed_to_non_members_on_every_route(server, people):
    eren, mikasa, levi = people["eren"], people["mikasa"], people["levi"]
    assert api(server, eren, "POST", "/rooms", name="secret", private=True).status_code == 201
    assert api(server, eren, "POST", "/rooms/secret/members", username="mikasa").status_code == 201
    root = post(server, eren, "secret", "the plan", "root")
    post(server, mikasa, "secret", "reply", "r1", thread=root)
    routes = [
        ("GET", f"/rooms/secret/threads/{root}", {}),
        ("PUT", f"/rooms/secret/threads/{root}/follow", {}),
        ("DELETE", f"/rooms/secret/threads/{root}/follow", {}),
        ("POST", f"/rooms/secret/threads/{root}/read", {"seq": root}),
        ("POST", "/rooms/secret/messages", {"content": "x", "thread": root}),
    ]
    for method, path, body in routes:
        answer = api(server, levi, method, path, **body)
        assert answer.status_code == 404, (method, path, answer.text)
        # word for word what a room that does not exist answers
        missing = api(server, levi, method, path.replace("secret", "nowhere"), **body)
        assert answer.json() == missing.json()
    page = http().get(
        f"{server.url}/rooms/secret/threads/{root}",
        headers={"Authorization": f"Bearer {levi['token']}"},
    )
    assert page.status_code == 404
    assert api(server, levi, "GET", "/threads").json()["threads"] == []
    tab = Tab.open_mux(server, levi["token"])
    for frame in (
        {"type": "follow", "room": "secret", "thread": root, "following": True},
        {"type": "read", "room": "secret", "thread": root, "seq": root},
        {"type": "chat", "room": "secret", "content": "x", "thread": root, "client_id": "c"},
        {"type": "join", "room": "secret", "after": 0},
    ):
        tab.send(frame)
        _, error = tab.expect(type="error")
        assert error["code"] == "not_found", frame
    tab.close()
    # A member reads it.
    answer = api(server, mikasa, "GET", f"/rooms/secret/threads/{root}")
    assert answer.status_code == 200 and len(answer.json()["replies"]) == 1
