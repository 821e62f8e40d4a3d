"""Accounts: register, log in and out, CSRF, `next`, API tokens and their CLI commands."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from ..conftest import csrf_token, make_token, make_user

ERROR = re.compile(r'class="error" role="alert">([^<]*)<')


def errors(html: str) -> list[str]:
    """The validation messages shown on a form page."""
    return ERROR.findall(html)


def user_count(db) -> int:
    return db.execute("SELECT count(*) AS n FROM users").fetchone()["n"]


def register_form(client, **fields) -> dict:
    data = {"username": "eren", "password": "correct horse", "confirm": "correct horse"}
    data.update(fields)
    data["csrf_token"] = csrf_token(client.get("/register").text)
    return data


# --- register ---------------------------------------------------------------


def test_register_logs_in_and_redirects(client, auth, db):
    response = auth.register("eren", "correct horse")

    assert response.status_code == 302
    assert response.headers["Location"] == "/rooms"
    page = client.get("/rooms")
    assert page.status_code == 200
    assert 'class="me">eren<' in page.text
    row = db.execute("SELECT username, password_hash FROM users").fetchone()
    assert row["username"] == "eren"
    assert "correct horse" not in row["password_hash"]
    assert row["password_hash"].startswith("$argon2id$")


@pytest.mark.parametrize("taken_as", ["eren", "EREN", "Eren"])
def test_register_duplicate_username_in_any_case(client, db, taken_as):
    make_user(db, "eren")

    response = client.post("/register", data=register_form(client, username=taken_as))

    assert response.status_code == 400
    assert errors(response.text) == [f"the username &#39;{taken_as}&#39; is taken"]
    assert user_count(db) == 1
    assert client.get("/rooms").status_code == 302  # not logged in


@pytest.mark.parametrize(
    "username",
    ["", "bad name", ".dot-first", "-dash-first", "x" * 33, "émile", "a/b", "eren\n", "<b>"],
)
def test_register_invalid_username(client, db, username):
    response = client.post("/register", data=register_form(client, username=username))

    assert response.status_code == 400
    assert errors(response.text)
    assert user_count(db) == 0


@pytest.mark.parametrize("username", ["a", "_", "Eren_Jaeger-2.0", "x" * 32])
def test_register_valid_usernames(client, db, username):
    response = client.post("/register", data=register_form(client, username=username))
    assert response.status_code == 302
    assert db.execute("SELECT username FROM users").fetchone()["username"] == username


def test_register_short_password(client, db):
    response = client.post(
        "/register", data=register_form(client, password="short", confirm="short")
    )
    assert response.status_code == 400
    assert errors(response.text) == ["Passwords are 8 to 1024 characters."]
    assert user_count(db) == 0


def test_register_mismatched_confirm(client, db):
    response = client.post("/register", data=register_form(client, confirm="correct horsE"))
    assert response.status_code == 400
    assert errors(response.text) == ["The passwords differ."]
    assert user_count(db) == 0


# --- log in and out ---------------------------------------------------------


def test_login_success(client, auth, db):
    make_user(db, "eren", "correct horse")

    response = auth.login("eren", "correct horse")

    assert response.status_code == 302
    assert response.headers["Location"] == "/rooms"
    assert 'class="me">eren<' in client.get("/rooms").text


def test_login_username_is_case_insensitive(client, auth, db):
    make_user(db, "Eren", "correct horse")
    assert auth.login("eREN", "correct horse").status_code == 302
    assert 'class="me">Eren<' in client.get("/rooms").text


def test_wrong_password_and_unknown_user_look_the_same(client, auth, db):
    make_user(db, "eren", "correct horse")

    wrong_password = auth.login("eren", "wrong horse")
    unknown_user = auth.login("nobody", "correct horse")

    assert wrong_password.status_code == unknown_user.status_code == 400
    assert errors(wrong_password.text) == errors(unknown_user.text)
    assert errors(wrong_password.text) == ["Wrong username or password."]
    assert client.get("/rooms").status_code == 302


def test_logout_logs_out(client, auth, db):
    make_user(db)
    auth.login()

    response = auth.logout()

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get("/rooms").status_code == 302


def test_logout_is_post_only(client, auth, db):
    make_user(db)
    auth.login()
    assert client.get("/logout").status_code == 405
    assert client.get("/rooms").status_code == 200


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_logout_without_csrf_token_is_refused(client, auth, db, token):
    make_user(db)
    auth.login()
    data = {} if token is None else {"csrf_token": token}

    assert client.post("/logout", data=data).status_code == 400
    assert client.get("/rooms").status_code == 200  # still logged in


@pytest.mark.parametrize(
    "path, data",
    [
        (
            "/register",
            {"username": "eren", "password": "correct horse", "confirm": "correct horse"},
        ),
        ("/login", {"username": "eren", "password": "correct horse"}),
    ],
)
def test_forms_without_csrf_token_are_refused(client, db, path, data):
    make_user(db, "eren", "correct horse")
    client.get(path)  # a session exists; only the token is missing

    assert client.post(path, data=data).status_code == 400
    assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400
    assert user_count(db) == 1
    assert client.get("/rooms").status_code == 302


def test_csrf_token_from_another_session_is_refused(app, client, db):
    make_user(db, "eren", "correct horse")
    other = app.test_client()
    foreign = csrf_token(other.get("/login").text)
    client.get("/login")

    response = client.post(
        "/login", data={"csrf_token": foreign, "username": "eren", "password": "correct horse"}
    )
    assert response.status_code == 400


# --- next -------------------------------------------------------------------

# The raw query string as an attacker would write it, and where login must send us.
NEXT_CASES = [
    ("/rooms/general", "/rooms/general"),
    ("%2Frooms%2Fgeneral", "/rooms/general"),
    ("%2Frooms%2Fgeneral%2Fhistory%3Fbefore%3D5", "/rooms/general/history?before=5"),
    ("/rooms", "/rooms"),
    ("", "/rooms"),
    ("https://evil.com", "/rooms"),
    ("https%3A%2F%2Fevil.com%2Frooms", "/rooms"),
    ("http://localhost/rooms", "/rooms"),
    ("//evil.com", "/rooms"),
    ("%2F%2Fevil.com", "/rooms"),
    ("%252F%252Fevil.com", "/rooms"),
    ("///evil.com", "/rooms"),
    ("%5Cevil.com", "/rooms"),
    ("%5C%5Cevil.com", "/rooms"),
    ("/%5Cevil.com", "/rooms"),
    ("%2F%5Cevil.com", "/rooms"),
    ("javascript:alert(1)", "/rooms"),
    ("javascript%3Aalert(1)", "/rooms"),
    ("/%09/evil.com", "/rooms"),
    ("/%0A/evil.com", "/rooms"),
    ("/%0D%0ASet-Cookie:%20x=1", "/rooms"),
    ("%20//evil.com", "/rooms"),
    ("evil.com", "/rooms"),
    ("https:evil.com", "/rooms"),
]


@pytest.mark.parametrize("raw_next, location", NEXT_CASES)
def test_login_next_only_to_local_paths(client, db, raw_next, location):
    make_user(db, "eren", "correct horse")
    token = csrf_token(client.get("/login").text)

    response = client.post(
        f"/login?next={raw_next}",
        data={"csrf_token": token, "username": "eren", "password": "correct horse"},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == location


@pytest.mark.parametrize(
    "raw_next, location",
    [
        ("%2Frooms%2Fgeneral", "/rooms/general"),
        ("//evil.com", "/rooms"),
        ("/%5Cevil.com", "/rooms"),
        ("javascript:alert(1)", "/rooms"),
    ],
)
def test_register_next_only_to_local_paths(client, db, raw_next, location):
    response = client.post(f"/register?next={raw_next}", data=register_form(client))
    assert response.status_code == 302
    assert response.headers["Location"] == location


@pytest.mark.parametrize(
    "path",
    ["/rooms", "/rooms/general", "/rooms/general/history", "/rooms/general/history?before=5"],
)
def test_login_required_pages_redirect_to_login_with_next(client, db, path):
    response = client.get(path)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert not location.netloc
    assert parse_qs(location.query) == {"next": [path]}


def test_login_returns_to_the_page_that_asked(client, db):
    make_user(db, "eren", "correct horse")
    login_url = client.get("/rooms/general/history?before=5").headers["Location"]
    token = csrf_token(client.get(login_url).text)

    response = client.post(
        login_url, data={"csrf_token": token, "username": "eren", "password": "correct horse"}
    )
    assert response.headers["Location"] == "/rooms/general/history?before=5"


# --- API tokens and the CLI -------------------------------------------------


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_cli_create_user_then_token_works_on_the_api(app, client, auth, runner, db):
    # runner.invoke calls app.cli directly: each command must push its own app context.
    created = runner.invoke(args=["create-user", "mikasa"], input="correct horse\n")
    assert created.exit_code == 0, created.output
    assert "created user mikasa" in created.output
    assert auth.login("mikasa", "correct horse").status_code == 302  # stdin was the password

    issued = runner.invoke(args=["create-token", "mikasa"])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip()
    assert re.fullmatch(r"chat_[A-Za-z0-9_-]{43}", token)

    fresh = app.test_client()  # no session: only the token
    response = fresh.get("/api/rooms", headers=bearer(token))
    assert response.status_code == 200
    # A new account starts in #general (its join is the room's first event).
    (general,) = response.json["rooms"]
    assert (general["name"], general["last_seq"], general["last_read_seq"]) == ("general", 1, 1)
    assert (general["unread"], general["mentions"]) == (0, 0)
    stored = db.execute("SELECT token_hash, last_used_at FROM api_tokens").fetchone()
    assert token.encode() not in bytes(stored["token_hash"])  # only a hash is kept
    assert stored["last_used_at"] is not None


def test_cli_tokens_are_distinct(runner, db):
    make_user(db, "mikasa")
    first = runner.invoke(args=["create-token", "mikasa"]).output.strip()
    second = runner.invoke(args=["create-token", "mikasa"]).output.strip()
    assert first and second and first != second


def test_cli_create_token_unknown_user(runner, db):
    result = runner.invoke(args=["create-token", "nobody"])
    assert result.exit_code == 1
    assert "no user named 'nobody'" in result.output
    assert db.execute("SELECT count(*) AS n FROM api_tokens").fetchone()["n"] == 0


@pytest.mark.parametrize(
    "username, password, message",
    [
        ("mikasa", "short\n", "the password must be 8 to 1024 characters"),
        ("mikasa", "\n", "the password must be 8 to 1024 characters"),
        ("bad name", "correct horse\n", "usernames are 1-32 letters"),
        ("eren\n", "correct horse\n", "usernames are 1-32 letters"),
        ("eren", "correct horse\n", "the username 'eren' is taken"),
        ("EREN", "correct horse\n", "the username 'EREN' is taken"),
    ],
)
def test_cli_create_user_refusals(runner, db, username, password, message):
    make_user(db, "eren")
    result = runner.invoke(args=["create-user", username], input=password)
    assert result.exit_code == 1
    assert message in result.output
    assert user_count(db) == 1


@pytest.mark.parametrize(
    "header",
    [
        "Bearer chat_not-a-real-token",
        "Bearer ",
        "Bearer",
        "Basic ZXJlbjpjb3JyZWN0IGhvcnNl",
        "{token}",  # the right token without its scheme
        "Token {token}",
    ],
)
def test_bad_bearer_token_is_401(client, db, header):
    token = make_token(db, make_user(db))
    response = client.get("/api/rooms", headers={"Authorization": header.format(token=token)})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_bearer_scheme_is_case_insensitive(client, db):
    token = make_token(db, make_user(db))
    assert client.get("/api/rooms", headers={"Authorization": f"bearer {token}"}).status_code == 200
