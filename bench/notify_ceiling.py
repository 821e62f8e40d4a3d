"""Where one PostgreSQL stops: committed transactions per second, with and without NOTIFY.

Every message is one transaction that inserts a row and sends one NOTIFY.
PostgreSQL serialises the commits of transactions that sent a NOTIFY (one
global lock, held through the commit's WAL flush), so that rate is the ceiling
for the whole deployment however many app hosts share the database. This
measures it on the scratch database with CLIENTS connections for SECONDS each:

    .venv/bin/python bench/notify_ceiling.py [--clients 8] [--seconds 5]

It prints inserts/s alone, inserts+NOTIFY/s, and their ratio (same run, same
machine; synchronous_commit as the server has it, on by default).
"""

import argparse
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import scratch_database  # noqa: E402

SETUP = "CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, body text NOT NULL)"
INSERT = "INSERT INTO bench_rows (body) VALUES (%s)"
NOTIFY = "SELECT pg_notify('bench_ceiling', %s)"


def hammer(url: str, notify: bool, stop: threading.Event, counts: list, index: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        done = 0
        body = "x" * 200  # about a chat frame's size
        while not stop.is_set():
            with conn.transaction():
                conn.execute(INSERT, (body,))
                if notify:
                    conn.execute(NOTIFY, (body,))
            done += 1
        counts[index] = done


def measure(url: str, clients: int, seconds: float, notify: bool) -> float:
    stop = threading.Event()
    counts = [0] * clients
    threads = [
        threading.Thread(target=hammer, args=(url, notify, stop, counts, i)) for i in range(clients)
    ]
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with scratch_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SETUP)
            setting = conn.execute("SHOW synchronous_commit").fetchone()[0]
        # A listener, as every gunicorn worker has: NOTIFY to nobody is cheaper.
        with psycopg.connect(url, autocommit=True) as listener:
            listener.execute("LISTEN bench_ceiling")
            drain = threading.Event()

            def read() -> None:
                while not drain.is_set():
                    for _ in listener.notifies(timeout=0.5):
                        pass

            reader = threading.Thread(target=read, daemon=True)
            reader.start()
            started = time.monotonic()
            plain = measure(url, args.clients, args.seconds, notify=False)
            with_notify = measure(url, args.clients, args.seconds, notify=True)
            drain.set()
        print(f"clients={args.clients} seconds={args.seconds} synchronous_commit={setting}")
        print(f"insert transactions/s: {plain:.0f}")
        print(f"insert + NOTIFY transactions/s: {with_notify:.0f}")
        print(f"ratio with/without NOTIFY: {with_notify / plain:.2f}")
        print(f"(measured in {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
