"""Private rooms, invitations, direct messages, and the headers every page carries."""

import pytest

from chat import actions

from ..conftest import csrf_token, make_token, make_user


@pytest.fixture
def levi(db):
    return make_user(db, "levi")


def bearer(app, db, user):
    """A cookie-less client and the user's token headers: another person, elsewhere."""
    return app.test_client(), {"Authorization": f"Bearer {make_token(db, user)}"}


def post_form(client, page: str, url: str, **fields):
    token = csrf_token(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **fields})


def test_a_private_room_is_created_from_the_form_and_hidden_from_others(
    app, client, auth, db, levi
):
    auth.register("eren")
    response = post_form(client, "/rooms", "/rooms", name="plans", private="y")
    assert response.status_code == 302
    room = db.execute("SELECT is_private FROM rooms WHERE name = 'plans'").fetchone()
    assert room == {"is_private": True}

    other, outsider = bearer(app, db, levi)
    for method, url in [
        ("GET", "/rooms/plans"),
        ("GET", "/rooms/plans/history"),
        ("GET", "/api/rooms/plans/messages"),
        ("GET", "/api/rooms/plans/messages?after=0"),
        ("POST", "/api/rooms/plans/messages"),
    ]:
        response = other.open(url, method=method, headers=outsider, json={"content": "hi"})
        assert response.status_code == 404, url
    names = [r["name"] for r in other.get("/api/rooms", headers=outsider).json["rooms"]]
    assert "plans" not in names


def test_a_member_invites_someone_who_can_then_see_the_room(app, client, auth, db, levi):
    auth.register("eren")
    post_form(client, "/rooms", "/rooms", name="plans", private="y")
    other, levi_headers = bearer(app, db, levi)
    assert other.get("/api/rooms/plans/messages", headers=levi_headers).status_code == 404
    response = post_form(client, "/rooms/plans", "/rooms/plans/invite", username="LEVI")
    assert response.status_code == 302
    assert other.get("/api/rooms/plans/messages", headers=levi_headers).status_code == 200
    page = client.get("/rooms/plans").text
    assert "levi" in page and "eren" in page  # the members list


@pytest.mark.parametrize(
    "username, message",
    [("nobody", "no user named"), ("eren", "already a member")],
)
def test_bad_invitations_change_nothing(client, auth, db, username, message):
    auth.register("eren")
    post_form(client, "/rooms", "/rooms", name="plans", private="y")
    response = post_form(client, "/rooms/plans", "/rooms/plans/invite", username=username)
    assert response.status_code == 302
    assert message in client.get("/rooms/plans").text
    members = db.execute(
        "SELECT count(*) AS n FROM room_members m JOIN rooms r ON r.id = m.room_id "
        "WHERE r.name = 'plans'"
    ).fetchone()
    assert members == {"n": 1}


def test_a_non_member_cannot_invite(client, auth, db, eren):
    actions.create_room(db, "plans", eren.id, is_private=True)
    auth.register("levi")
    token = csrf_token(client.get("/rooms").text)
    response = client.post("/rooms/plans/invite", data={"csrf_token": token, "username": "levi"})
    assert response.status_code == 404


def test_a_direct_message_room_appears_for_both_and_only_them(app, client, auth, db, levi):
    auth.register("eren")
    response = post_form(client, "/rooms", "/direct", username="levi")
    assert response.status_code == 302
    name = response.headers["Location"].rsplit("/", 1)[-1]
    assert name.startswith("dm-")
    # Starting it again, from either side, is the same conversation.
    assert (
        post_form(client, "/rooms", "/direct", username="Levi").headers["Location"].endswith(name)
    )
    assert "@levi" in client.get("/rooms").text  # titled by the other person

    other, levi_headers = bearer(app, db, levi)
    rooms = other.get("/api/rooms", headers=levi_headers).json["rooms"]
    assert name in [r["name"] for r in rooms]
    outsider, mikasa_headers = bearer(app, db, make_user(db, "mikasa"))
    assert outsider.get(f"/api/rooms/{name}/messages", headers=mikasa_headers).status_code == 404
    invite = post_form(client, f"/rooms/{name}", f"/rooms/{name}/invite", username="mikasa")
    assert invite.status_code == 302
    assert outsider.get(f"/api/rooms/{name}/messages", headers=mikasa_headers).status_code == 404


@pytest.mark.parametrize("username", ["eren", "ghost"])
def test_no_direct_room_with_yourself_or_nobody(client, auth, db, username):
    auth.register("eren")
    response = post_form(client, "/rooms", "/direct", username=username)
    assert response.status_code == 303
    assert db.execute("SELECT count(*) AS n FROM rooms").fetchone() == {"n": 1}


def test_dm_names_cannot_be_taken_by_a_room(client, auth, db):
    auth.register("eren")
    response = post_form(client, "/rooms", "/rooms", name="dm-1-2")
    assert response.status_code == 400
    assert "direct messages" in response.text


@pytest.mark.parametrize("url", ["/login", "/register", "/healthz"])
def test_security_headers_on_every_page(client, url):
    headers = client.get(url).headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
