"""The commands a newcomer types, run as real processes: `flask --app app ...`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


# --- an operator's account administration (through the CLI runner, real database) ---


def bearer(app, token: str) -> int:
    return (
        app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code
    )


def admin(runner, *args: str):
    """The command's result; a failure is click's one line, never a traceback."""
    result = runner.invoke(args=list(args))
    assert "Traceback" not in result.output
    return result


def test_list_users_shows_state_admin_sessions_and_tokens(runner, db):
    from chat import actions

    from .conftest import make_token, make_user

    eren, mikasa = make_user(db, "eren"), make_user(db, "mikasa")
    make_token(db, eren)
    make_token(db, eren)
    actions.start_session(db, eren.id, "curl/8")
    actions.disable_user(db, mikasa.id)
    actions.set_admin(db, mikasa.id, True)
    result = admin(runner, "list-users")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert rows["eren"][-4:] == ["enabled", "no", "1", "2"]
    assert rows["mikasa"][-4:] == ["disabled", "yes", "0", "0"]
    only = admin(runner, "list-users", "--admins").output.splitlines()[1:]
    assert [line.split()[0] for line in only] == ["mikasa"]


def test_list_and_revoke_one_token_then_all(runner, db, app):
    from chat import actions

    from .conftest import make_user

    eren = make_user(db, "eren")
    first = actions.new_token(db, eren.id, "ci")
    second = actions.new_token(db, eren.id, "laptop")
    third = actions.new_token(db, eren.id, None)
    listed = admin(runner, "list-tokens", "EREN")
    assert listed.exit_code == 0, listed.output
    assert "ci" in listed.output and "laptop" in listed.output
    assert first.token not in listed.output  # only ids and names, never the secrets
    assert [int(line.split()[0]) for line in listed.output.splitlines()[1:]] == [
        third.listing.id,
        second.listing.id,
        first.listing.id,
    ]

    revoked = admin(runner, "revoke-token", "eren", str(first.listing.id))
    assert revoked.exit_code == 0 and f"revoked token {first.listing.id}" in revoked.output
    assert bearer(app, first.token) == 401 and bearer(app, second.token) == 200
    everything = admin(runner, "revoke-token", "eren", "--all")
    assert "revoked 2 token(s)" in everything.output
    assert bearer(app, second.token) == 401 and bearer(app, third.token) == 401


def test_list_and_revoke_one_session_then_all(runner, db):
    from chat import actions

    from .conftest import make_user

    eren = make_user(db, "eren")
    phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"
    for agent in (phone, "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko Firefox/120.0", None):
        actions.start_session(db, eren.id, agent)
    listed = admin(runner, "list-sessions", "eren")
    assert listed.exit_code == 0, listed.output
    assert "Firefox on Linux" in listed.output and "Unknown browser" in listed.output
    ids = [int(line.split()[0]) for line in listed.output.splitlines()[1:]]
    assert len(ids) == 3

    assert admin(runner, "revoke-session", "eren", str(ids[0])).exit_code == 0
    left = db.execute("SELECT id FROM user_sessions WHERE user_id = %s", (eren.id,)).fetchall()
    assert sorted(row["id"] for row in left) == sorted(ids[1:])
    assert "logged out 2 session(s)" in admin(runner, "revoke-session", "eren", "--all").output
    assert db.execute("SELECT 1 FROM user_sessions").fetchall() == []


def test_promote_and_demote(runner, db):
    from .conftest import make_user

    make_user(db, "hange")

    def is_admin() -> bool:
        return db.execute("SELECT is_admin FROM users WHERE username = 'hange'").fetchone()[
            "is_admin"
        ]

    assert not is_admin()
    assert "hange is now an administrator" in admin(runner, "promote", "hange").output
    assert is_admin()
    assert "already an administrator" in admin(runner, "promote", "Hange").output
    assert "hange is now not an administrator" in admin(runner, "demote", "hange").output
    assert not is_admin()


@pytest.mark.parametrize(
    "args, error",
    [
        (["list-tokens", "nobody"], "Error: no user named 'nobody'"),
        (["list-sessions", "nobody"], "Error: no user named 'nobody'"),
        (["promote", "nobody"], "Error: no user named 'nobody'"),
        (["demote", "nobody"], "Error: no user named 'nobody'"),
        (["revoke-token", "nobody", "1"], "Error: no user named 'nobody'"),
        (["revoke-token", "levi", "999999"], "Error: levi has no API token with id 999999"),
        (["revoke-token", "levi"], "Error: give a TOKEN_ID (see list-tokens) or --all"),
        (["revoke-token", "levi", "1", "--all"], "Error: give a TOKEN_ID"),
        (["revoke-token", "levi", "0"], "Error: Invalid value for '[TOKEN_ID]'"),
        (["revoke-session", "levi", "999999"], "Error: levi has no session with id 999999"),
        (["revoke-session", "levi"], "Error: give a SESSION_ID (see list-sessions) or --all"),
        (["revoke-session", "levi", "x"], "Error: Invalid value for '[SESSION_ID]'"),
        (["promote", "le\x00vi"], "Error: Invalid value for 'USERNAME'"),
    ],
)
def test_admin_commands_fail_with_one_line(runner, db, args, error):
    """Unknown people, ids and arguments: click's one line and a non-zero exit."""
    from chat import actions

    from .conftest import make_user

    make_user(db, "levi")
    other = make_user(db, "erwin")
    actions.new_token(db, other.id, "theirs")
    result = admin(runner, *args)
    assert result.exit_code != 0
    assert error in result.output, result.output


def test_someone_elses_token_is_not_revoked_by_naming_another_user(runner, db, app):
    from chat import actions

    from .conftest import make_user

    make_user(db, "levi")
    theirs = actions.new_token(db, make_user(db, "erwin").id, "theirs")
    result = admin(runner, "revoke-token", "levi", str(theirs.listing.id))
    assert result.exit_code != 0
    assert f"levi has no API token with id {theirs.listing.id}" in result.output
    assert bearer(app, theirs.token) == 200
