"""Incoming webhooks (docs/webhooks.md): made by a room's members, posting as
their own bot through the same send path and limits as people, revoked by
their maker or the room's creator; every bad body a clear 400 that stores
nothing."""

import re

import pytest

from ..conftest import csrf_token, db_state, make_token, make_user, room_row

SQL_MESSAGES = """
    SELECT m.seq, m.content, m.kind, u.username, u.display_name, u.is_bot
    FROM messages m JOIN users u ON u.id = m.user_id JOIN rooms r ON r.id = m.room_id
    WHERE r.name = %s AND m.kind = 'chat' ORDER BY m.seq
"""


def messages(db, room: str = "ops") -> list[dict]:
    return db.execute(SQL_MESSAGES, (room,)).fetchall()


@pytest.fixture
def people(db):
    return {name: make_user(db, name) for name in ("carol", "dave", "erin")}


@pytest.fixture
def bearer(db, people):
    return {
        name: {"Authorization": f"Bearer {make_token(db, user)}"} for name, user in people.items()
    }


@pytest.fixture
def ops(client, bearer):
    """#ops, made by carol, with dave as a member (erin is not one)."""
    assert (
        client.post("/api/rooms", json={"name": "ops"}, headers=bearer["carol"]).status_code == 201
    )
    added = client.post(
        "/api/rooms/ops/members", json={"username": "dave"}, headers=bearer["carol"]
    )
    assert added.status_code == 201
    return "ops"


def make_hook(client, headers, name="Alertmanager", room="ops") -> dict:
    made = client.post(f"/api/rooms/{room}/webhooks", json={"name": name}, headers=headers)
    assert made.status_code == 201, made.json
    assert made.headers["Cache-Control"] == "no-store"
    return made.json


def path_of(hook: dict) -> str:
    return "/api/hooks/" + hook["url"].rsplit("/", 1)[1]


def test_a_member_makes_a_webhook_and_a_tool_posts_through_it(client, db, bearer, ops):
    hook = make_hook(client, bearer["dave"])
    assert hook["url"].startswith("http://localhost/api/hooks/hook_")
    assert hook["created_by"] == "dave" and hook["last_used_at"] is None
    assert hook["username"].startswith("alertmanager-")

    posted = client.post(
        path_of(hook), json={"text": "CPU *high* on <https://grafana.example/d/1|db-1>"}
    )
    assert posted.status_code == 200
    assert posted.json == {
        "ok": True,
        "room": "ops",
        "seq": posted.json["seq"],
        "client_id": None,
        "duplicate": False,
    }
    (message,) = messages(db)
    assert message["content"] == "CPU **high** on [db-1](<https://grafana.example/d/1>)"
    assert (message["username"], message["display_name"], message["is_bot"]) == (
        hook["username"],
        "Alertmanager",
        True,
    )
    # The room's history says who added the bot; the list says when it last posted.
    listed = client.get("/api/rooms/ops/webhooks", headers=bearer["carol"]).json["webhooks"]
    assert [w["id"] for w in listed] == [hook["id"]] and listed[0]["last_used_at"] is not None
    added = db.execute(
        "SELECT content FROM messages WHERE kind = 'add' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    assert added["content"] == hook["username"]


def test_plain_text_forms_and_json_sent_as_a_form_all_post(client, db, bearer, ops):
    path = path_of(make_hook(client, bearer["carol"]))
    sent = [
        client.post(path, data="Deploy finished", content_type="text/plain"),
        client.post(path, data="Deploy finished", content_type=None),
        # curl -d '{"text": ...}' says application/x-www-form-urlencoded.
        client.post(
            path,
            data='{"text": "as curl sends it"}',
            content_type="application/x-www-form-urlencoded",
        ),
        client.post(path, data={"payload": '{"text": "the payload field"}'}),
        # curl -d 'Deploy done': text, sent with a form's type.
        client.post(
            path, data="as curl -d sends text", content_type="application/x-www-form-urlencoded"
        ),
    ]
    assert [r.status_code for r in sent] == [200] * 5
    assert [m["content"] for m in messages(db)] == [
        "Deploy finished",
        "Deploy finished",
        "as curl sends it",
        "the payload field",
        "as curl -d sends text",
    ]


def test_alertmanager_and_grafana_bodies_post_as_they_send_them(client, db, bearer, ops):
    """The bodies two common alerting tools send to a Slack webhook, as they send them."""
    path = path_of(make_hook(client, bearer["carol"]))
    alertmanager = {
        "channel": "#ops",
        "username": "Alertmanager",
        "icon_emoji": ":fire:",
        "attachments": [
            {
                "title": "[FIRING:1] HighCPU (db-1 critical)",
                "title_link": "https://alertmanager.example/#/alerts?receiver=slack",
                "pretext": "",
                "text": "*Alert:* CPU over 90% - `critical`\n*Description:* db-1 is busy",
                "fallback": "[FIRING:1] HighCPU | https://alertmanager.example",
                "color": "danger",
                "footer": "",
                "mrkdwn_in": ["fallback", "pretext", "text"],
            }
        ],
    }
    grafana = {
        "text": "[Alerting] Disk full",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Disk full"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "<https://g.example/d/1|Dashboard>"},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Grafana v11"}]},
        ],
        "username": "Grafana",
    }
    assert client.post(path, json=alertmanager).status_code == 200
    assert client.post(path, json=grafana).status_code == 200
    first, second = (m["content"] for m in messages(db))
    assert first == (
        "**[\\[FIRING:1\\] HighCPU (db-1 critical)](<https://alertmanager.example/#/alerts?receiver=slack>)**\n"
        "**Alert:** CPU over 90% - `critical`\n**Description:** db-1 is busy"
    )
    assert second == "**Disk full**\n\n[Dashboard](<https://g.example/d/1>)\n\nGrafana v11"
    # `username` is the bot's display name from now on.
    assert messages(db)[-1]["display_name"] == "Grafana"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        ({"text": ""}, None, 400, "no text"),
        ({"text": "   "}, None, 400, "no text"),
        ({}, None, 400, "no text"),
        ({"text": ["a"]}, None, 400, "text must be a string"),
        ({"text": 5}, None, 400, "text must be a string"),
        ({"text": "x", "username": "carol"}, None, 400, "carol's name"),
        ({"text": "x", "username": "DAVE"}, None, 400, "dave's name"),
        ({"text": "x", "attachments": {"title": "t"}}, None, 400, "attachments must be a list"),
        ({"text": "x", "attachments": ["t"]}, None, 400, "attachments[0] must be an object"),
        (
            {"blocks": [{"type": "section", "text": "raw"}]},
            None,
            400,
            "blocks[0].text must be an object",
        ),
        ({"text": "x", "username": "a\nb"}, None, 400, "username"),
        ({"text": "x", "client_id": ""}, None, 400, "client_id"),
        ('{"text": ', "application/json", 400, ""),
        ("{not json", "application/x-www-form-urlencoded", 400, "not valid JSON"),
        (
            "payload=%5B1%5D",
            "application/x-www-form-urlencoded",
            400,
            "payload field must be a JSON object",
        ),
        ("", "text/plain", 400, "no text"),
        (b"\xff\xfe", "text/plain", 400, "UTF-8"),
        ("<xml/>", "application/xml", 415, "text/plain"),
    ],
)
def test_a_bad_body_is_refused_with_its_reason_and_stores_nothing(
    client, db, bearer, ops, body, content_type, status, says
):
    path = path_of(make_hook(client, bearer["carol"]))
    before = db_state(db)
    if isinstance(body, dict):
        answer = client.post(path, json=body)
    else:
        answer = client.post(path, data=body, content_type=content_type)
    assert answer.status_code == status, answer.json
    assert says in answer.json["error"]["message"]
    assert answer.json["error"]["code"] == {400: "bad_request", 415: "unsupported"}[status]
    assert db_state(db) == before
    # A refused post is no use of the webhook.
    assert (
        db.execute("SELECT last_used_at FROM incoming_webhooks").fetchone()["last_used_at"] is None
    )


def test_text_over_the_limit_is_cut_not_refused(db, make_app, people):
    client = make_app(MAX_MESSAGE_CHARS=100).test_client()
    headers = {"Authorization": f"Bearer {make_token(db, people['carol'])}"}
    assert client.post("/api/rooms/general/join", headers=headers).status_code == 201
    path = path_of(make_hook(client, headers, room="general"))
    assert client.post(path, json={"text": "x" * 500}).status_code == 200
    (message,) = messages(db, "general")
    assert len(message["content"]) <= 100 and message["content"].endswith("too long)")
    # Cut inside a code fence: the fence is closed before the note.
    fenced = client.post(path_of_general(client, headers), json={"text": "```\n" + "y" * 500})
    assert fenced.status_code == 200
    cut = messages(db, "general")[-1]["content"]
    assert len(cut) <= 100 and cut.count("```") == 2 and cut.endswith("too long)")


def path_of_general(client, headers) -> str:
    """A new webhook of #general's path."""
    return path_of(make_hook(client, headers, "another", room="general"))


def test_a_bot_removed_from_the_room_takes_its_webhook_with_it(client, db, bearer):
    """Removing a webhook's bot (the room's creator may) deletes the webhook: its
    URL stops posting (into a private room: it would post as a non-member), and
    it is listed no more."""
    made = client.post(
        "/api/rooms", json={"name": "vault", "private": True}, headers=bearer["carol"]
    )
    assert made.status_code == 201 and made.json["room"]["private"] is True
    hook = make_hook(client, bearer["carol"], room="vault")
    removed = client.delete(f"/api/rooms/vault/members/{hook['username']}", headers=bearer["carol"])
    assert removed.status_code == 200
    assert client.get("/api/rooms/vault/webhooks", headers=bearer["carol"]).json["webhooks"] == []
    assert client.post(path_of(hook), json={"text": "still here?"}).status_code == 404
    assert messages(db, "vault") == []


def test_a_webhook_may_not_be_named_as_a_person(client, db, bearer, ops):
    for name in ("dave", "Erin"):
        refused = client.post(
            "/api/rooms/ops/webhooks", json={"name": name}, headers=bearer["carol"]
        )
        assert refused.status_code == 400 and "name" in refused.json["error"]["message"]
    assert client.get("/api/rooms/ops/webhooks", headers=bearer["carol"]).json["webhooks"] == []


def test_a_client_id_makes_a_resend_harmless(client, db, bearer, ops):
    path = path_of(make_hook(client, bearer["carol"]))
    first = client.post(path, json={"text": "once", "client_id": "alert-17"})
    again = client.post(path, json={"text": "once", "client_id": "alert-17"})
    assert (first.json["duplicate"], again.json["duplicate"]) == (False, True)
    assert again.json["seq"] == first.json["seq"] and len(messages(db)) == 1


def test_only_members_see_and_make_webhooks_and_only_maker_or_owner_revoke(client, db, bearer, ops):
    assert client.get("/api/rooms/ops/webhooks", headers=bearer["erin"]).status_code == 403
    refused = client.post("/api/rooms/ops/webhooks", json={"name": "x"}, headers=bearer["erin"])
    assert refused.status_code == 403
    carols = make_hook(client, bearer["carol"], "carol's")
    daves = make_hook(client, bearer["dave"], "dave's")
    # dave made neither the room nor carol's webhook.
    denied = client.delete(f"/api/rooms/ops/webhooks/{carols['id']}", headers=bearer["dave"])
    assert (
        denied.status_code == 403
        and client.post(path_of(carols), json={"text": "still"}).status_code == 200
    )
    # carol made the room: she may revoke dave's too.
    assert (
        client.delete(f"/api/rooms/ops/webhooks/{daves['id']}", headers=bearer["carol"]).status_code
        == 204
    )
    gone = client.post(path_of(daves), json={"text": "after"})
    assert gone.status_code == 404 and "revoked" in gone.json["error"]["message"]
    assert (
        client.delete(f"/api/rooms/ops/webhooks/{daves['id']}", headers=bearer["carol"]).status_code
        == 404
    )
    assert [
        w["name"]
        for w in client.get("/api/rooms/ops/webhooks", headers=bearer["dave"]).json["webhooks"]
    ] == ["carol's"]
    # Its bot left the room; its account is disabled; its message stays.
    members = client.get("/api/rooms/ops/members", headers=bearer["dave"]).json["members"]
    assert daves["username"] not in [m["username"] for m in members]
    assert carols["username"] in [m["username"] for m in members]
    assert [m["content"] for m in messages(db)] == ["still"]


def test_an_unknown_or_malformed_secret_is_404_without_a_query(client, db):
    for path in (
        "/api/hooks/nothing",
        "/api/hooks/hook_" + "A" * 43,
        "/api/hooks/hook_" + "A" * 400,
    ):
        answer = client.post(path, json={"text": "hello"})
        assert answer.status_code == 404 and answer.json["error"]["code"] == "not_found"


def test_direct_and_archived_rooms_take_no_webhooks(client, db, bearer, ops):
    hook = make_hook(client, bearer["carol"])
    direct = client.post("/api/direct", json={"username": "dave"}, headers=bearer["carol"]).json[
        "room"
    ]
    refused = client.post(
        f"/api/rooms/{direct}/webhooks", json={"name": "x"}, headers=bearer["carol"]
    )
    assert refused.status_code == 403
    archived = client.patch("/api/rooms/ops", json={"archived": True}, headers=bearer["carol"])
    assert archived.status_code == 200
    posted = client.post(path_of(hook), json={"text": "into the archive"})
    assert posted.status_code == 403 and "archived" in posted.json["error"]["message"]
    assert messages(db) == []


def test_a_room_has_at_most_its_share_of_webhooks(client, db, bearer, ops):
    from chat.actions import MAX_INCOMING_PER_ROOM

    for i in range(MAX_INCOMING_PER_ROOM):
        make_hook(client, bearer["carol"], f"hook {i}")
    refused = client.post(
        "/api/rooms/ops/webhooks", json={"name": "one more"}, headers=bearer["carol"]
    )
    assert refused.status_code == 400 and refused.json["error"]["code"] == "too_many_webhooks"


def test_a_webhooks_posts_count_against_its_own_send_budget(db, make_app, people):
    client = make_app(RATE_LIMIT_PER_SEC=1, RATE_LIMIT_BURST=2).test_client()
    headers = {"Authorization": f"Bearer {make_token(db, people['carol'])}"}
    assert client.post("/api/rooms/general/join", headers=headers).status_code == 201
    path = path_of(make_hook(client, headers, room="general"))
    answers = [client.post(path, json={"text": f"alert {i}"}) for i in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    # carol's own budget is her own.
    assert (
        client.post(
            "/api/rooms/general/messages", json={"content": "mine"}, headers=headers
        ).status_code
        == 201
    )


def test_the_page_shows_a_new_url_once_and_revokes_by_form(client, auth, db, people, bearer, ops):
    auth.login("dave")
    page = client.get("/rooms/ops/webhooks")
    assert page.status_code == 200 and "has no incoming webhooks" in page.text
    made = client.post(
        "/rooms/ops/webhooks", data={"csrf_token": csrf_token(page.text), "name": "CI"}
    )
    assert made.status_code == 303 and made.headers["Location"].endswith("/rooms/ops/webhooks")
    shown = client.get("/rooms/ops/webhooks")
    assert shown.headers["Cache-Control"] == "no-store"
    assert 'id="new-webhook-url">http://localhost/api/hooks/hook_' in shown.text
    again = client.get("/rooms/ops/webhooks")
    assert "new-webhook-url" not in again.text and "CI" in again.text
    (hook,) = client.get("/api/rooms/ops/webhooks", headers=bearer["dave"]).json["webhooks"]
    revoked = client.post(
        f"/rooms/ops/webhooks/{hook['id']}/revoke", data={"csrf_token": csrf_token(again.text)}
    )
    assert revoked.status_code == 303
    assert "revoked" in client.get("/rooms/ops/webhooks").text


def test_a_bad_name_on_the_page_says_why_and_makes_nothing(client, auth, db, people, ops):
    auth.login("dave")
    page = client.get("/rooms/ops/webhooks")
    refused = client.post(
        "/rooms/ops/webhooks", data={"csrf_token": csrf_token(page.text), "name": "  "}
    )
    assert refused.status_code == 400 and "Enter a webhook name" in refused.text
    assert db.execute("SELECT count(*) AS n FROM incoming_webhooks").fetchone()["n"] == 0
    assert room_row(db, "ops") is not None


def test_a_webhooks_bot_is_in_its_room_only(client, db, bearer, ops):
    """Nobody adds a bot to another room or opens a conversation with it: nothing
    would read either."""
    hook = make_hook(client, bearer["carol"])
    assert (
        client.post("/api/rooms", json={"name": "other"}, headers=bearer["carol"]).status_code
        == 201
    )
    added = client.post(
        "/api/rooms/other/members", json={"username": hook["username"]}, headers=bearer["carol"]
    )
    assert added.status_code == 403 and "bot" in added.json["error"]["message"]
    direct = client.post("/api/direct", json={"username": hook["username"]}, headers=bearer["dave"])
    assert direct.status_code == 403 and "bot" in direct.json["error"]["message"]


def test_the_page_has_no_id_twice(client, auth, db, people, ops):
    """Two kinds of webhook, two forms, each with its CSRF field: one page of ids."""
    auth.login("dave")
    html = client.get("/rooms/ops/webhooks").text
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert ids and len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
