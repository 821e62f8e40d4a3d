"""The settings page and its JSON API (chat/web/settings.py): display name,
password change, login sessions, personal API tokens."""

import html
import re
import unicodedata
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from chat import actions
from chat.domain.errors import ChatError
from chat.domain.text import is_blank
from chat.domain.validate import DISPLAY_NAME_MAX, validate_display_name
from chat.storage import bus, migrate, queries
from chat.web.settings import ago

from ..conftest import csrf_token, make_token
from ..hostile_text import any_text
from ..schema import database_at

ERROR = re.compile(r'class="error" role="alert">([^<]*)<')
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
TOKEN = re.compile(r'<code class="secret" id="new-token">([^<]+)</code>')


def errors(page: str) -> list[str]:
    return [html.unescape(e) for e in ERROR.findall(page)]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def logged_in(app, username: str = "eren", user_agent: str = FIREFOX, remember=False):
    """A new browser (test client) logged in through the real form."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    token = csrf_token(client.get("/login").text)
    data = {"csrf_token": token, "username": username, "password": "correct horse"}
    if remember:
        data["remember"] = "y"
    assert client.post("/login", data=data).status_code == 302
    return client


def post(client, path: str, **data):
    """A settings form, sent with the page's CSRF token."""
    data["csrf_token"] = csrf_token(client.get("/settings").text)
    return client.post(path, data=data)


def is_logged_in(client) -> bool:
    return client.get("/rooms").status_code == 200


def display_name_of(db, user) -> str | None:
    return db.execute("SELECT display_name FROM users WHERE id = %s", (user.id,)).fetchone()[
        "display_name"
    ]


def session_ids(db, user) -> list[int]:
    rows = db.execute("SELECT id FROM user_sessions WHERE user_id = %s ORDER BY id", (user.id,))
    return [row["id"] for row in rows]


@pytest.fixture
def eren_auth(db, eren) -> dict:
    """The Authorization header of an API token of eren's."""
    return bearer(make_token(db, eren))


@pytest.fixture
def control(database_url):
    """A connection LISTENing where revocations are announced (bus.CONTROL_CHANNEL)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {bus.CONTROL_CHANNEL}")
        yield conn


def revocations(listener) -> list[str]:
    return [n.payload for n in listener.notifies(timeout=1)]


# --- the page -------------------------------------------------------------------


def test_the_page_needs_a_login(client):
    response = client.get("/settings")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_the_header_links_the_username_to_the_settings_page(app, eren):
    page = logged_in(app).get("/rooms").text
    assert '<a href="/settings" title="Account settings" class="me">eren<' in page


NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "before, words",
    [
        (timedelta(seconds=-5), "just now"),  # another host's clock, a little ahead
        (timedelta(seconds=89), "just now"),
        (timedelta(seconds=90), "2 minutes ago"),
        (timedelta(minutes=1, seconds=40), "2 minutes ago"),
        (timedelta(minutes=59), "59 minutes ago"),
        (timedelta(minutes=60), "1 hour ago"),
        (timedelta(hours=5), "5 hours ago"),
        (timedelta(hours=23, minutes=29), "23 hours ago"),
        (timedelta(hours=23, minutes=31), "1 day ago"),
        (timedelta(days=30), "30 days ago"),
        (timedelta(days=31), "on 2026-10-25"),
    ],
)
def test_times_on_the_page_say_how_long_ago(before, words):
    assert ago(NOW - before, NOW) == words


def test_the_page_shows_every_section_and_marks_this_device(app, eren):
    logged_in(app, user_agent=IPHONE)
    here = logged_in(app, user_agent=FIREFOX)
    response = here.get("/settings")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.text
    for section in ("profile", "password", "sessions", "tokens"):
        assert f'id="{section}"' in page
    assert 'href="/static/settings.css"' in page
    rows = re.findall(r'<li class="row( current)?">(.*?)</li>', page, re.DOTALL)
    devices = {("this" if current else "other", re.search(r'"title">([^<]+)<', row)[1])
               for current, row in rows}  # fmt: skip
    assert devices == {("this", "Firefox on Linux"), ("other", "Safari on iOS")}
    assert page.count("This device") == 1
    assert page.count("/logout#sessions") == 1  # a button for the other session only


# --- display name ---------------------------------------------------------------


def test_a_display_name_is_saved_trimmed_and_shown_in_the_form(app, db, eren):
    client = logged_in(app)
    response = post(client, "/settings/display-name", display_name="  Eren Jäger  ")
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings#profile"
    assert display_name_of(db, eren) == "Eren Jäger"
    page = client.get("/settings").text
    assert "Display name saved." in page
    assert 'value="Eren Jäger"' in page


def test_remove_clears_the_display_name(app, db, eren):
    client = logged_in(app)
    post(client, "/settings/display-name", display_name="Eren")
    response = post(client, "/settings/display-name", display_name="", remove="Remove")
    assert response.status_code == 303
    assert display_name_of(db, eren) is None


BAD_DISPLAY_NAMES = [
    ("", "Enter a display name of 1 to 64 characters."),
    ("   \t ", "Enter a display name of 1 to 64 characters."),
    ("\u200b\u200d", "Enter a display name of 1 to 64 characters."),  # shows nothing
    ("x" * 65, "The display name is 65 characters long; at most 64."),
    ("🦜" * 65, "The display name is 65 characters long; at most 64."),
    ("Eren\nJäger", "control characters"),
    ("Eren\tJäger", "control characters"),
    ("\x1b[31mred", "control characters"),
    ("Eren\x7f", "control characters"),
    ("Eren\u2028Jäger", "control characters"),  # line separator
    ("\u202eregaJ nerE", "control characters"),  # right-to-left override
    ("Eren\u2066x", "control characters"),  # a bidi isolate
]


@pytest.mark.parametrize("name, message", BAD_DISPLAY_NAMES)
def test_a_bad_display_name_is_refused_with_a_clear_error(app, db, eren, name, message):
    client = logged_in(app)
    post(client, "/settings/display-name", display_name="Eren")
    response = post(client, "/settings/display-name", display_name=name)
    assert response.status_code == 400
    assert len(errors(response.text)) == 1 and message in errors(response.text)[0]
    assert display_name_of(db, eren) == "Eren"


# --- change password --------------------------------------------------------------


def password_form(current="correct horse", new="battery staple", confirm=None) -> dict:
    return {
        "current_password": current,
        "new_password": new,
        "confirm_password": new if confirm is None else confirm,
    }


def can_log_in(app, password: str) -> bool:
    client = app.test_client()
    token = csrf_token(client.get("/login").text)
    data = {"csrf_token": token, "username": "eren", "password": password}
    return client.post("/login", data=data).status_code == 302


def test_a_password_change_logs_out_other_sessions_but_not_this_one(app, db, eren, control):
    other, here = logged_in(app), logged_in(app)
    old_sessions = session_ids(db, eren)
    response = post(here, "/settings/password", **password_form())
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings#password"
    assert "Password changed. Every other session is logged out." in here.get("/settings").text
    assert is_logged_in(here)
    assert not is_logged_in(other)
    # This browser goes on under a new session; every old one is gone.
    assert len(session_ids(db, eren)) == 1 and session_ids(db, eren)[0] not in old_sessions
    # The other session's sockets close on every worker.
    assert f"{bus.REVOKE_SESSIONS} {eren.id}" in revocations(control)
    assert can_log_in(app, "battery staple") and not can_log_in(app, "correct horse")


def test_a_copy_of_this_sessions_cookie_stops_working_after_a_password_change(app, eren):
    here = logged_in(app)
    copy = app.test_client()
    copy.set_cookie("session", here.get_cookie("session").value)
    assert is_logged_in(copy)
    post(here, "/settings/password", **password_form())
    assert is_logged_in(here)
    assert not is_logged_in(copy)


def test_keep_me_logged_in_survives_a_password_change(app, eren):
    here = logged_in(app, remember=True)
    post(here, "/settings/password", **password_form())
    remembered = app.test_client()
    remembered.set_cookie("remember_token", here.get_cookie("remember_token").value)
    assert is_logged_in(remembered)  # the new session's, not the revoked one's


def test_api_tokens_keep_working_after_a_password_change(app, db, eren):
    token = make_token(db, eren)
    post(logged_in(app), "/settings/password", **password_form())
    assert app.test_client().get("/api/rooms", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    "form, field_errors",
    [
        (password_form(current="wrong horse"), ["That is not your current password."]),
        (password_form(current=""), ["Enter your current password."]),
        (password_form(new="short"), ["Passwords are 8 to 1024 characters."]),
        (password_form(new=""), ["Enter a new password.", "Repeat the new password."]),
        (password_form(new="x" * 1025), ["Passwords are 8 to 1024 characters."]),
        (password_form(confirm="battery staplE"), ["The new passwords differ."]),
    ],
    ids=["wrong-current", "no-current", "too-short", "empty", "too-long", "mismatch"],
)
def test_a_refused_password_change_changes_nothing(app, db, eren, form, field_errors):
    other, here = logged_in(app), logged_in(app)
    sessions = session_ids(db, eren)
    response = post(here, "/settings/password", **form)
    assert response.status_code == 400
    assert errors(response.text) == field_errors
    assert session_ids(db, eren) == sessions
    assert is_logged_in(other) and is_logged_in(here)
    assert can_log_in(app, "correct horse")


def test_a_wrong_current_password_counts_as_a_failed_login(app, db, eren):
    post(logged_in(app), "/settings/password", **password_form(current="wrong horse"))
    row = db.execute("SELECT failures FROM login_failures WHERE key = 'user:eren'").fetchone()
    assert row["failures"] == 1


def test_the_login_throttle_stops_guessing_the_current_password(make_app, db, eren):
    app = make_app(LOGIN_FAILURES_PER_USER=3)
    here = logged_in(app)
    for _ in range(3):
        response = post(here, "/settings/password", **password_form(current="wrong horse"))
        assert response.status_code == 400
    response = post(here, "/settings/password", **password_form())  # right, but too late
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert errors(response.text)[0].startswith("Too many failed logins. Try again in")
    assert can_log_in(make_app(LOGIN_FAILURES_PER_USER=100), "correct horse")


# --- sessions ---------------------------------------------------------------------


def test_log_out_ends_that_session_and_closes_its_sockets(app, db, eren, control):
    other, here = logged_in(app), logged_in(app)
    other_id = session_ids(db, eren)[0]
    other_hash = db.execute(
        "SELECT token_hash FROM user_sessions WHERE id = %s", (other_id,)
    ).fetchone()["token_hash"]
    response = post(here, f"/settings/sessions/{other_id}/logout")
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings#sessions"
    assert not is_logged_in(other)
    assert is_logged_in(here)
    assert revocations(control) == [f"{bus.REVOKE_SESSION} {bytes(other_hash).hex()}"]


def test_this_devices_session_cannot_be_ended_as_another(app, db, eren):
    here = logged_in(app)
    (own,) = session_ids(db, eren)
    assert post(here, f"/settings/sessions/{own}/logout").status_code == 404
    assert is_logged_in(here)


def test_someone_elses_session_is_not_found(app, db, eren, mikasa):
    theirs = logged_in(app, "mikasa")
    mine = logged_in(app, "eren")
    (their_session,) = session_ids(db, mikasa)
    for session_id in (their_session, 999_999, 2**63, 2**70):
        assert post(mine, f"/settings/sessions/{session_id}/logout").status_code == 404
    assert is_logged_in(theirs)


def test_a_session_notes_its_last_use_at_most_once_a_minute(app, db, eren):
    client = logged_in(app)

    def last_seen():
        return db.execute("SELECT last_seen_at FROM user_sessions").fetchone()["last_seen_at"]

    db.execute("UPDATE user_sessions SET last_seen_at = now() - interval '30 seconds'")
    fresh = last_seen()
    client.get("/rooms")
    assert last_seen() == fresh  # used 30 s ago: not written again
    db.execute("UPDATE user_sessions SET last_seen_at = now() - interval '2 minutes'")
    stale = last_seen()
    client.get("/rooms")
    assert last_seen() > stale


# --- API tokens on the page -----------------------------------------------------


def test_a_new_token_is_shown_once_and_works(app, db, eren):
    client = logged_in(app)
    made = post(client, "/settings/tokens", name="  deploy bot ")
    assert made.status_code == 303 and made.headers["Location"] == "/settings#tokens"
    response = client.get(made.headers["Location"])
    assert response.headers["Cache-Control"] == "no-store"
    (token,) = TOKEN.findall(response.text)
    assert "it will not be shown again" in response.text
    assert app.test_client().get("/api/rooms", headers=bearer(token)).status_code == 200
    again = client.get("/settings").text
    assert token not in again
    assert '<span class="title">deploy bot</span>' in again
    stored = db.execute("SELECT name, token_hash FROM api_tokens").fetchone()
    assert stored["name"] == "deploy bot"
    assert bytes(stored["token_hash"]) == actions.hash_token(token)


def test_a_revoked_token_is_refused(app, db, eren):
    client = logged_in(app)
    post(client, "/settings/tokens", name="ci")
    (token,) = TOKEN.findall(client.get("/settings").text)
    (token_id,) = [r["id"] for r in db.execute("SELECT id FROM api_tokens")]
    response = post(client, f"/settings/tokens/{token_id}/revoke")
    assert response.status_code == 303
    assert response.headers["Location"] == "/settings#tokens"
    assert "Token “ci” revoked." in client.get("/settings").text
    assert app.test_client().get("/api/rooms", headers=bearer(token)).status_code == 401


def test_someone_elses_token_cannot_be_revoked_from_the_page(app, db, eren, mikasa):
    theirs = make_token(db, mikasa)
    (their_id,) = [r["id"] for r in db.execute("SELECT id FROM api_tokens")]
    client = logged_in(app)
    for token_id in (their_id, 999_999, 2**70):
        assert post(client, f"/settings/tokens/{token_id}/revoke").status_code == 404
    assert app.test_client().get("/api/rooms", headers=bearer(theirs)).status_code == 200
    assert "Unnamed token" not in client.get("/settings").text  # not listed to eren either


@pytest.mark.parametrize("name", ["", "  ", "x" * 65, "a\nb", "\u202ebad"])
def test_a_bad_token_name_is_refused(app, db, eren, name):
    response = post(logged_in(app), "/settings/tokens", name=name)
    assert response.status_code == 400
    assert len(errors(response.text)) == 1
    assert not TOKEN.search(response.text)
    assert db.execute("SELECT count(*) AS n FROM api_tokens").fetchone()["n"] == 0


def test_a_person_has_at_most_fifty_tokens(app, db, eren):
    for i in range(actions.MAX_TOKENS_PER_USER):
        actions.create_token(db, eren.id, f"t{i}")
    response = post(logged_in(app), "/settings/tokens", name="one more")
    assert response.status_code == 400
    assert "revoke one you no longer use first" in errors(response.text)[0]
    count = db.execute("SELECT count(*) AS n FROM api_tokens").fetchone()["n"]
    assert count == actions.MAX_TOKENS_PER_USER


# --- CSRF on every form -------------------------------------------------------------


@pytest.mark.parametrize(
    "path, data",
    [
        ("/settings/display-name", {"display_name": "Evil"}),
        ("/settings/display-name", {"remove": "Remove"}),
        ("/settings/password", password_form(current="correct horse", new="owned by evil")),
        ("/settings/sessions/{other}/logout", {}),
        ("/settings/tokens", {"name": "evil"}),
        ("/settings/tokens/{token}/revoke", {}),
    ],
)
def test_every_form_needs_its_csrf_token(app, db, eren, path, data):
    other = logged_in(app)
    here = logged_in(app)
    post(here, "/settings/display-name", display_name="Eren")
    token = make_token(db, eren)
    ids = {"other": session_ids(db, eren)[0], "token": db.execute("SELECT id FROM api_tokens")
           .fetchone()["id"]}  # fmt: skip
    state = db.execute(
        "SELECT display_name, password_hash, (SELECT count(*) FROM user_sessions) AS sessions,"
        " (SELECT count(*) FROM api_tokens) AS tokens FROM users"
    ).fetchone()
    response = here.post(path.format(**ids), data=data)  # no csrf_token
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert (
        db.execute(
            "SELECT display_name, password_hash, (SELECT count(*) FROM user_sessions) AS sessions,"
            " (SELECT count(*) FROM api_tokens) AS tokens FROM users"
        ).fetchone()
        == state
    )
    assert is_logged_in(other)
    assert app.test_client().get("/api/rooms", headers=bearer(token)).status_code == 200


# --- the JSON API -------------------------------------------------------------------


def test_api_me_says_who_you_are_and_sets_the_display_name(client, db, eren):
    auth = bearer(make_token(db, eren))
    assert client.get("/api/me", headers=auth).json == {"username": "eren", "display_name": None}
    response = client.patch("/api/me", json={"display_name": " Eren Jäger "}, headers=auth)
    assert response.status_code == 200
    assert response.json == {"username": "eren", "display_name": "Eren Jäger"}
    assert client.get("/api/me", headers=auth).json["display_name"] == "Eren Jäger"
    cleared = client.patch("/api/me", json={"display_name": None}, headers=auth)
    assert cleared.json == {"username": "eren", "display_name": None}
    assert display_name_of(db, eren) is None


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": ""},
        {"display_name": "x" * 65},
        {"display_name": "a\u0007b"},
        {"display_name": 42},
        {"display_name": ["Eren"]},
        {"name": "Eren"},
        ["Eren"],
    ],
)
def test_api_me_refuses_a_bad_display_name(client, db, eren, body):
    auth = bearer(make_token(db, eren))
    client.patch("/api/me", json={"display_name": "Eren"}, headers=auth)
    response = client.patch("/api/me", json=body, headers=auth)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert display_name_of(db, eren) == "Eren"


def test_api_routes_need_a_token_or_a_session(client):
    for method, path in [("GET", "/api/me"), ("PATCH", "/api/me"), ("GET", "/api/tokens"),
                         ("POST", "/api/tokens"), ("DELETE", "/api/tokens/1")]:  # fmt: skip
        response = client.open(path, method=method, json={"name": "x"})
        assert response.status_code == 401, path
        assert response.json["error"]["code"] == "unauthorized"


def test_a_session_write_to_the_api_needs_the_csrf_header(app, db, eren):
    client = logged_in(app)
    refused = client.patch("/api/me", json={"display_name": "Evil"})
    assert refused.status_code == 400
    assert display_name_of(db, eren) is None
    token = csrf_token(client.get("/settings").text)
    allowed = client.patch("/api/me", json={"display_name": "Eren"}, headers={"X-CSRFToken": token})
    assert allowed.status_code == 200
    assert display_name_of(db, eren) == "Eren"


def test_api_tokens_are_made_once_listed_without_secret_and_revoked(client, db, eren):
    auth = bearer(make_token(db, eren))
    made = client.post("/api/tokens", json={"name": "backup script"}, headers=auth)
    assert made.status_code == 201
    assert made.headers["Cache-Control"] == "no-store"
    body = made.json
    assert list(body) == ["id", "name", "created_at", "last_used_at", "token"]
    assert (body["name"], body["last_used_at"]) == ("backup script", None)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["created_at"])
    new = bearer(body["token"])
    listed = client.get("/api/tokens", headers=new).json["tokens"]
    assert [t["name"] for t in listed] == ["backup script", None]  # newest first
    assert all("token" not in t for t in listed)
    assert listed[0]["last_used_at"] is not None  # just used, to list them
    assert body["token"] not in client.get("/api/tokens", headers=auth).text
    assert client.delete(f"/api/tokens/{body['id']}", headers=auth).status_code == 204
    assert client.get("/api/rooms", headers=new).status_code == 401
    assert client.get("/api/rooms", headers=auth).status_code == 200


def test_a_token_can_revoke_itself(client, db, eren):
    token = make_token(db, eren)
    (token_id,) = [r["id"] for r in db.execute("SELECT id FROM api_tokens")]
    assert client.delete(f"/api/tokens/{token_id}", headers=bearer(token)).status_code == 204
    assert client.get("/api/tokens", headers=bearer(token)).status_code == 401


def test_a_token_cannot_list_or_revoke_someone_elses_tokens(client, db, eren, mikasa):
    mine, theirs = make_token(db, eren), make_token(db, mikasa)
    their_id = db.execute("SELECT id FROM api_tokens WHERE user_id = %s", (mikasa.id,)).fetchone()[
        "id"
    ]
    listed = client.get("/api/tokens", headers=bearer(mine)).json["tokens"]
    assert [t["id"] for t in listed] != [their_id] and len(listed) == 1
    for token_id in (their_id, 999_999, 2**63, 2**70):
        response = client.delete(f"/api/tokens/{token_id}", headers=bearer(mine))
        assert response.status_code == 404
        assert response.json["error"]["code"] == "not_found"
    assert client.get("/api/rooms", headers=bearer(theirs)).status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "x" * 65}, {"name": "a\nb"}, {"name": 7}, "name"]
)
def test_api_refuses_a_bad_token_name(client, db, eren, body):
    auth = bearer(make_token(db, eren))
    response = client.post("/api/tokens", json=body, headers=auth)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert db.execute("SELECT count(*) AS n FROM api_tokens").fetchone()["n"] == 1


def test_api_refuses_a_token_over_the_limit(client, db, eren):
    auth = bearer(make_token(db, eren))
    for i in range(actions.MAX_TOKENS_PER_USER - 1):
        actions.create_token(db, eren.id, f"t{i}")
    response = client.post("/api/tokens", json={"name": "one more"}, headers=auth)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "too_many_tokens"


def test_the_cli_names_a_token(runner, db, eren):
    result = runner.invoke(args=["create-token", "eren", "--name", "  nightly export "])
    assert result.exit_code == 0, result.output
    assert db.execute("SELECT name FROM api_tokens").fetchone()["name"] == "nightly export"
    refused = runner.invoke(args=["create-token", "eren", "--name", "a\tb"])
    assert refused.exit_code == 1 and "control characters" in refused.output


# --- migration 0014 on an existing database ------------------------------------------


def test_0014_keeps_existing_sessions_and_tokens_working(pg_server):
    """Sessions made before get ids and a last use (their creation); tokens and
    accounts get no name; both go on working."""
    with database_at(pg_server, "0012_link_hrefs") as conninfo:
        with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as conn:
            user = conn.execute(
                "INSERT INTO users (username, password_hash) VALUES ('eren', 'x') RETURNING id"
            ).fetchone()["id"]
            for i in range(3):
                conn.execute(
                    "INSERT INTO user_sessions (token_hash, user_id, created_at)"
                    " VALUES (%s, %s, now() - make_interval(days => %s))",
                    (actions.hash_token(f"session-{i}"), user, i),
                )
            conn.execute(
                "INSERT INTO api_tokens (user_id, token_hash) VALUES (%s, %s)",
                (user, actions.hash_token("chat_old")),
            )

        assert "0014_account_settings" in migrate.migrate(conninfo)

        with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as conn:
            sessions = conn.execute(
                "SELECT id, created_at, last_seen_at, user_agent FROM user_sessions ORDER BY id"
            ).fetchall()
            assert len({s["id"] for s in sessions}) == 3
            assert all(s["last_seen_at"] == s["created_at"] for s in sessions)
            assert all(s["user_agent"] is None for s in sessions)
            assert actions.use_session(conn, actions.hash_token("session-2")).id == user
            assert conn.execute("SELECT display_name FROM users").fetchone() == {
                "display_name": None
            }
            assert [t.name for t in queries.api_tokens(conn, user)] == [None]
            assert actions.use_token(conn, actions.hash_token("chat_old")).id == user
            new = actions.start_session(conn, user)  # ids go on after the old ones
            new_id = conn.execute(
                "SELECT id FROM user_sessions WHERE token_hash = %s", (actions.hash_token(new),)
            ).fetchone()["id"]
            assert new_id > max(s["id"] for s in sessions)


# --- the display-name rule, for any text ------------------------------------------

_REFUSED = {"Cc", "Cs", "Zl", "Zp"}
_BIDI = (
    set("\u200e\u200f\u061c")
    | set(map(chr, range(0x202A, 0x202F)))
    | set(map(chr, range(0x2066, 0x206A)))
)
# any_text, and texts around the length limit.
names_sent = st.one_of(
    any_text,
    st.text(st.characters(exclude_categories=()), min_size=55, max_size=80),
)


@given(names_sent)
def test_a_display_name_is_refused_or_stored_clean(value):
    """Whatever is sent, the rule refuses it with bad_request, or returns a name
    that is NFC, trimmed, 1-64 characters, shows something, has no control
    characters, and that the rule returns unchanged."""
    try:
        name = validate_display_name(value)
    except ChatError as exc:
        assert exc.code == "bad_request"
        return
    assert 1 <= len(name) <= DISPLAY_NAME_MAX
    assert name == name.strip() == unicodedata.normalize("NFC", name)
    assert not is_blank(name)
    assert not any(unicodedata.category(c) in _REFUSED or c in _BIDI for c in name)
    assert validate_display_name(name) == name


# Letters, marks, digits, punctuation, symbols and spaces: what names are made of.
_NAME_CHARS = st.characters(categories=["L", "M", "N", "P", "S", "Zs"])


@given(st.text(_NAME_CHARS, min_size=1, max_size=DISPLAY_NAME_MAX + 8))
def test_a_name_of_printable_characters_is_kept_as_typed(value):
    """Such a name is kept, trimmed and NFC, unless it shows nothing (spaces,
    invisible marks) or is over 64 characters once composed and trimmed."""
    expected = unicodedata.normalize("NFC", value).strip()
    try:
        assert validate_display_name(value) == expected
    except ChatError:
        assert is_blank(expected) or len(expected) > DISPLAY_NAME_MAX


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(value=st.one_of(names_sent, st.none(), st.integers(), st.lists(any_text, max_size=2)))
def test_api_me_stores_what_the_rule_returns_or_nothing(client, db, eren, eren_auth, value):
    """Through the API: 200 and the rule's result stored, or 400 and nothing changed."""
    db.execute("UPDATE users SET display_name = 'before' WHERE id = %s", (eren.id,))
    response = client.patch("/api/me", json={"display_name": value}, headers=eren_auth)
    try:
        expected = None if value is None else validate_display_name(value)
    except ChatError:
        assert response.status_code == 400
        assert display_name_of(db, eren) == "before"
    else:
        assert response.status_code == 200, response.json
        assert display_name_of(db, eren) == expected == response.json["display_name"]
