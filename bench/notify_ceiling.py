"""Where one PostgreSQL stops: commits and messages per second, with and without NOTIFY.

PostgreSQL serialises the commits of transactions that sent a NOTIFY (one
global lock, held through the commit's WAL flush), so that rate is the ceiling
for the whole deployment however many app hosts share the database. The
writer (chat/realtime/writer.py) puts many messages in one transaction, so
this measures it per batch size: CLIENTS connections each commit, for SECONDS,
transactions that insert BATCH rows and NOTIFY their lines packed as the
writer packs them (bus.encode_stored: one NOTIFY per ≤8 KB), while LISTENERS
connections hear them (each worker has one):

    .venv/bin/python bench/notify_ceiling.py [--clients 8] [--seconds 5]
        [--batches 1,10,50] [--listeners 1] [--rounds 1]

Per batch size it prints transactions/s and messages/s without NOTIFY and
with it, their ratio, and the PostgreSQL CPU behind them, read from each
backend's process CPU clock: the writing backends' µs per message, and a
listening backend's µs per notification it relays (every listener costs
this, per notification, on the database's side). With --rounds N each figure
is the median of N rounds, the two kinds alternating (same run, same machine;
synchronous_commit as the server has it, on by default). The figures also go
to bench/results/ceiling-<time>.json, for bench/scale_model.py.
"""

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cpu import is_postgres, process_cpu_s  # noqa: E402
from bench.samples import typical_frame  # noqa: E402
from chat.storage import bus  # noqa: E402
from tests.servers import scratch_database  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CHANNEL = "bench_ceiling"
SETUP = "CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, body text NOT NULL)"
INSERT = "INSERT INTO bench_rows (body) SELECT unnest(%s::text[])"
NOTIFY = "SELECT pg_notify(%s, %s)"
# How long the listeners may take to relay the last notifications of a run.
DRAIN_TIMEOUT = 60.0


def batch_of(size: int) -> tuple[list[str], list[str]]:
    """A transaction's rows and its NOTIFY payloads for `size` typical messages."""
    frame = typical_frame()
    events = [bus.Stored(1 + i % 10, i + 1, frame, bus.now_ms()) for i in range(size)]
    return [frame] * size, bus.encode_stored(events)


def hammer(conn, rows, payloads, stop: threading.Event, counts: list, index: int) -> None:
    """Commit transactions of `rows` (and `payloads`, if any) until `stop`."""
    done = 0
    while not stop.is_set():
        with conn.transaction():
            conn.execute(INSERT, (rows,))
            for payload in payloads:
                conn.execute(NOTIFY, (CHANNEL, payload))
        done += 1
    counts[index] = done


class Listeners:
    """LISTEN connections, each drained by a thread of its own, counting what they hear."""

    def __init__(self, url: str, count: int):
        self.conns = [psycopg.connect(url, autocommit=True) for _ in range(count)]
        self.heard = [0] * count
        self._stop = threading.Event()
        for conn in self.conns:
            conn.execute(f"LISTEN {CHANNEL}")
        self.threads = [
            threading.Thread(target=self._drain, args=(i,), daemon=True) for i in range(count)
        ]
        for thread in self.threads:
            thread.start()

    def _drain(self, index: int) -> None:
        while not self._stop.is_set():
            for _ in self.conns[index].notifies(timeout=0.5):
                self.heard[index] += 1

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while min(self.heard) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        for thread in self.threads:
            thread.join(2)
        for conn in self.conns:
            conn.close()


def cpu(pids: list[int]) -> float:
    return sum(process_cpu_s(pid) or 0.0 for pid in pids)


def run(url: str, writers: list, listeners: Listeners, size: int, notify: bool, seconds: float):
    """One timed run: commits/s, messages/s, NOTIFYs sent, and the CPU seconds of
    the writing backends and of the listening ones (all of them)."""
    rows, payloads = batch_of(size)
    payloads = payloads if notify else []
    writer_pids = [conn.info.backend_pid for conn in writers]
    listener_pids = [conn.info.backend_pid for conn in listeners.conns]
    local = all(is_postgres(pid) for pid in writer_pids + listener_pids)
    heard0 = min(listeners.heard)
    cpu0 = (cpu(writer_pids), cpu(listener_pids))
    stop, counts = threading.Event(), [0] * len(writers)
    threads = [
        threading.Thread(target=hammer, args=(conn, rows, payloads, stop, counts, i))
        for i, conn in enumerate(writers)
    ]
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    commits = sum(counts)
    listeners.wait_for(heard0 + commits * len(payloads))
    writer_cpu, listener_cpu = cpu(writer_pids) - cpu0[0], cpu(listener_pids) - cpu0[1]
    return {
        "commits_per_s": commits / seconds,
        "messages_per_s": commits * size / seconds,
        "notifies": commits * len(payloads),
        "messages": commits * size,
        "writer_cpu": writer_cpu if local else None,
        "listener_cpu": listener_cpu if local else None,
    }


def median_of(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if run[key] is not None]
    return statistics.median(values) if values else None


def per(runs: list[dict], cpu_key: str, count_key: str, share: int = 1) -> float | None:
    """The median CPU µs per unit (`count_key`) of `cpu_key`, split `share` ways."""
    values = [
        r[cpu_key] / share / r[count_key] * 1e6
        for r in runs
        if r[cpu_key] is not None and r[count_key]
    ]
    return statistics.median(values) if values else None


def summary(runs: dict, sizes: list[int], args) -> list[dict]:
    """Per batch size, the medians (rates per second, CPU in µs)."""
    rows = []
    for size in sizes:
        plain, notified = runs[size, False], runs[size, True]
        rows.append(
            {
                "batch": size,
                "tx_per_s": median_of(plain, "commits_per_s"),
                "tx_notify_per_s": median_of(notified, "commits_per_s"),
                "messages_notify_per_s": median_of(notified, "messages_per_s"),
                "notifies_per_s": statistics.median(r["notifies"] / args.seconds for r in notified),
                "writer_cpu_us_per_message": per(plain, "writer_cpu", "messages"),
                "writer_cpu_us_per_message_notify": per(notified, "writer_cpu", "messages"),
                "listener_cpu_us_per_notify": per(
                    notified, "listener_cpu", "notifies", args.listeners
                ),
            }
        )
    return rows


def _us(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def table(rows: list[dict]) -> str:
    out = [
        "| batch | tx/s | tx/s with NOTIFY | ratio | messages/s with NOTIFY | NOTIFYs/s | "
        "writers' CPU µs/msg | with NOTIFY | a listener's CPU µs/NOTIFY |",
        "| --- " * 9 + "|",
    ]
    for row in rows:
        out.append(
            f"| {row['batch']} | {row['tx_per_s']:,.0f} | {row['tx_notify_per_s']:,.0f} | "
            f"{row['tx_notify_per_s'] / row['tx_per_s']:.2f} | "
            f"{row['messages_notify_per_s']:,.0f} | {row['notifies_per_s']:,.0f} | "
            f"{_us(row['writer_cpu_us_per_message'])} | "
            f"{_us(row['writer_cpu_us_per_message_notify'])} | "
            f"{_us(row['listener_cpu_us_per_notify'])} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batches", default="1", help="messages per transaction, e.g. 1,10,50")
    parser.add_argument("--listeners", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(size) for size in args.batches.split(",")]
    with scratch_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SETUP)
            setting = conn.execute("SHOW synchronous_commit").fetchone()[0]
        writers = [psycopg.connect(url, autocommit=True) for _ in range(args.clients)]
        listeners = Listeners(url, args.listeners)
        started = time.monotonic()
        runs = {(size, notify): [] for size in sizes for notify in (False, True)}
        try:
            for r in range(args.rounds):
                for size in sizes if r % 2 == 0 else sizes[::-1]:
                    for notify in (False, True) if r % 2 == 0 else (True, False):
                        runs[size, notify].append(
                            run(url, writers, listeners, size, notify, args.seconds)
                        )
        finally:
            listeners.close()
            for conn in writers:
                conn.close()
    print(
        f"clients={args.clients} seconds={args.seconds} listeners={args.listeners} "
        f"rounds={args.rounds} synchronous_commit={setting}"
    )
    rows = summary(runs, sizes, args)
    print(table(rows))
    print(f"(measured in {time.monotonic() - started:.0f} s)")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"ceiling-{time.strftime('%Y%m%d-%H%M%S')}.json"
    run_info = {**vars(args), "synchronous_commit": setting}
    path.write_text(json.dumps({"args": run_info, "rows": rows}, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
