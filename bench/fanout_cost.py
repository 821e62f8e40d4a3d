"""What a worker pays to hear the bus: CPU per message of rooms it serves, and of rooms it does not.

    .venv/bin/python -m bench.fanout_cost [--batches 1,10,50] [--rate 100] [--commits 200]
        [--rounds 5] [--compare main]

Every worker LISTENs to every room's messages, so with many app hosts most of
what a worker hears is for rooms none of its clients follow. This measures,
per message, what that costs a worker, and what a message of a room it serves
costs with 1 and with 10 local clients.

The workers are real (bench/fanout_worker.py: the product's Hub, Listener and
Peers in a gevent-patched process of their own, one per checkout); this
process is the writers: for each case it NOTIFYs, at `--rate` commits per
second, `--commits` transactions carrying `--batches` lines each, packed by
bus.encode_stored as chat/realtime/writer.py's batches are (one NOTIFY per
≤8 KB of lines), between two bench marks on CHANNEL_CONTROL at which each
worker reads its own process CPU. Cases:

    foreign     lines for ten rooms the worker has no client in
    1 client    lines for a room with one client on this worker
    10 clients  lines for a room with ten clients on this worker
    idle        no notifications: subtracted from the others, per second

Per case and worker: CPU µs per message (line), the median over `--rounds`
rounds taken in alternating order. Also, in-process ("micro"): the listener's
decode and dispatch alone, called directly with payloads of foreign lines (no
database, no wake-ups), µs per line.

`--compare REV` adds a worker running `chat` as of git revision REV (exported
to a temporary folder): both workers hear the same notifications at the same
time, and the table gives their ratios. Results go to
bench/results/fanout-<time>.json.
"""

import argparse
import json
import multiprocessing
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.floor_sockets import _drain  # noqa: E402
from bench.samples import typical_frame  # noqa: E402
from tests.servers import scratch_database  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FOREIGN_ROOMS = 10
SERVED = {"1 client": 1, "10 clients": 10}
CASES = ("foreign", *SERVED)
# How long a worker may take to hear a mark (it is behind if still delivering).
MARK_TIMEOUT = 60.0

SQL_ROOM = "INSERT INTO rooms (name) VALUES (%s) RETURNING id"


class Worker:
    """A bench/fanout_worker.py process for one checkout, and the reader of its clients."""

    def __init__(self, label: str, checkout: Path, url: str, serve: list):
        self.label = label
        config = {
            "checkout": str(checkout),
            "bench_root": str(ROOT),
            "url": url,
            "serve": serve,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fanout_worker", json.dumps(config)],
            cwd=tempfile.gettempdir(),  # not ROOT: its `chat` must not shadow the checkout's
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        port = self.expect("port")["port"]
        spawn = multiprocessing.get_context("spawn")
        self._ours, theirs = spawn.Pipe()
        clients = sum(n for _, _, n in serve)
        self.reader = spawn.Process(target=_drain, args=(port, clients, theirs), daemon=True)
        self.reader.start()
        ready = self.expect("ready")
        if not Path(ready["chat"]).resolve().is_relative_to(checkout.resolve()):
            raise RuntimeError(f"{label}'s worker imported {ready['chat']}, not {checkout}")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def expect(self, key: str, timeout: float = MARK_TIMEOUT) -> dict:
        """The worker's next message, which must carry `key`."""
        message = self.lines.get(timeout=timeout)
        if key not in message:
            raise RuntimeError(f"{self.label}'s worker said {message}, expected {key}")
        return message

    def command(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        try:
            self.command("stop")
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.reader.join(10)
        if self.reader.is_alive():
            self.reader.kill()


def export(rev: str, folder: Path) -> Path:
    """`chat/` as of git revision `rev`, written under `folder`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "chat"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def make_rooms(conn) -> dict[str, list[tuple[int, str]]]:
    """The rooms of each case: (id, name) pairs."""
    rooms = {}
    for case in CASES:
        count = FOREIGN_ROOMS if case == "foreign" else 1
        names = [f"fanout-{case.replace(' ', '')}-{i}" for i in range(count)]
        rooms[case] = [(conn.execute(SQL_ROOM, (n,)).fetchone()[0], n) for n in names]
    return rooms


class Writers:
    """The NOTIFYs of the cases, with each served room's next seq (a feed delivers
    seq last+1 as received; anything else would send it to the table)."""

    def __init__(self, conn, rooms: dict):
        from chat.storage import bus

        self.bus = bus
        self.conn = conn
        self.rooms = rooms
        self.seq = {room_id: 0 for pairs in rooms.values() for room_id, _ in pairs}
        self.frame = typical_frame()

    def payloads(self, case: str, batch: int, commits: int) -> list[list[str]]:
        """Each commit's payloads: `batch` lines over the case's rooms."""
        pairs = self.rooms[case]
        out = []
        for c in range(commits):
            events = []
            for i in range(batch):
                room_id = pairs[(c * batch + i) % len(pairs)][0]
                self.seq[room_id] += 1
                events.append(self.bus.Stored(room_id, self.seq[room_id], self.frame, 0))
            out.append(self.bus.encode_stored(events))
        return out

    def mark(self, key: str) -> None:
        self.conn.execute("SELECT pg_notify(%s, %s)", (self.bus.CONTROL_CHANNEL, f"bench {key}"))

    def send(self, commits: list[list[str]], rate: float) -> None:
        """One transaction per commit's payloads, paced at `rate` per second."""
        start = time.monotonic()
        for i, payloads in enumerate(commits):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with self.conn.transaction():
                for payload in payloads:
                    self.conn.execute("SELECT pg_notify(%s, %s)", (self.bus.CHANNEL, payload))


def run_case(writers: Writers, workers: list[Worker], case: str, batch: int, args) -> dict:
    """Each worker's CPU seconds and the wall seconds between one case's marks."""
    key = f"{case}/{batch}/{time.monotonic_ns()}"
    commits = [] if case == "idle" else writers.payloads(case, batch, args.commits)
    writers.mark(f"begin/{key}")
    started = time.monotonic()
    if case == "idle":
        time.sleep(args.commits / args.rate)
    else:
        writers.send(commits, args.rate)
    writers.mark(f"end/{key}")
    out = {}
    for worker in workers:
        begin = worker.expect("mark")
        end = worker.expect("mark")
        assert begin["mark"] == f"begin/{key}" and end["mark"] == f"end/{key}", (begin, end)
        out[worker.label] = end["cpu"] - begin["cpu"]
    out["wall"] = time.monotonic() - started
    out["messages"] = batch * args.commits if case != "idle" else 0
    return out


def measure(url: str, checkouts: dict[str, Path], args) -> dict:
    """Medians per worker, case and batch size: CPU µs per message (idle CPU
    subtracted), idle CPU per second, micro µs per line."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rooms = make_rooms(conn)
        serve = [[*rooms[case][0], n] for case, n in SERVED.items()]
        workers = [Worker(label, path, url, serve) for label, path in checkouts.items()]
        try:
            writers = Writers(conn, rooms)
            runs = []
            plan = [(case, batch) for batch in args.batches for case in (*CASES, "idle")]
            for r in range(args.rounds):
                for case, batch in plan if r % 2 == 0 else plan[::-1]:
                    runs.append((case, batch, run_case(writers, workers, case, batch, args)))
                print(f"round {r + 1} of {args.rounds} done", flush=True)
            micro = {w.label: {} for w in workers}
            for _ in range(args.rounds):
                for batch in args.batches:
                    for worker in workers:
                        worker.command(f"micro {batch} {max(20, 4000 // batch)}")
                        micro[worker.label].setdefault(batch, []).append(
                            worker.expect("micro")["micro"]
                        )
        finally:
            for worker in workers:
                worker.stop()
    return summarise(runs, micro, [w.label for w in workers], args.batches)


def summarise(runs, micro, labels, batches) -> dict:
    out = {}
    for label in labels:
        idle = [run[label] / run["wall"] for case, _, run in runs if case == "idle"]
        idle_per_s = statistics.median(idle)
        rows = []
        for batch in batches:
            row = {"batch": batch, "micro_foreign_us": statistics.median(micro[label][batch])}
            for case in CASES:
                values = [
                    (run[label] - idle_per_s * run["wall"]) / run["messages"] * 1e6
                    for c, b, run in runs
                    if c == case and b == batch
                ]
                row[case] = statistics.median(values)
            rows.append(row)
        out[label] = {"idle_cpu_per_s": idle_per_s, "rows": rows}
    return out


def table(results: dict, args) -> str:
    labels = list(results)
    out = [
        f"Worker CPU µs per message heard (medians of {args.rounds} rounds, "
        f"{args.commits} commits at {args.rate:g}/s per case; idle subtracted):",
        "",
        "| checkout | lines per commit | foreign | 1 client | 10 clients | "
        "micro: decode+dispatch, foreign |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label in labels:
        for row in results[label]["rows"]:
            out.append(
                f"| {label} | {row['batch']} | {row['foreign']:.1f} | {row['1 client']:.1f} | "
                f"{row['10 clients']:.1f} | {row['micro_foreign_us']:.2f} |"
            )
    for label in labels:
        out.append(f"\n{label}: idle {results[label]['idle_cpu_per_s'] * 1e3:.2f} ms CPU/s")
    if len(labels) > 1:
        base, other = labels[0], labels[1]
        out += [
            "",
            f"Ratios {base} / {other}:",
            "",
            "| lines per commit | foreign | 1 client | 10 clients | micro |",
            "| --- | --- | --- | --- | --- |",
        ]
        for mine, theirs in zip(results[base]["rows"], results[other]["rows"], strict=True):
            cells = [mine[c] / theirs[c] for c in (*CASES, "micro_foreign_us")]
            out.append(f"| {mine['batch']} | " + " | ".join(f"{x:.2f}" for x in cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,10,50", help="lines per commit")
    parser.add_argument("--rate", type=float, default=100.0, help="commits per second")
    parser.add_argument("--commits", type=int, default=200, help="commits per case")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", metavar="REV", help="also run chat/ as of this revision")
    args = parser.parse_args()
    args.batches = [int(b) for b in args.batches.split(",")]
    with tempfile.TemporaryDirectory(prefix="fanout-") as folder:
        checkouts = {"this": ROOT}
        if args.compare:
            checkouts[args.compare] = export(args.compare, Path(folder))
        with scratch_database() as url:
            results = measure(url, checkouts, args)
    print(table(results, args))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"fanout-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    print(f"\nresults: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
