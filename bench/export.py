"""How fast does a big room export, and what does it cost the worker's memory?

    .venv/bin/python bench/export.py [--rows 1000000]

Fills #general of a scratch database with --rows messages (one in ten of them a
reaction event, which exports leave out), starts gunicorn with one worker and
downloads /api/rooms/general/export.jsonl and .csv through it, streaming,
counting rows. Prints rows/s, MB/s and the worker's RSS before and at its
peak during each download (sampled every 20 ms). Then times a few searches
over the same table (a rare word, a common one).
"""

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chat import actions  # noqa: E402
from tests.servers import Gunicorn, http, scratch_database  # noqa: E402

FILL = """
    INSERT INTO messages (room_id, seq, user_id, content, kind, target_seq, created_at)
    SELECT 1, g, %(user_id)s,
           CASE WHEN g %% 10 = 0 THEN '👍'
                WHEN g %% 100000 = 7 THEN 'the rare aardvark ' || g
                ELSE 'message ' || g || ': the usual chatter, "quotes", commas, ünïcødé' END,
           CASE WHEN g %% 10 = 0 THEN 'reaction_add' ELSE 'chat' END,
           CASE WHEN g %% 10 = 0 THEN g - 1 END,
           now() - interval '30 days' + g * interval '1 millisecond'
    FROM generate_series(1, %(rows)s) g
"""


class PeakRss:
    """Samples a process's RSS in a thread until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def download(server: Gunicorn, token: str, fmt: str, expected: int) -> None:
    session = http()
    session.headers["Authorization"] = f"Bearer {token}"
    worker = server.worker_pids()[0]
    before = psutil.Process(worker).memory_info().rss
    started = time.perf_counter()
    lines = size = 0
    with PeakRss(worker) as rss:
        with session.get(f"{server.url}/api/rooms/general/export.{fmt}", stream=True) as response:
            response.raise_for_status()
            for chunk in response.iter_content(chunk_size=1 << 20):
                size += len(chunk)
                lines += chunk.count(b"\n")
    took = time.perf_counter() - started
    rows = lines - (1 if fmt == "csv" else 0)  # the header; no message text has a newline
    assert rows == expected, (rows, expected)
    print(
        f"{fmt:5}: {rows:,} rows, {size / 1e6:.0f} MB in {took:.1f} s: "
        f"{rows / took:,.0f} rows/s, {size / 1e6 / took:.0f} MB/s; worker RSS "
        f"{before / 2**20:.0f} MiB before, peak {rss.peak / 2**20:.0f} MiB "
        f"(+{(rss.peak - before) / 2**20:.1f} MiB)"
    )


def searches(server: Gunicorn, token: str) -> None:
    session = http()
    session.headers["Authorization"] = f"Bearer {token}"
    for q in ["aardvark", '"usual chatter" 4242', "chatter"]:
        started = time.perf_counter()
        response = session.get(f"{server.url}/api/search", params={"q": q}, timeout=30)
        took = (time.perf_counter() - started) * 1000
        body = response.json()
        outcome = f"{len(body['results'])} results" if response.ok else body["error"]["message"]
        print(f"search {q!r}: {response.status_code} in {took:.0f} ms ({outcome})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    expected = args.rows - args.rows // 10
    with scratch_database() as url:
        with psycopg.connect(url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
            user_id = actions.create_user(conn, "exporter", "correct horse battery").id
            token = actions.create_token(conn, user_id)
            started = time.perf_counter()
            conn.execute(FILL, {"user_id": user_id, "rows": args.rows})
            conn.execute("UPDATE rooms SET last_seq = %s WHERE id = 1", (args.rows,))
            actions.join_room(conn, 1, user_id)
            conn.execute("VACUUM ANALYZE messages")
            print(f"filled {args.rows:,} rows in {time.perf_counter() - started:.0f} s")
        log = Path("/tmp") / f"export-bench-{os.getpid()}.log"
        server = Gunicorn(url, log, workers=1).start()
        try:
            for fmt in ("jsonl", "csv"):
                download(server, token, fmt, expected)
            searches(server, token)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
