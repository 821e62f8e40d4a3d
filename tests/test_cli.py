"""The commands a newcomer types, run as real processes: `flask --app app ...`."""

import os
import subprocess
import sys
from pathlib import Path

from .servers import ROOT

FLASK = Path(sys.executable).parent / "flask"


def flask(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [str(FLASK), "--app", "app", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_create_user_then_token_gives_a_working_bearer_token(database_url, app):
    made = flask(database_url, "create-user", "levi", stdin="tidy and clean\n")
    assert made.returncode == 0, made.stderr
    assert "created user levi" in made.stdout

    token = flask(database_url, "create-token", "levi")
    assert token.returncode == 0, token.stderr
    token = token.stdout.strip().splitlines()[-1]
    response = app.test_client().get("/api/rooms", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert "general" in [r["name"] for r in response.json["rooms"]]


def test_create_user_refuses_a_short_password_and_a_taken_name(database_url):
    short = flask(database_url, "create-user", "hange", stdin="short\n")
    assert short.returncode != 0
    assert "password must be" in short.stderr
    assert flask(database_url, "create-user", "hange", stdin="long enough\n").returncode == 0
    taken = flask(database_url, "create-user", "HANGE", stdin="long enough\n")
    assert taken.returncode != 0
    assert "taken" in taken.stderr


def test_migrate_command_reports_nothing_pending_on_a_migrated_database(database_url):
    result = flask(database_url, "migrate")
    assert result.returncode == 0, result.stderr
    assert "none pending" in result.stdout


def test_the_gunicorn_master_never_imports_psycopg():
    """psycopg must be first imported after gevent patches a worker (DESIGN §7)."""
    check = (
        "import runpy, sys\n"
        "runpy.run_path('gunicorn.conf.py')\n"
        "import chat, chat.config, chat.storage.pgserver\n"
        "assert 'psycopg' not in sys.modules, 'psycopg imported in the master'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_make_run_supervisor_never_imports_psycopg():
    """`python -m chat.run` starts the database, gunicorn and the bots; like gunicorn's
    master it has no use for psycopg (DESIGN §7)."""
    check = "import sys, chat.run\nassert 'psycopg' not in sys.modules, 'psycopg imported'\n"
    result = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_stock_bot_refuses_settings_that_cannot_work(database_url):
    result = subprocess.run(
        [str(FLASK), "--app", "app", "stock-bot"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "STOCK_QUOTE_URL": "ftp://x/{symbol}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "STOCK_QUOTE_URL must be an http(s) URL" in result.stderr
