"""LOG_FORMAT=json on the real processes: gunicorn's lines and the app's (and a
bot's) are each one JSON object with time, level, pid, logger and message, and
the request, user and room where known."""

import json
from datetime import datetime

import pytest

from ..conftest import make_token, make_user
from ..servers import Client, bots_listening, http
from .observers import expect, wait_until

pytestmark = pytest.mark.e2e

REQUIRED = {"time", "level", "pid", "logger", "message"}


def json_lines(text: str) -> list[dict]:
    """Every line of a log as JSON; fails on the first line that is not an object
    with the required fields."""
    lines = []
    for number, line in enumerate(text.splitlines(), 1):
        entry = json.loads(line)
        assert isinstance(entry, dict), (number, line)
        assert REQUIRED <= entry.keys(), (number, line)
        datetime.fromisoformat(entry["time"])
        assert isinstance(entry["pid"], int)
        lines.append(entry)
    assert lines, "nothing was logged"
    return lines


def logged(process) -> list[dict]:
    """The whole log of a server or bot so far, its complete lines as JSON."""
    text = process.log_path.read_text()
    return json_lines(text[: text.rfind("\n") + 1]) if "\n" in text else []


def test_gunicorn_and_the_app_log_one_json_object_per_line(start_server, db):
    server = start_server(LOG_FORMAT="json", ACCESS_LOG="-")
    token = make_token(db, make_user(db, "historia"))
    api = http()
    rooms = api.get(
        f"{server.url}/api/rooms",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "edge-0123abcd"},
    )
    assert rooms.status_code == 200
    client = Client.open(server, "general", token)
    client.until("ready")
    client.send({"type": "chat", "content": "hello logs", "client_id": "log-1"})
    expect(client, type="ack", client_id="log-1")
    client.close()
    wait_until(lambda: "disconnect user=historia" in server.log(), "the disconnect line")
    assert server.stop() == 0
    lines = logged(server)

    loggers = {entry["logger"] for entry in lines}
    assert {"gunicorn.error", "gunicorn.access", "chat.realtime.client"} <= loggers
    assert any(e["message"].startswith("Starting gunicorn") for e in lines)
    assert any("LOG_FORMAT=json" in e["message"] for e in lines if e["logger"] == "gunicorn.error")
    connect = next(e for e in lines if e["message"].startswith("connect user=historia"))
    assert connect["user"] == "historia" and connect["room"] == "general"
    assert connect["level"] == "INFO"
    # An id of our own making (the socket's request sent none) ties its lines together.
    disconnect = next(e for e in lines if e["message"].startswith("disconnect user=historia"))
    assert disconnect["request_id"] == connect["request_id"]
    assert len(connect["request_id"]) == 32
    access = [e for e in lines if e["logger"] == "gunicorn.access"]
    assert any('"GET /api/rooms" 200' in e["message"] for e in access)
    assert "hello logs" not in server.log_path.read_text()  # what people type is never logged


def test_the_request_id_from_nginx_marks_the_lines_of_its_request(start_server, db):
    """nginx's X-Request-ID (deploy/nginx-site.conf sends $request_id) is the
    request_id of the lines logged while serving that request, here a socket's."""
    server = start_server(LOG_FORMAT="json")
    token = make_token(db, make_user(db, "ymir"))
    client = Client.open(
        server, "general", token, **{"X-Request-ID": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}
    )
    client.until("ready")
    line = wait_until(
        lambda: next(
            (e for e in logged(server) if e.get("request_id", "").startswith("0f1e")),
            None,
        ),
        "a line of the request",
    )
    assert line["user"] == "ymir" and line["room"] == "general"
    assert line["message"].startswith("connect user=ymir")
    client.close()


def test_a_bot_logs_json_too(start_bot, database_url):
    bot = start_bot(LOG_FORMAT="json")
    wait_until(lambda: bots_listening(database_url), "the bot to listen")
    bot.kill(15)
    lines = logged(bot)
    assert any(e["logger"].startswith("chat.bots") for e in lines)


def test_a_commands_output_is_alone_on_stdout_its_log_on_stderr():
    """`$(flask --app app list-users)` holds the command's output only: the log
    lines of a command (here the embedded PostgreSQL's start-up, initdb's output
    and all) go to stderr."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    # Outside pytest's 0700 tree: the embedded server runs as its own user.
    parent = Path(tempfile.mkdtemp(prefix="chat-cli-"))
    parent.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(PGDATA_DIR=str(parent / "pgdata"), SECRET_KEY="x")
    flask = Path(sys.executable).parent / "flask"
    try:
        done = subprocess.run(
            [str(flask), "--app", "app", "list-users"],
            capture_output=True,
            env=env,
            timeout=180,
            check=True,
        )
    finally:
        subprocess.run(["rm", "-rf", str(parent)], check=False)
    assert b"starting embedded PostgreSQL" in done.stderr
    assert b"PostgreSQL" not in done.stdout and b"INFO" not in done.stdout, done.stdout[:500]
