"""A connect storm's presence writes (issue 20): N sockets of N people connect to
one room at once, each joiner reads the online list, then all of them leave,
in one gevent process as in a gunicorn worker; this revision's Presence against
an earlier revision's, alternating, on the same scratch database.

    .venv/bin/python bench/presence_storm.py --sockets 1000 --rounds 3
    .venv/bin/python bench/presence_storm.py --before e613a90 --sockets 200,2000

Per connect+disconnect (connect, arrive, the joiner's online list, depart,
disconnect: what a socket of `/ws/<room>` does to presence, with
PRESENCE_GRACE 0 so that the offline is written at once):

- `waits`: the times the process waited on a database connection (psycopg's
  wait function, one per round trip or a little more);
- `xacts`: transactions committed in the scratch database (the joiner's read
  is one, in autocommit; `--no-joiner-read` leaves it out);
- `server µs`: CPU of the whole PostgreSQL server (postmaster, backends
  reaped during the run, background processes), so the database's cost of
  the storm, its pool's connections included;
- `client µs`: the storm process's own CPU;
- `wall s`: from the first connect to the last disconnect.

Each target runs in a fresh process (`--child`), importing `chat` from its own
tree: the earlier revision from a `git archive` in /tmp. Medians over rounds.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BEFORE = "e613a90"  # the last commit before presence was batched
ROOM = "general"


def child(checkout: str, url: str, sockets: int, joiner_reads: bool) -> None:
    """Run one storm with the `chat` of `checkout`; print its figures as JSON."""
    from gevent import monkey

    monkey.patch_all()
    sys.path.insert(0, checkout)
    import gevent
    import psycopg

    from chat.domain.entities import Room, User
    from chat.realtime.presence import Presence
    from chat.storage import db, queries

    pool = db.open_pool(url, 10, 10.0, "storm")
    pool.wait()
    waits = [0]
    wait = psycopg.waiting.wait

    def counted(*args, **kwargs):
        waits[0] += 1
        return wait(*args, **kwargs)

    psycopg.waiting.wait = counted
    with pool.connection() as conn:
        room = Room.from_row(
            conn.execute("SELECT * FROM rooms WHERE name = %s", (ROOM,)).fetchone()
        )
        people = [
            User.from_row(row)
            for row in conn.execute(
                "SELECT id, username FROM users WHERE username LIKE 'storm%%' ORDER BY id LIMIT %s",
                (sockets,),
            )
        ]
    presence = Presence(pool, heartbeat=3600, timeout=7200, grace=0.0)
    presence.start()
    missing = []

    def socket_life(user: User) -> None:
        presence.connect(user)
        presence.arrive(room, user)
        if joiner_reads:
            with db.reading(pool) as conn:  # the joiner's online list
                if user.username not in queries.online_users(conn, room.id):
                    missing.append(user.username)
        presence.depart(room, user)
        presence.disconnect(user, False)

    waits[0] = 0
    cpu, wall = time.process_time(), time.perf_counter()
    gevent.joinall([gevent.spawn(socket_life, person) for person in people])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    counted_waits = waits[0]
    presence.stop()
    pool.close()
    print(
        json.dumps(
            {"client_s": cpu, "wall_s": wall, "waits": counted_waits, "missing": len(missing)}
        )
    )


def server_cpu_s(postmaster) -> float:
    """CPU seconds of the server so far: the postmaster, the children it reaped
    (exited backends), and the live ones."""
    times = postmaster.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for process in postmaster.children():
        try:
            t = process.cpu_times()
            total += t.user + t.system
        except Exception:  # noqa: BLE001 - it exited meanwhile (then it is reaped: counted)
            pass
    return total


def commits(conn) -> int:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    return row[0]


def one_run(checkout: Path, url: str, sockets: int, reads: bool, postmaster, conn) -> dict:
    xacts, server = commits(conn), server_cpu_s(postmaster)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(checkout),
            "--url",
            url,
            "--sockets",
            str(sockets),
        ]
        + ([] if reads else ["--no-joiner-read"]),
        capture_output=True,
        text=True,
        check=True,
        cwd=checkout,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    time.sleep(0.6)  # the exited backends' statistics reach pg_stat_database
    figures["xacts"] = commits(conn) - xacts
    figures["server_s"] = server_cpu_s(postmaster) - server
    return figures


def export(revision: str) -> Path:
    out = Path("/tmp") / f"bench-presence-{revision}"
    if not (out / "chat").exists():
        out.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "chat", "tests", "bench", "migrations"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def prepare(url: str, sockets: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (username, password_hash)"
            " SELECT 'storm' || i, 'x' FROM generate_series(1, %s) i",
            (sockets,),
        )
        conn.execute(
            "INSERT INTO room_members (room_id, user_id)"
            " SELECT r.id, u.id FROM rooms r, users u"
            " WHERE r.name = %s AND u.username LIKE 'storm%%' ON CONFLICT DO NOTHING",
            (ROOM,),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", default="1000", help="comma-separated storm sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="git revision to compare")
    parser.add_argument(
        "--no-joiner-read",
        action="store_true",
        help="leave out the joiner's online list (its read is the same in both: the writes alone)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, int(args.sockets), not args.no_joiner_read)
        return

    import psutil
    import psycopg

    sys.path.insert(0, str(ROOT))
    from tests.servers import scratch_database

    sizes = [int(n) for n in args.sockets.split(",")]
    reads = not args.no_joiner_read
    targets = {f"before {args.before}": export(args.before), "after": ROOT}
    with scratch_database() as url, psycopg.connect(url, autocommit=True) as conn:
        prepare(url, max(sizes))
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        postmaster = psutil.Process(backend).parent()
        print(f"{'target':<18} {'sockets':>7} {'waits':>7} {'xacts':>7} {'server µs':>10}"
              f" {'client µs':>10} {'wall s':>7}  (per connect+disconnect; medians)")  # fmt: skip
        for sockets in sizes:
            runs: dict[str, list[dict]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, checkout in targets.items():  # alternating
                    runs[name].append(one_run(checkout, url, sockets, reads, postmaster, conn))
            for name, figures in runs.items():
                assert all(f["missing"] == 0 for f in figures), f"{name}: a joiner missed itself"

                def med(key, scale=1.0, figures=figures, sockets=sockets):
                    return statistics.median(f[key] for f in figures) * scale / sockets

                print(
                    f"{name:<18} {sockets:>7} {med('waits'):>7.2f} {med('xacts'):>7.2f}"
                    f" {med('server_s', 1e6):>10.0f} {med('client_s', 1e6):>10.0f}"
                    f" {med('wall_s', sockets):>7.2f}"
                )


if __name__ == "__main__":
    main()
