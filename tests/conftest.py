"""Shared fixtures: a real PostgreSQL, a fresh database per test, the app, real servers.

The PostgreSQL is the embedded one (instance/test-pgdata) unless TEST_DATABASE_URL
names another server; the role must be allowed to create databases. Each test
gets its own database cloned from a migrated template, so tests never share rows.
Fixtures only the end-to-end or the browser tests use are in tests/e2e/conftest.py
and tests/browser/conftest.py.
"""

import contextlib
import os
import queue
import re
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import settings

# Property-based tests: in `make test` a fixed seed (derandomize) and a bounded
# example count, no example database, so every run tries the same inputs;
# `make fuzz` (HYPOTHESIS_PROFILE=long) tries many more.
settings.register_profile("ci", derandomize=True, max_examples=150, deadline=None, database=None)
settings.register_profile("long", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Before chat.config reads it: tests must not write instance/secret_key.
os.environ.setdefault("SECRET_KEY", "test-secret-key")

import orjson  # noqa: E402
import psycopg  # noqa: E402
from psycopg import conninfo as pg_conninfo  # noqa: E402
from psycopg import sql  # noqa: E402

from chat import actions  # noqa: E402
from chat.domain.entities import Room, User  # noqa: E402
from chat.factory import create_app as _create_app  # noqa: E402
from chat.storage import migrate  # noqa: E402
from chat.web.forms import csrf as _csrf  # noqa: E402,F401

ROOT = Path(__file__).resolve().parent.parent
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_part(reason: str):
    """A real part is unreachable: fail under CI, skip loudly on a developer machine."""
    if CI:
        pytest.fail(f"CI=true and a real part is missing: {reason}")
    pytest.skip(f"!!! SKIPPED (CI is not set), real part missing: {reason}")


@pytest.fixture(scope="session")
def pg_server() -> str:
    """conninfo of a PostgreSQL server we may create databases on."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        try:
            from chat.storage import pgserver

            url = pgserver.ensure_running(ROOT / "instance" / "test-pgdata")
        except Exception as exc:  # the embedded server could not start here
            missing_part(f"embedded PostgreSQL did not start: {exc}")
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        missing_part(f"cannot connect to {url}: {exc}")
    return url


def drop_database(conn, name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _with_db(url: str, dbname: str) -> str:
    return pg_conninfo.make_conninfo(url, dbname=dbname)


@pytest.fixture(scope="session")
def template_db(pg_server):
    """A migrated database that every test's database is cloned from."""
    name = f"chat_template_{os.getpid()}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        drop_database(conn, name)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate.migrate(_with_db(pg_server, name))
    yield name
    with psycopg.connect(pg_server, autocommit=True) as conn:
        drop_database(conn, name)


@contextlib.contextmanager
def cloned_database(pg_server: str, template_db: str, prefix: str = "chat_test"):
    """A fresh copy of the migrated template, named `<prefix>_<random>`: yields its
    conninfo, drops it afterwards. For a module's own database (grown tables,
    one server for the module), and each test's."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    try:
        yield _with_db(pg_server, name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            drop_database(conn, name)


@pytest.fixture
def database_url(pg_server, template_db):
    """A fresh, migrated database for this test only; dropped afterwards."""
    with cloned_database(pg_server, template_db) as url:
        yield url


@contextlib.contextmanager
def events_heard(database_url: str):
    """The events announced on bus.EVENTS_CHANNEL while the block runs, in
    order (chat.storage.bus.Ephemeral), filled in when the block ends."""
    from chat.storage import bus

    found: list = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {bus.EVENTS_CHANNEL}")
        yield found
        conn.execute("SELECT pg_notify(%s, '0 0 end')", (bus.EVENTS_CHANNEL,))
        for notify in conn.notifies(timeout=10):
            event = bus.decode_ephemeral(notify.payload)
            if event.frames == ("end",):
                break
            found.append(event)


@pytest.fixture
def db(database_url):
    """A plain connection to the test database (autocommit), for setup and checks."""
    with psycopg.connect(database_url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        yield conn


@pytest.fixture
def app(database_url):
    app = _create_app({"TESTING": True, "DATABASE_URL": database_url, "MIGRATE_ON_START": False})
    yield app
    from chat.factory import close_app

    close_app(app)


@pytest.fixture
def make_app(database_url):
    """Apps on this test's database with extra config, like separate workers; closed after."""
    apps = []

    def make(**config):
        app = _create_app(
            {"TESTING": True, "DATABASE_URL": database_url, "MIGRATE_ON_START": False, **config}
        )
        apps.append(app)
        return app

    yield make
    from chat.factory import close_app

    for app in apps:
        close_app(app)


@pytest.fixture(scope="session", autouse=True)
def _api_contract():
    """Every Flask test client checks its /api/ answers against the OpenAPI
    description, and every websockets client the frames it receives against the
    frame schemas (tests/contract.py): the API and the protocol stay as
    documented. (requests sessions: tests/servers.py `http()`.)"""
    from flask import Flask
    from websockets.sync.connection import Connection

    from .contract import ContractClient, check_server_frame

    receive = Connection.recv

    def checked_recv(self, *args, **kwargs):
        data = receive(self, *args, **kwargs)
        if isinstance(data, str):  # a text frame (decode=False gives bytes: left alone)
            check_server_frame(data, "a websockets client")
        return data

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "test_client_class", ContractClient)
        patch.setattr(Connection, "recv", checked_recv)
        yield


@pytest.fixture(autouse=True)
def _no_contract_mismatch(request):
    """Fail a test that received an answer or a frame breaking the description,
    even if it caught the AssertionError the client raised, or the frame went to
    an in-process socket (whose writer is the server's thread, not the test's)."""
    from .contract import mismatches

    seen = len(mismatches)
    yield
    rep = getattr(request.node, "rep_call", None)
    if len(mismatches) > seen and rep is not None and rep.passed:
        pytest.fail("\n".join(mismatches[seen:]))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def run_concurrently(func, starters: int) -> tuple[list, list]:
    """Call func from `starters` threads released together; return (results, errors)."""
    barrier = threading.Barrier(starters)
    results, errors = [], []

    def start():
        barrier.wait()
        try:
            results.append(func())
        except BaseException as exc:  # SystemExit too: the caller asserts on it
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results, errors


def make_user(db, username: str = "eren", password: str = "correct horse") -> User:
    """An account created through the real action; returns its User."""
    with db.transaction():
        return actions.create_user(db, username, password)


def make_token(db, user: User) -> str:
    return actions.create_token(db, user.id)


@pytest.fixture
def eren(db) -> User:
    """Two people, for tests about who may do what to whose messages."""
    return make_user(db, "eren")


@pytest.fixture
def mikasa(db) -> User:
    return make_user(db, "mikasa")


_DB_STATE = """
    SELECT (SELECT count(*) FROM users) AS users,
           (SELECT count(*) FROM api_tokens) AS tokens,
           (SELECT count(*) FROM user_sessions) AS sessions,
           (SELECT count(*) FROM rooms) AS rooms,
           (SELECT coalesce(sum(last_seq), 0) FROM rooms) AS seqs,
           (SELECT count(*) FROM room_members) AS members,
           (SELECT coalesce(sum(last_read_seq), 0) FROM room_members) AS read,
           (SELECT count(*) FROM messages) AS messages,
           (SELECT coalesce(sum(length(content)), 0) FROM messages) AS text,
           (SELECT count(*) FROM message_versions) AS versions,
           (SELECT count(*) FROM reactions) AS reactions,
           (SELECT count(*) FROM mentions) AS mentions,
           (SELECT count(*) FROM bot_jobs) AS jobs
"""


def db_state(db) -> dict:
    """What a refused request must leave as it was: the size of every table people
    change (login_failures and rate_buckets record refused requests on purpose)."""
    return db.execute(_DB_STATE).fetchone()


SQL_ROOM = """
    SELECT id, name, is_private, is_direct, created_by, last_seq, topic, archived_at
    FROM rooms WHERE name = %s
"""


def room_row(db, name: str = "general") -> Room | None:
    """The Room of that name, as the reads give it (its last_seq as of now); None
    if there is none."""
    row = db.execute(SQL_ROOM, (name,)).fetchone()
    return Room.from_row(row) if row else None


def send_as(db, user: User, text: str, room: str = "general", kind: str = "chat") -> int:
    """Send through the real action; the message's seq."""
    return actions.send_message(db, room_row(db, room), user, text, None, kind).seq


def add_event(db, user: User, kind: str, target: int, content: str, room: str = "general") -> int:
    """An edit/delete/reaction event row written directly, as migration 0006 describes
    them (tests of readers that must skip or show events); the event's seq."""
    row = db.execute(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE name = %s RETURNING id, last_seq",
        (room,),
    ).fetchone()
    db.execute(
        "INSERT INTO messages (room_id, seq, user_id, content, kind, target_seq)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (row["id"], row["last_seq"], user.id, content, kind, target),
    )
    return row["last_seq"]


_CSRF = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


# A page's CSRF tokens: each carries the second it was made (itsdangerous).
_CSRF_VALUES = re.compile(rb'(name="csrf_token" value="|<meta name="csrf-token" content=")[^"]*')


def tokens_blanked(page: bytes) -> bytes:
    """A page's bytes with its CSRF tokens blanked, for "word for word the same
    page" comparisons of two answers (their tokens differ when a second passes
    between them)."""
    return _CSRF_VALUES.sub(rb"\1", page)


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


class AuthActions:
    """Log a test client in and out through the real forms, CSRF tokens included."""

    def __init__(self, client):
        self._client = client

    def register(self, username="eren", password="correct horse", follow=False):
        token = csrf_token(self._client.get("/register").text)
        return self._client.post(
            "/register",
            data={
                "csrf_token": token,
                "username": username,
                "password": password,
                "confirm": password,
            },
            follow_redirects=follow,
        )

    def login(self, username="eren", password="correct horse", next_=None):
        token = csrf_token(self._client.get("/login").text)
        url = "/login" + (f"?next={next_}" if next_ is not None else "")
        return self._client.post(
            url, data={"csrf_token": token, "username": username, "password": password}
        )

    def logout(self):
        token = csrf_token(self._client.get("/rooms").text)
        return self._client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def start_server(database_url, tmp_path, request):
    """Start real gunicorn servers (on the test database unless told another);
    every one is killed at teardown, and its log printed if the test failed."""
    from .servers import Gunicorn

    started: list = []

    def start(workers: int = 2, database: str | None = None, **env: str) -> Gunicorn:
        # Tests open many sockets as one user to land on both workers; the cap
        # has its own test (tests/e2e/test_security_e2e.py).
        env.setdefault("MAX_SOCKETS_PER_USER", "1000")
        log = tmp_path / f"gunicorn-{len(started)}.log"
        server = Gunicorn(database or database_url, log, workers, **env)
        started.append(server)
        return server.start()

    yield start
    failed = request.node.rep_call.failed if hasattr(request.node, "rep_call") else False
    for server in started:
        if failed:
            print(f"--- {server.log_path} ---\n{server.log()}")
        server.kill()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report as item.rep_<phase>, so fixtures can see a failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def quotes():
    """A local HTTP server answering stooq-style quote CSVs (tests/quotes.py)."""
    from .quotes import QuoteServer

    server = QuoteServer()
    yield server
    server.close()


# --- a ClientSession in-process, with a socket that scripts the client side ------------


class ScriptedSocket:
    """Feeds the session frames from a queue and records what it sends and how it closes."""

    def __init__(self):
        self.inbox: queue.Queue = queue.Queue()
        self.sent: list[dict] = []
        self.closed_with: int | None = None
        self._cond = threading.Condition()

    # Put in the inbox: the client has gone (receive raises PeerClosed).
    GONE = object()

    def receive(self, timeout=None):
        from chat.realtime.peer import PeerClosed

        item = self.inbox.get()
        if item is self.GONE:
            raise PeerClosed()
        return item

    def send(self, text: str) -> None:
        from .contract import check_server_frame

        check_server_frame(text, "an in-process socket", raise_=False)
        with self._cond:
            self.sent.append(orjson.loads(text))
            self._cond.notify_all()

    def close(self, reason=None, message=None) -> None:
        with self._cond:
            self.closed_with = reason
            self._cond.notify_all()
        self.inbox.put(self.GONE)

    def wait_for(self, predicate, timeout: float = 15.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self), timeout), self.sent[-3:]


@pytest.fixture
def realtime(database_url):
    """This worker's shared real-time parts (hub, presence, writer) on the test database."""
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    from chat.config import load
    from chat.realtime.service import Realtime, Settings

    pool = ConnectionPool(
        database_url, kwargs={"row_factory": dict_row}, min_size=1, max_size=4, open=True
    )
    # A close is recorded at once here: the grace (PRESENCE_GRACE) has its own
    # tests (tests/actions/test_person_presence.py, the e2e defaults check).
    config = {**load(), "DATABASE_URL": database_url, "PRESENCE_GRACE": 0.0}
    rt = Realtime(Settings.from_config(config), pool)
    yield rt
    rt.stop()
    pool.close()
