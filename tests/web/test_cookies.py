"""Cookie flags: HttpOnly and SameSite always; Secure when COOKIE_SECURE says TLS is in front."""

import pytest

from chat.factory import close_app, create_app

from ..conftest import csrf_token, make_user


@pytest.fixture
def tls_client(database_url, monkeypatch):
    monkeypatch.setenv("COOKIE_SECURE", "1")
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "MIGRATE_ON_START": False})
    yield app.test_client()
    close_app(app)


def test_session_and_remember_cookies_are_secure_behind_tls(tls_client, db):
    make_user(db, "levi", "correct horse")
    tls_client.environ_base["wsgi.url_scheme"] = "https"  # as nginx terminating TLS reports
    page = tls_client.get("/login", base_url="https://localhost")
    assert "Secure" in page.headers["Set-Cookie"]
    response = tls_client.post(
        "/login",
        base_url="https://localhost",
        # Flask-WTF checks the Referer on https (the same-origin referrer policy sends it).
        headers={"Referer": "https://localhost/login"},
        data={
            "csrf_token": csrf_token(page.text),
            "username": "levi",
            "password": "correct horse",
            "remember": "y",
        },
    )
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    assert {c.split("=", 1)[0] for c in cookies} >= {"session", "remember_token"}
    for cookie in cookies:
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
