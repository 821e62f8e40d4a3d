"""Every error a person can meet is a page in the site's layout with a way back; under /api/
the same errors stay JSON; on the WebSocket routes they stay short plain text (chat/web/errors.py).

Each status is reached by a real request where one exists: an unknown or private room,
a bad `?before=`, a GET on a POST-only route, an oversized or slow body, busy exports,
a bug, the database going away. tests/browser/test_error_pages.py looks at a 404 page
in Chromium at desktop and phone sizes: screenshots, overflow, and an axe-core scan.
"""

import contextlib
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from flask import abort
from psycopg import sql
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized, default_exceptions

from chat import actions
from chat.web import errors, export

from ..conftest import AuthActions, make_token, room_row

SECRET = "the-internal-secret-in-an-exception"


def _crash():
    raise RuntimeError(f"a bug in a view: {SECRET}")


def _log_in_first():
    raise Unauthorized(www_authenticate=WWWAuthenticate("bearer", {"realm": "chat"}))


@pytest.fixture
def app(make_app):
    """The test's app, with routes that exist only here (a bug, a 401 for a page),
    a short body deadline, one failed login before throttling, and exceptions
    handled as in production (TESTING would re-raise them into the test)."""
    app = make_app(PROPAGATE_EXCEPTIONS=False, REQUEST_BODY_TIMEOUT=0.3, LOGIN_FAILURES_PER_USER=1)
    app.add_url_rule("/test-only/crash", "crash", _crash)
    app.add_url_rule("/api/test-only/crash", "api_crash", _crash)
    app.add_url_rule("/test-only/log-in-first", "log_in_first", _log_in_first)
    app.add_url_rule("/test-only/status/<int:status>", "status_page", _status)
    app.add_url_rule("/api/test-only/status/<int:status>", "status_api", _status)
    return app


def _status(status: int):
    abort(status)


@dataclass
class Site:
    app: object
    client: object  # a browser: logged in as eren, by the login form
    api: object  # a script: eren's API token
    db: object
    eren: dict
    server: str  # conninfo of the PostgreSQL server, to take the test's database away


@pytest.fixture
def site(app, client, db, eren, mikasa, pg_server) -> Site:
    """eren logged in; mikasa has a private room `secret`; eren has not joined #general."""
    actions.create_room(db, "secret", mikasa.id, is_private=True)
    assert AuthActions(client).login("eren").status_code == 302
    api = app.test_client()
    api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_token(db, eren)}"
    return Site(app, client, api, db, eren, pg_server)


# --- ways to reach each status ------------------------------------------------------


class TrickledBody(io.BytesIO):
    """A 500-byte request body that arrives a byte now and then: the slow POST limits.py
    cuts off. The waits are gevent's, as in a worker, so REQUEST_BODY_TIMEOUT can end them."""

    def __init__(self):
        super().__init__(b"x" * 500)

    def read(self, size: int | None = -1) -> bytes:
        import gevent

        gevent.sleep(0.1)
        return super().read(1)

    def readinto(self, buffer) -> int:
        chunk = self.read(1)
        buffer[: len(chunk)] = chunk
        return len(chunk)


def slow_post(client, path: str):
    return client.post(path, input_stream=TrickledBody(), content_type="application/json")


def oversized_post(client, path: str, app):
    body = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    return client.post(path, data=body, content_type="application/json")


@contextlib.contextmanager
def exports_running(site: Site, client, path: str):
    """Every export slot of the worker taken by a real download in progress."""
    actions.join_room(site.db, room_row(site.db).id, site.eren.id)  # now eren may export
    held = [client.get(path, buffered=False) for _ in range(export.MAX_EXPORTS_PER_WORKER)]
    assert all(r.status_code == 200 for r in held)
    try:
        yield
    finally:
        for response in held:
            response.close()


def busy_export(site: Site, client, path: str):
    with exports_running(site, client, path):
        return client.get(path, buffered=True)


@contextlib.contextmanager
def database_gone(site: Site):
    """The database refuses new connections and this app's are cut, as in an outage.
    The pool gives up after a second instead of db.POOL_TIMEOUT, to keep the test short."""
    site.app.extensions["db_pool"].timeout = 1.0
    name = sql.Identifier(site.db.info.dbname)
    with psycopg.connect(site.server, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> %s",
            (site.db.info.dbname, site.db.info.backend_pid),
        )
        try:
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))


def while_database_gone(site: Site, client, path: str):
    with database_gone(site):
        return client.get(path)


# status, case, request; `client` is the browser (pages) or the script (/api/).
PAGE_CASES = [
    (400, "bad-before", lambda s, c: c.get("/rooms/general/history?before=abc")),
    (401, "page-behind-a-login", lambda s, c: c.get("/test-only/log-in-first")),
    (403, "export-before-joining", lambda s, c: c.get("/rooms/general/export.csv")),
    (404, "unknown-room", lambda s, c: c.get("/rooms/nowhere")),
    (404, "private-room-of-others", lambda s, c: c.get("/rooms/secret")),
    (404, "unknown-page", lambda s, c: c.get("/no/such/page")),
    (405, "get-on-post-only", lambda s, c: c.get("/logout")),
    (408, "slow-body", lambda s, c: slow_post(c, "/rooms")),
    (413, "oversized-body", lambda s, c: oversized_post(c, "/rooms", s.app)),
    (429, "exports-busy", lambda s, c: busy_export(s, c, "/rooms/general/export.csv")),
    (500, "a-bug", lambda s, c: c.get("/test-only/crash")),
    (503, "database-down", lambda s, c: while_database_gone(s, c, "/rooms")),
]
API_CASES = [
    (400, "bad-before", lambda s, c: c.get("/api/rooms/general/messages?before=abc")),
    (401, "no-credentials", lambda s, c: s.app.test_client().get("/api/rooms")),
    (403, "export-before-joining", lambda s, c: c.get("/api/rooms/general/export.csv")),
    (404, "unknown-room", lambda s, c: c.get("/api/rooms/nowhere/messages")),
    (404, "private-room-of-others", lambda s, c: c.get("/api/rooms/secret/messages")),
    (405, "put-on-a-list", lambda s, c: c.put("/api/rooms")),
    (408, "slow-body", lambda s, c: slow_post(c, "/api/rooms/general/messages")),
    (413, "oversized-body", lambda s, c: oversized_post(c, "/api/rooms/general/messages", s.app)),
    (429, "exports-busy", lambda s, c: busy_export(s, c, "/api/rooms/general/export.csv")),
    (500, "a-bug", lambda s, c: c.get("/api/test-only/crash")),
    (503, "database-down", lambda s, c: while_database_gone(s, c, "/api/rooms")),
]
# Headers an error of this status must keep, whatever its form.
KEPT_HEADERS = {
    401: "WWW-Authenticate",
    405: "Allow",
    429: "Retry-After",
    503: "Retry-After",
}
# Where a traceback or Werkzeug's own page would show.
LEAKS = ("Traceback", "Werkzeug", "werkzeug", "RuntimeError", SECRET, 'File "', "psycopg")


def page_parts(html: str) -> dict:
    return {
        "title": re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S).group(1).strip(),
        "links": re.findall(r'<a class="button" href="([^"]+)"', html),
    }


def assert_error_page(response, status: int, way_back: str):
    """A page of the site (its header and nav) saying what happened, with a way back."""
    assert response.status_code == status, response.text[:300]
    assert response.mimetype == "text/html"
    html = response.text
    assert '<header class="top">' in html and 'nav aria-label="Account"' in html, html[:500]
    assert 'class="error-page card"' in html
    assert page_parts(html)["title"] == errors.PAGES[status].title
    assert errors.PAGES[status].happened.split("{")[0][:30] in html
    assert page_parts(html)["links"][0].startswith(way_back)
    assert "Content-Security-Policy" in response.headers  # the site's headers, as on any page
    for leak in LEAKS:
        assert leak not in html


@pytest.mark.parametrize(
    ("status", "case", "visit"), PAGE_CASES, ids=[f"{s}-{c}" for s, c, _ in PAGE_CASES]
)
def test_every_error_status_has_a_page_in_the_layout(site, status, case, visit):
    response = visit(site, site.client)
    # Logged in, the way back is the rooms list; the database being down, nobody can
    # tell who is logged in, so the page offers the login page.
    assert_error_page(response, status, "/login" if status in (401, 503) else "/rooms")
    if status in KEPT_HEADERS:
        assert response.headers.get(KEPT_HEADERS[status]), dict(response.headers)


@pytest.mark.parametrize(
    ("status", "case", "visit"), API_CASES, ids=[f"{s}-{c}" for s, c, _ in API_CASES]
)
def test_every_api_error_stays_json_with_the_same_codes(site, status, case, visit):
    response = visit(site, site.api)
    assert response.status_code == status, response.text[:300]
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == errors.API_CODES.get(status, "error")
    assert body["error"]["message"]
    if status in KEPT_HEADERS and status != 401:  # the API's 401 names no scheme
        assert response.headers.get(KEPT_HEADERS[status]), dict(response.headers)
    for leak in LEAKS:
        assert leak not in response.text


# Every error status Werkzeug knows: what abort() and Werkzeug's own parsing can raise.
ERROR_STATUSES = sorted(status for status in default_exceptions if status >= 400)
PROTOCOL_DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


@pytest.mark.parametrize("status", ERROR_STATUSES)
def test_every_error_status_has_its_own_documented_api_code(site, status):
    """Under /api/, each status answers the JSON shape with a code of its own (not a
    catch-all "error"), and docs/protocol.md lists it."""
    response = site.api.get(f"/api/test-only/status/{status}")
    assert response.status_code == status
    assert response.mimetype == "application/json"
    code = response.json["error"]["code"]
    assert code == errors.API_CODES[status] and code != "error"
    assert re.search(rf"^\| {status} \| `{code}` \|", PROTOCOL_DOC, re.MULTILINE), code


def test_no_two_statuses_share_an_api_code():
    assert len(set(errors.API_CODES.values())) == len(errors.API_CODES)


@pytest.mark.parametrize("status", ERROR_STATUSES)
def test_every_error_status_is_a_page_in_the_layout(site, status):
    response = site.client.get(f"/test-only/status/{status}")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert 'class="error-page card"' in response.text
    page = errors.PAGES.get(status, errors.OTHER_PAGE)
    assert page_parts(response.text)["title"] == page.title


def test_an_unknown_room_and_a_private_room_of_others_get_the_same_page(site):
    csrf = re.compile(r'name="csrf_token" value="[^"]+"')
    for route in ("/rooms/{}", "/rooms/{}/history", "/rooms/{}/export.jsonl"):
        unknown = site.client.get(route.format("nowhere"))
        private = site.client.get(route.format("secret"))
        assert unknown.status_code == private.status_code == 404
        assert csrf.sub("", unknown.text) == csrf.sub("", private.text)
        assert "secret" not in private.text and "mikasa" not in private.text


def test_what_the_code_said_is_kept_where_it_is_a_sentence_for_people(site):
    bad = site.client.get("/rooms/general/history?before=abc")
    assert "before must be a non-negative whole number." in bad.text
    member_only = site.client.get("/rooms/general/export.csv")
    assert "only members can export #general: join the room first." in member_only.text
    busy = busy_export(site, site.client, "/rooms/general/export.csv")
    assert f"Wait {export.RETRY_AFTER_SECONDS} seconds and try again." in busy.text


def test_a_page_behind_a_login_offers_the_login_and_a_way_back_here(app, client):
    response = client.get("/test-only/log-in-first?x=1")
    assert_error_page(response, 401, "/login")
    assert page_parts(response.text)["links"] == ["/login?next=/test-only/log-in-first?x%3D1"]
    assert response.headers["WWW-Authenticate"] == "Bearer realm=chat"


def test_error_pages_work_logged_out(client):
    for path, status in (("/no/such/page", 404), ("/logout", 405)):
        response = client.get(path)
        assert_error_page(response, status, "/login")
        assert "Log in" in response.text and "Log out" not in response.text


def test_a_bug_is_logged_once_with_its_traceback_and_never_shown(site, caplog):
    caplog.set_level(logging.INFO)
    for path in ("/test-only/crash", "/api/test-only/crash"):
        caplog.clear()
        response = site.client.get(path)
        assert response.status_code == 500
        for leak in LEAKS:
            assert leak not in response.text
        logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
        assert len(logged) == 1, [r.getMessage() for r in caplog.records]
        assert logged[0].levelno == logging.ERROR
        assert SECRET in caplog.text and "Traceback" in caplog.text


def test_the_database_going_away_is_a_503_page_with_the_header_logged_out(site, caplog):
    """The base template asks the database who is logged in; with it down, the page still
    renders (as for someone logged out) and says to try again later."""
    with database_gone(site):
        page = site.client.get("/rooms/general/history")
        api = site.api.post("/api/rooms/general/messages", json={"content": "hi"})
    assert_error_page(page, 503, "/login")
    assert page.headers["Retry-After"] == str(errors.DATABASE_RETRY_AFTER)
    assert "Try again in a moment." not in page.text
    assert f"Try again in {errors.DATABASE_RETRY_AFTER} seconds." in page.text
    assert api.status_code == 503
    assert api.json == {"error": {"code": "unavailable", "message": errors.API_DATABASE_DOWN}}
    assert "database unavailable" in caplog.text


def test_a_throttled_login_is_a_page_in_the_layout(site, app, db):
    """Login throttling answers 429 with the login form itself (chat/web/auth.py), which is in
    the layout and says to wait."""
    client = app.test_client()
    login = AuthActions(client)
    assert login.login("eren", "wrong guess").status_code == 400
    response = login.login("eren", "correct horse")
    assert response.status_code == 429
    assert '<header class="top">' in response.text
    assert "Too many failed logins. Try again in 15 minutes." in response.text


def test_a_throttled_login_says_when_to_retry(site, app):
    client = app.test_client()
    login = AuthActions(client)
    login.login("eren", "wrong guess")
    retry_after = int(login.login("eren", "correct horse").headers["Retry-After"])
    # Until the failures' window (LOGIN_WINDOW_SECONDS) closes, which began just now.
    assert (
        app.config["LOGIN_WINDOW_SECONDS"] - 5 <= retry_after <= app.config["LOGIN_WINDOW_SECONDS"]
    )


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Origin": "https://evil.example"}, 403)],
    ids=["no-login", "foreign-origin"],
)
def test_websocket_refusals_stay_short_plain_text(client, headers, status):
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    response = client.get("/ws/general", headers={**upgrade, **headers})
    assert response.status_code == status
    assert response.mimetype == "text/plain"
    assert response.text.startswith(f"{status} ") and response.text.count("\n") == 1


def test_a_csrf_failure_is_a_page_that_says_the_form_expired(site):
    response = site.client.post("/rooms", data={"name": "plans"})
    assert response.status_code == 400
    assert page_parts(response.text)["title"] == errors.CSRF_PAGE.title


def test_a_page_for_a_failure_never_fails(site, monkeypatch, caplog):
    """If even the layout cannot be rendered, the person still gets the status and a
    plain page saying what happened, and the log says why."""

    def broken(*args, **kwargs):
        raise RuntimeError("the template is broken")

    monkeypatch.setattr(errors, "render_template", broken)
    response = site.client.get("/rooms/nowhere")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert f"<h1>{errors.PAGES[404].title}</h1>" in response.text
    assert '<a href="/rooms">' in response.text
    assert "the 404 page could not be rendered" in caplog.text
