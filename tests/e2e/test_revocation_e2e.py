"""Revoking access while sockets are open: logout, password change, disabled account,
removal from a private room.

The affected sockets close with 1008 at once, on every worker, and a copied
session cookie stops working (the session lives on the server).
"""

import re

import pytest

from chat import actions

from ..conftest import make_token, make_user
from ..servers import Client, form_login, http
from .clients import clients_on_two_workers

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse"


@pytest.fixture
def server(start_server):
    return start_server(RATE_LIMIT_PER_SEC="0")


def logged_in(server, username: str):
    session, response = form_login(server, username, PASSWORD)
    assert response.status_code == 302
    return session


def cookie_header(session) -> str:
    return f"session={session.cookies['session']}"


def test_logout_closes_that_sessions_sockets_everywhere_and_kills_copied_cookies(server, db):
    make_user(db, "eren", PASSWORD)
    browser = logged_in(server, "eren")
    other_device = logged_in(server, "eren")
    copy = http()
    copy.cookies.set("session", browser.cookies["session"])

    sockets = clients_on_two_workers(server, None, Cookie=cookie_header(browser))
    survivor = Client.open(server, "general", None, Cookie=cookie_header(other_device))
    survivor.until("ready")

    page = browser.get(f"{server.url}/rooms").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    browser.post(f"{server.url}/logout", data={"csrf_token": token})

    for socket_ in sockets:
        assert socket_.close_code() == 1008
    assert copy.get(f"{server.url}/rooms", allow_redirects=False).status_code == 302
    # Another session of the same person is not touched.
    survivor.send({"type": "chat", "content": "still here", "client_id": "s"})
    _, ack = survivor.until("ack")
    assert ack["client_id"] == "s"
    assert other_device.get(f"{server.url}/rooms", allow_redirects=False).status_code == 200


def test_password_change_ends_every_login_session_but_not_api_tokens(server, db):
    user = make_user(db, "eren", PASSWORD)
    browser = logged_in(server, "eren")
    by_cookie = clients_on_two_workers(server, None, Cookie=cookie_header(browser))
    by_token = Client.open(server, "general", make_token(db, user))
    by_token.until("ready")

    actions.set_password(db, user.id, "a brand new password")

    for socket_ in by_cookie:
        assert socket_.close_code() == 1008
    assert browser.get(f"{server.url}/rooms", allow_redirects=False).status_code == 302
    by_token.send({"type": "chat", "content": "token still works", "client_id": "t"})
    _, ack = by_token.until("ack")
    assert ack["client_id"] == "t"


def test_a_disabled_account_loses_every_socket_token_and_session(server, db):
    user = make_user(db, "eren", PASSWORD)
    token = make_token(db, user)
    browser = logged_in(server, "eren")
    sockets = clients_on_two_workers(server, token)
    watcher = Client.open(server, "general", make_token(db, make_user(db, "levi")))
    watcher.until("ready")

    actions.disable_user(db, user.id)

    for socket_ in sockets:
        assert socket_.close_code() == 1008
    assert browser.get(f"{server.url}/rooms", allow_redirects=False).status_code == 302
    api = http()
    response = api.get(f"{server.url}/api/rooms", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    # Nobody else is affected.
    watcher.send({"type": "chat", "content": "fine", "client_id": "w"})
    _, ack = watcher.until("ack")
    assert ack["client_id"] == "w"


def test_removal_from_a_private_room_closes_the_sockets_that_follow_it(server, db):
    from chat import actions as room_actions
    from chat.domain.errors import ChatError

    eren = make_user(db, "eren", PASSWORD)
    levi = make_user(db, "levi", PASSWORD)
    room = room_actions.create_room(db, "plans", eren.id, is_private=True)
    room_actions.add_member(db, room, eren, "levi")
    levi_token = make_token(db, levi)
    in_plans = Client.open(server, "plans", levi_token)
    in_plans.until("ready")
    elsewhere = Client.open(server, "general", levi_token)
    elsewhere.until("ready")

    with pytest.raises(ChatError):  # only the creator removes others
        room_actions.remove_member(db, room, levi, "eren")
    room_actions.remove_member(db, room, eren, "levi")

    assert in_plans.close_code() == 1008
    api = http()
    response = api.get(
        f"{server.url}/api/rooms/plans/messages", headers={"Authorization": f"Bearer {levi_token}"}
    )
    assert response.status_code == 404
    elsewhere.send({"type": "chat", "content": "still in general", "client_id": "g"})
    _, ack = elsewhere.until("ack")
    assert ack["client_id"] == "g"


def test_revoking_an_api_token_closes_the_sockets_opened_with_it(server, db):
    user = make_user(db, "eren", PASSWORD)
    revoked = actions.new_token(db, user.id, "ci script")
    sockets = clients_on_two_workers(server, revoked.token)
    kept = Client.open(server, "general", make_token(db, user))
    kept.until("ready")

    actions.revoke_token(db, user.id, revoked.listing.id)

    for socket_ in sockets:
        assert socket_.close_code() == 1008
    api = http()
    response = api.get(
        f"{server.url}/api/rooms", headers={"Authorization": f"Bearer {revoked.token}"}
    )
    assert response.status_code == 401
    # The person's other token, and its socket, are not touched.
    kept.send({"type": "chat", "content": "other token", "client_id": "k"})
    _, ack = kept.until("ack")
    assert ack["client_id"] == "k"


def operator(database_url: str, *args: str) -> str:
    """`flask --app app ARGS` as an operator runs it (its own process); its output."""
    import os
    import subprocess

    from ..servers import FLASK, ROOT

    done = subprocess.run(
        [str(FLASK), "--app", "app", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_operators_revocations_close_sockets_at_once(server, db, database_url):
    """`revoke-session --all` closes the sockets of every login session (and no
    token's); `revoke-token --all` then closes the token's, on every worker."""
    user = make_user(db, "eren", PASSWORD)
    browser = logged_in(server, "eren")
    by_cookie = clients_on_two_workers(server, None, Cookie=cookie_header(browser))
    by_token = clients_on_two_workers(server, make_token(db, user))

    assert "logged out 1 session(s) of eren" in operator(
        database_url, "revoke-session", "eren", "--all"
    )
    for socket_ in by_cookie:
        assert socket_.close_code() == 1008
    for i, socket_ in enumerate(by_token):
        socket_.send({"type": "chat", "content": "token still works", "client_id": f"t{i}"})
        _, ack = socket_.until("ack")
        assert ack["client_id"] == f"t{i}"

    assert "revoked 1 token(s) of eren" in operator(database_url, "revoke-token", "eren", "--all")
    for socket_ in by_token:
        assert socket_.close_code() == 1008
