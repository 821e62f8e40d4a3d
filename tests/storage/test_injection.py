"""SQL injection (docs/security.md row 10): every query is a fixed SQL text with
placeholders, and hostile values through every parameter change nothing."""

import ast
from pathlib import Path
from urllib.parse import quote

import pytest

from ..conftest import csrf_token, make_token, make_user

CHAT = Path(__file__).resolve().parent.parent / "chat"

PAYLOADS = [
    "'; DROP TABLE messages; --",
    "' OR '1'='1",
    "1; UPDATE users SET disabled_at = now()",
    "general' UNION SELECT password_hash FROM users --",
    '" OR ""="',
    "1)) OR pg_sleep(5)--",
    "$$; DROP TABLE rooms; $$",
    "\\'; SELECT 1; --",
]


def snapshot(db) -> dict:
    """Row counts of every table, and every account's state."""
    tables = [
        r["tablename"]
        for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    ]
    counts = {t: db.execute(f'SELECT count(*) AS n FROM "{t}"').fetchone()["n"] for t in tables}
    users = db.execute(
        "SELECT id, username, password_hash, disabled_at FROM users ORDER BY id"
    ).fetchall()
    return {"counts": counts, "users": users}


@pytest.fixture
def token(db):
    return make_token(db, make_user(db, "eren"))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_values_in_urls_and_query_strings_change_nothing(client, db, token, payload):
    headers = {"Authorization": f"Bearer {token}"}
    before = snapshot(db)
    room = quote(payload, safe="")
    for url in [
        f"/api/rooms/{room}/messages",
        f"/api/rooms/general/messages?after={quote(payload)}",
        f"/api/rooms/general/messages?before={quote(payload)}",
        f"/api/rooms/general/messages?limit={quote(payload)}",
    ]:
        response = client.get(url, headers=headers)
        assert response.status_code in (400, 404), (url, response.status_code)
        assert response.json["error"]["code"] in ("bad_request", "not_found")
    assert snapshot(db) == before


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_message_text_is_stored_as_text(client, db, token, payload):
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post(
        "/api/rooms/general/messages",
        json={"content": payload, "client_id": payload[:60]},
        headers=headers,
    )
    assert response.status_code == 201
    stored = db.execute("SELECT content, client_id FROM messages").fetchall()
    assert stored == [{"content": payload, "client_id": payload[:60]}]
    assert db.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == 1


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_form_values_change_nothing(client, auth, db, payload):
    make_user(db, "eren", "correct horse")
    before = snapshot(db)
    # Login and registration with a hostile name: refused, nothing written
    # except the failed-login counters that a refusal is meant to write.
    assert auth.login(payload, "correct horse").status_code in (200, 400)  # no 302: not in
    assert auth.register(payload, "correct horse").status_code in (200, 400)
    after = snapshot(db)
    after["counts"].pop("login_failures", None)
    before["counts"].pop("login_failures", None)
    assert after == before
    # Logged in: a hostile room name to create, invite into, and invite.
    auth.login("eren", "correct horse")
    page = client.get("/rooms").text
    client.post("/rooms", data={"csrf_token": csrf_token(page), "name": payload})
    client.post("/rooms/general/invite", data={"csrf_token": csrf_token(page), "username": payload})
    response = client.get(f"/rooms/{quote(payload, safe='')}")
    assert response.status_code == 404
    assert (
        db.execute("SELECT count(*) AS n FROM rooms WHERE name = %s", (payload,)).fetchone()["n"]
        == 0
    )
    assert db.execute("SELECT username FROM users").fetchall() == [{"username": "eren"}]


def _module_strings(tree: ast.Module, known: set[str]) -> set[str]:
    """Module-level names bound to a string literal, or a concatenation of literals,
    names bound so earlier, and constants of other modules (`known`, by name or as
    `module.NAME`)."""

    def literal(node) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str)
        if isinstance(node, ast.Name):
            return node.id in names or node.id in known
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return node.attr in known
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return literal(node.left) and literal(node.right)
        return False

    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and literal(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _fixed_sql(node, constants: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Name):
        return node.id in constants
    if isinstance(node, ast.JoinedStr):  # f"LISTEN {CHANNEL}": constants only
        return all(
            isinstance(v, ast.Constant)
            or (isinstance(v, ast.FormattedValue) and _fixed_sql(v.value, constants))
            for v in node.values
        )
    return False


def test_every_query_in_chat_is_fixed_text():
    """The first argument of every execute() is a literal or a module constant;
    values only ever travel as parameters. Migrations are files in the repository."""
    trees = {path: ast.parse(path.read_text()) for path in sorted(CHAT.rglob("*.py"))}
    # Constants are imported between modules under their own names; one built
    # from another module's is found once that one is (until nothing new is).
    constants: set[str] = set()
    while True:
        found = set().union(*(_module_strings(tree, constants) for tree in trees.values()))
        if found <= constants:
            break
        constants |= found
    offenders = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("execute", "executemany", "copy")
                and node.args
            ):
                continue
            query = node.args[0]
            if path.name == "migrate.py" and ast.unparse(query) == "path.read_text()":
                continue
            if not _fixed_sql(query, constants):
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(query)}")
    assert offenders == []
