"""Exports (chat/web/export.py): the two formats, CSV quoting and the formula guard, who may
export (docs/security.md row 4), and streaming: a 200,000-row room arrives whole and in
order while the server holds one batch, and the connection goes back to the pool
when the client leaves mid-download."""

import csv
import io
import time
import tracemalloc

import orjson
import psycopg
import pytest

from chat import actions
from chat.web import export

from ..conftest import (
    add_event,
    cloned_database,
    make_token,
    make_user,
    room_row,
    send_as,
)

STATE_OF_EXPORTS = """
    SELECT count(*) AS n FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
      AND state <> 'idle' AND query LIKE '%%room_export%%'
"""


@pytest.fixture
def eren(db):
    user = make_user(db, "eren")
    actions.join_room(db, room_row(db).id, user.id)
    return user


@pytest.fixture
def headers(db, eren) -> dict:
    return {"Authorization": f"Bearer {make_token(db, eren)}"}


send = send_as


def exports_running(db) -> int:
    return db.execute(STATE_OF_EXPORTS).fetchone()["n"]


# A formula, commas, quotes, a line break and non-ASCII text in one message.
TRICKY = '=HYPERLINK("http://evil.example","click"), "quoted"\nnew line; ünïcødé'


@pytest.fixture
def history(db, eren):
    """A chat, an action, an edited message, a deleted one, and events between them."""
    mikasa = make_user(db, "mikasa")
    send(db, eren, "hello, world")  # 1
    send(db, mikasa, "waves", kind="action")  # 2
    send(db, eren, "first draft")  # 3
    db.execute(
        "UPDATE messages SET content = 'second draft', edited_at = '2026-11-25 13:00:00.5+00'"
        " WHERE seq = 3"
    )
    add_event(db, eren, "edit", 3, "second draft")  # 4
    add_event(db, mikasa, "reaction_add", 1, "👍")  # 5
    send(db, mikasa, "a secret I regret")  # 6
    db.execute("UPDATE messages SET content = '', html = '', deleted_at = now() WHERE seq = 6")
    add_event(db, mikasa, "delete", 6, "")  # 7
    send(db, eren, TRICKY)  # 8


# --- the formats ---------------------------------------------------------------


def test_json_lines(client, headers, history):
    response = client.get("/api/rooms/general/export.jsonl", headers=headers, buffered=True)

    assert response.status_code == 200
    assert response.content_type == "application/jsonl"
    assert response.headers["Content-Disposition"] == "attachment; filename=general.jsonl"
    assert response.headers["Cache-Control"] == "no-store"
    rows = [orjson.loads(line) for line in response.data.splitlines()]
    assert [
        (r["seq"], r["username"], r["kind"], r["content"], r["edited_at"], r["deleted"])
        for r in rows
    ] == [
        (1, "eren", "chat", "hello, world", None, False),
        (2, "mikasa", "action", "waves", None, False),
        (3, "eren", "chat", "second draft", "2026-11-25T13:00:00.500Z", False),
        (6, "mikasa", "chat", None, None, True),
        (8, "eren", "chat", TRICKY, None, False),
    ]
    assert all(set(r) == set(export.COLUMNS) for r in rows)
    assert all(r["time"].endswith("Z") and len(r["time"]) == 24 for r in rows)


def test_csv_with_quoting_and_the_formula_guard(client, headers, history):
    response = client.get("/api/rooms/general/export.csv", headers=headers, buffered=True)

    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == "attachment; filename=general.csv"
    rows = list(csv.reader(io.StringIO(response.data.decode(), newline="")))
    assert rows[0] == list(export.COLUMNS)
    assert [(r[0], r[2], r[3], r[4], r[5], r[6]) for r in rows[1:]] == [
        ("1", "eren", "chat", "hello, world", "", "false"),
        ("2", "mikasa", "action", "waves", "", "false"),
        ("3", "eren", "chat", "second draft", "2026-11-25T13:00:00.500Z", "false"),
        ("6", "mikasa", "chat", "", "", "true"),
        ("8", "eren", "chat", "'" + TRICKY, "", "false"),
    ]
    assert b"regret" not in response.data


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1 for that idea", "'-1 for that idea"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=b", "a=b"),
        ("1+1", "1+1"),
        ("", ""),
    ],
)
def test_the_formula_guard(cell, written):
    assert export.spreadsheet_safe(cell) == written


def test_an_empty_room(client, db, eren, headers):
    assert client.get("/api/rooms/general/export.jsonl", headers=headers, buffered=True).data == b""
    assert client.get("/api/rooms/general/export.csv", headers=headers, buffered=True).data == (
        b"seq,time,username,kind,content,edited_at,deleted,reactions,files,thread,also_in_room,quote\r\n"
    )


# --- who may export ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_private_room_is_404_to_a_non_member_like_a_missing_room(client, db, headers, fmt):
    levi = make_user(db, "levi")
    actions.create_room(db, "plans", levi.id, is_private=True)
    send(db, levi, "the plan", room="plans")
    hidden = client.get(f"/api/rooms/plans/export.{fmt}", headers=headers, buffered=True)
    missing = client.get(f"/api/rooms/nosuchroom/export.{fmt}", headers=headers, buffered=True)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json == missing.json
    # A member may.
    member = client.get(
        f"/api/rooms/plans/export.{fmt}",
        headers={"Authorization": f"Bearer {make_token(db, levi)}"},
    )
    assert member.status_code == 200 and b"the plan" in member.data


def test_a_public_room_needs_joining_first(client, db, eren):
    levi = make_user(db, "levi")
    send(db, eren, "hello")
    levi_headers = {"Authorization": f"Bearer {make_token(db, levi)}"}
    refused = client.get("/api/rooms/general/export.csv", headers=levi_headers, buffered=True)
    assert refused.status_code == 403
    assert refused.json["error"] == {
        "code": "forbidden",
        "message": "only members can export #general: join the room first",
    }
    actions.join_room(db, room_row(db).id, levi.id)
    assert (
        client.get("/api/rooms/general/export.csv", headers=levi_headers, buffered=True).status_code
        == 200
    )


def test_the_session_routes(client, auth, db, eren, history):
    assert client.get("/rooms/general/export.csv").status_code == 302  # to the login page
    assert client.get("/api/rooms/general/export.csv").status_code == 401
    auth.login("eren")
    for fmt in ("jsonl", "csv"):
        response = client.get(f"/rooms/general/export.{fmt}", buffered=True)
        assert response.status_code == 200
        assert b"second draft" in response.data
    assert client.get("/rooms/general/export.xml").status_code == 404


# --- streaming -----------------------------------------------------------------------


def test_a_client_leaving_mid_download_gives_the_connection_back(app, client, db, headers, eren):
    db.execute(
        "INSERT INTO messages (room_id, seq, user_id, content)"
        " SELECT 1, g, %s, 'x' FROM generate_series(1, %s) g",
        (eren.id, export.FETCH_ROWS * 2),
    )
    response = client.get("/api/rooms/general/export.jsonl", headers=headers, buffered=False)
    chunks = iter(response.response)
    assert next(chunks).count(b"\n") == export.FETCH_ROWS
    assert exports_running(db) == 1  # the cursor's transaction is open
    response.close()  # what the server does when the client goes away
    assert exports_running(db) == 0
    stats = app.extensions["db_pool"].get_stats()
    assert stats["pool_available"] == stats["pool_size"]


def test_exports_beyond_the_per_worker_limit_get_429(client, db, headers, history):
    held = [
        client.get("/api/rooms/general/export.csv", headers=headers, buffered=False)
        for _ in range(export.MAX_EXPORTS_PER_WORKER)
    ]
    assert all(r.status_code == 200 for r in held)
    busy = client.get("/api/rooms/general/export.csv", headers=headers, buffered=True)
    assert busy.status_code == 429
    assert busy.json["error"]["code"] == "too_many_requests"
    assert busy.headers["Retry-After"] == str(export.RETRY_AFTER_SECONDS)
    for response in held:
        response.close()
    assert (
        client.get("/api/rooms/general/export.csv", headers=headers, buffered=True).status_code
        == 200
    )


# --- a large room ----------------------------------------------------------------------

BIG_ROWS = 200_000
# Every tenth row is an event (a reaction), which the export leaves out.
BIG_EXPECTED = [seq for seq in range(1, BIG_ROWS + 1) if seq % 10]
SQL_FILL_BIG_ROOM = """
    INSERT INTO messages (room_id, seq, user_id, content, kind, target_seq, created_at)
    SELECT 1, g, %(user_id)s,
           CASE WHEN g %% 10 = 0 THEN '👍'
                ELSE 'message ' || g || ': some words, "quotes", and =a formula-like start' END,
           CASE WHEN g %% 10 = 0 THEN 'reaction_add' ELSE 'chat' END,
           CASE WHEN g %% 10 = 0 THEN g - 1 END,
           timestamptz '2026-11-25 00:00:00+00' + g * interval '1 millisecond'
    FROM generate_series(1, %(rows)s) g
"""


@pytest.fixture(scope="module")
def big_room(pg_server, template_db):
    """A database whose #general holds 200,000 rows, shared by this module's large tests."""
    with cloned_database(pg_server, template_db, "chat_big") as url:
        with psycopg.connect(url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
            user = make_user(conn, "eren")
            conn.execute(SQL_FILL_BIG_ROOM, {"user_id": user.id, "rows": BIG_ROWS})
            conn.execute("UPDATE rooms SET last_seq = %s WHERE id = 1", (BIG_ROWS,))
            actions.join_room(conn, 1, user.id)
            token = make_token(conn, user)
        yield url, token


def test_a_200k_row_room_streams_whole_in_order_in_bounded_memory(big_room):
    from chat.factory import close_app, create_app

    url, token = big_room
    app = create_app({"TESTING": True, "DATABASE_URL": url, "MIGRATE_ON_START": False})
    try:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        expected = iter(BIG_EXPECTED)
        received, payload, rest = 0, 0, b""
        tracemalloc.start()
        try:
            response = client.get("/rooms/general/export.jsonl", headers=headers, buffered=False)
            assert response.status_code == 200
            for chunk in response.response:
                payload += len(chunk)
                *lines, rest = (rest + chunk).split(b"\n")
                for line in lines:
                    assert orjson.loads(line)["seq"] == next(expected)
                    received += 1
            response.close()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        close_app(app)
    assert rest == b""
    assert received == len(BIG_EXPECTED)
    assert next(expected, None) is None
    # The export is ~34 MB; the process (server side and this test's parsing)
    # held about one batch of rows and its encoding at a time: ~3 MB measured.
    # Holding the output would take the payload's size, and holding the rows as
    # Python objects (fetchall) several times that.
    assert payload > 30_000_000
    assert peak < payload / 5, (peak, payload)


@pytest.mark.e2e
def test_a_200k_row_csv_export_through_gunicorn(big_room, start_server):
    from ..servers import http

    url, token = big_room
    server = start_server(workers=1, database=url)
    session = http()
    session.headers["Authorization"] = f"Bearer {token}"
    export_url = f"{server.url}/api/rooms/general/export.csv"

    with psycopg.connect(url, autocommit=True, row_factory=psycopg.rows.dict_row) as db:
        # Clients that leave mid-download, more of them than the export slots:
        # each one's connection and slot come back.
        for _ in range(export.MAX_EXPORTS_PER_WORKER + 1):
            response = session.get(export_url, stream=True, timeout=30)
            assert response.status_code == 200
            assert len(response.raw.read(100_000)) == 100_000
            wait_until(lambda: exports_running(db) == 1)  # the cursor is open, paused
            response.close()
            wait_until(lambda: exports_running(db) == 0)

        response = session.get(export_url, stream=True, timeout=60)
        assert response.status_code == 200
        assert response.headers["Content-Disposition"] == "attachment; filename=general.csv"
        lines = (line.decode() for line in response.iter_lines(chunk_size=65536))
        reader = csv.reader(lines)
        assert next(reader) == list(export.COLUMNS)
        count = 0
        for row, seq in zip(reader, BIG_EXPECTED, strict=True):
            assert int(row[0]) == seq
            assert row[4] == f'message {seq}: some words, "quotes", and =a formula-like start'
            count += 1
        assert count == len(BIG_EXPECTED)
        wait_until(lambda: exports_running(db) == 0)


def wait_until(condition, timeout: float = 20.0) -> None:
    """Poll another process's state (the server's PostgreSQL backend): no event to await."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_edits_deletions_and_reactions_through_the_real_actions(client, db, eren, headers):
    room = room_row(db)
    edited = send(db, eren, "first")
    deleted = send(db, eren, "gone soon")
    actions.edit_message(db, room, eren, edited, "second")
    actions.toggle_reaction(db, room, eren, edited, "👍")
    actions.delete_message(db, room, eren, deleted)

    body = client.get("/api/rooms/general/export.jsonl", headers=headers, buffered=True).data
    rows = [orjson.loads(line) for line in body.splitlines()]
    assert [(r["seq"], r["content"], r["edited_at"] is not None, r["deleted"]) for r in rows] == [
        (edited, "second", True, False),
        (deleted, None, False, True),
    ]
