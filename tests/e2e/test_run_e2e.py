"""`make run` (chat/run.py): its "Chat is ready" line means the chat is ready (/readyz).

gunicorn binds its socket before its workers start, and each worker applies the
migrations (under the advisory lock) before it serves: a ready line printed when
gunicorn is up would send a person to a page that is not there yet.
"""

import os
import signal
import subprocess
import sys

import psycopg
import pytest

from chat.bots import BOTS
from chat.storage import migrate

from ..quotes import wait_until
from ..servers import ROOT, free_port, http

pytestmark = pytest.mark.e2e

READY = "Chat is ready: open http://127.0.0.1:"


def waiting_for_the_migration_lock(db) -> int:
    return db.execute(
        "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    ).fetchone()["n"]


def test_make_run_says_ready_only_once_the_chat_answers(database_url, db, tmp_path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port), "WEB_CONCURRENCY": "1"}
    output = tmp_path / "run.log"
    # A migration that takes a while: the lock every starting process waits for.
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (migrate.ADVISORY_LOCK_KEY,))
        with open(output, "wb") as log:
            launcher = subprocess.Popen(
                [sys.executable, "-m", "chat.run"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            # gunicorn's worker, every bot and the work process (`flask work`)
            # are blocked on the migration lock.
            wait_until(
                lambda: waiting_for_the_migration_lock(db) == 1 + len(BOTS) + 1,
                timeout=60,
                what="gunicorn, the bots and the work process to wait for the migrations",
            )
            assert READY not in output.read_text(), output.read_text()
            holder.rollback()  # the migration is done

            wait_until(lambda: READY in output.read_text(), timeout=60, what="the ready line")
            assert http().get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
            assert "started worker (pid" in output.read_text()
        finally:
            os.killpg(launcher.pid, signal.SIGTERM)
            launcher.wait(30)


def test_a_taken_port_is_named_with_what_to_do(database_url, tmp_path):
    """Something already listens on PORT: `make run` says so and how to choose
    another, and starts nothing (gunicorn alone retried, then gave up mutely)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": database_url, "PORT": str(port)}
        done = subprocess.run(
            [sys.executable, "-m", "chat.run"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    said = done.stdout + done.stderr
    assert f"port {port} on 127.0.0.1 is in use" in said
    assert f"PORT={port + 1} make run" in said
    assert "gunicorn" not in said  # nothing was started
