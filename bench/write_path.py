"""The write path alone: actions.send_messages on a scratch database, batches of
plain messages and of replies in a thread, as CPU and wall time per message.

Run from the repository (it imports the checkout it sits in, so the same
command in two worktrees compares two versions on the same database server):

    .venv/bin/python bench/write_path.py --batches 200 --batch 20

`--gevent` runs it as a gunicorn worker does: gevent's monkey-patching, and
psycopg waiting through chat/storage/db.py's cooperative waits.

`--replies` makes every message a reply in one thread with `--followers`
people following it (a version without threads skips it). Figures are
per message: wall time (the database's work included) and this process's
CPU time (building frames, the driver). Report them as ratios against a
baseline measured in the same run.
"""

import argparse
import sys
import time
from pathlib import Path

if "--gevent" in sys.argv:  # before anything imports socket or threading
    from gevent import monkey

    monkey.patch_all()

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402

from chat import actions  # noqa: E402
from tests.servers import scratch_database  # noqa: E402


def room_of(conn):
    from chat.domain.entities import Room

    row = conn.execute("SELECT * FROM rooms WHERE name = 'general'").fetchone()
    return Room.from_row(row)


def run(url: str, batches: int, size: int, replies: bool, followers: int) -> dict:
    from chat.storage import db

    db.cooperative_waits()  # does nothing without --gevent
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        with conn.transaction():
            people = [
                actions.create_user(conn, f"p{i}", "correct horse") for i in range(followers + 1)
            ]
        room = room_of(conn)
        for person in people:
            actions.join(conn, room, person)
        extra = {}
        if replies:
            from chat.domain.threads import ReplyTo

            root = actions.send_message(conn, room_of(conn), people[0], "root", None).seq
            for person in people[1:]:  # each follows by replying once
                actions.send_message(conn, room_of(conn), person, "me", None, reply=ReplyTo(root))
            extra = {"reply": ReplyTo(root)}
        sends = [
            [
                actions.Send.of(
                    room, people[(b + i) % len(people)], f"message {b}-{i}", None, **extra
                )
                for i in range(size)
            ]
            for b in range(batches)
        ]
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in sends:
            actions.send_messages(conn, batch)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = batches * size
    return {"messages": n, "wall_us": wall / n * 1e6, "cpu_us": cpu / n * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--replies", action="store_true")
    parser.add_argument("--followers", type=int, default=5)
    parser.add_argument("--gevent", action="store_true", help="monkey-patched, as in a worker")
    args = parser.parse_args()
    with scratch_database() as url:
        result = run(url, args.batches, args.batch, args.replies, args.followers)
    kind = f"replies, {args.followers} followers" if args.replies else "plain"
    print(
        f"{kind}: {result['messages']} messages in batches of {args.batch}: "
        f"{result['wall_us']:.0f} µs wall, {result['cpu_us']:.0f} µs CPU per message"
    )


if __name__ == "__main__":
    main()
