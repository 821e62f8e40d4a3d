"""The worker as a real process (`flask ... work`, as `make run` starts it): it
wakes on NOTIFY work_jobs well within its poll interval, does the job, and
stops on SIGTERM."""

import signal
import time

import orjson
import psycopg

from chat import actions
from chat.storage import bus

from ..bots import media
from ..conftest import make_user, room_row, send_as
from ..quotes import wait_until
from ..servers import FLASK, spawn

# Long: a job done sooner was woken by its NOTIFY, not found by a poll.
POLL_INTERVAL = 60.0


def listening(database_url: str) -> bool:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return (
            conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'work'"
            ).fetchone()[0]
            == 1
        )


def test_the_worker_process_wakes_on_notify_and_stops_on_sigterm(db, database_url, tmp_path):
    log = tmp_path / "work.log"
    proc = spawn(
        [str(FLASK), "--app", "app", "work"],
        log,
        DATABASE_URL=database_url,
        BOT_POLL_INTERVAL=str(POLL_INTERVAL),
    )
    try:
        wait_until(lambda: listening(database_url), what="the worker to LISTEN")
        eren = make_user(db)
        room = room_row(db)
        file = media.insert_file(db, eren, media.photo(), "image/jpeg", job=False)
        seq = send_as(db, eren, "look")
        media.attach(db, room, seq, file["id"])
        with psycopg.connect(database_url, autocommit=True) as listener:
            listener.execute(f"LISTEN {bus.CHANNEL}")
            started = time.monotonic()
            with db.transaction():
                db.execute(
                    "INSERT INTO work_jobs (kind, file_id) VALUES ('image', %s)", (file["id"],)
                )
                actions.wake_workers(db, "image")
            note = next(listener.notifies(timeout=POLL_INTERVAL / 2, stop_after=1))
            took = time.monotonic() - started
        [stored] = bus.decode_stored(note.payload)
        frame = orjson.loads(stored.frame)
        assert frame["type"] == "chat_files" and frame["target_seq"] == seq
        assert frame["files"][0]["thumb"] == f"/thumbs/{file['key']}"
        assert took < POLL_INTERVAL / 2
        assert media.file_row(db, file["id"])["state"] == "ready"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        text = log.read_text()
        assert "work: SIGTERM, stopping after the current job" in text
        assert "work: stopped" in text
        assert "cat" not in text and "look" not in text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.returncode not in (0, None):
            print(log.read_text())
