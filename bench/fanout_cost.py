"""What a worker pays to hear the bus: CPU per message of rooms it serves and of others.

    .venv/bin/python -m bench.fanout_cost [--batches 1,10,50] [--rates 100,1000]
        [--seconds 2] [--max-served 10000] [--rounds 5] [--compare main]

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
time (and share the machine's cores), and a third table gives the ratios. Results go to
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

from bench.floor_sockets import drain  # noqa: E402
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
        self.reader = spawn.Process(target=drain, args=(port, clients, theirs), daemon=True)
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


def run_case(writers: Writers, workers: list[Worker], case: str, batch: int, rate: float, args):
    """Each worker's CPU seconds, the wall seconds between the case's marks and the
    messages sent: `seconds` of commits of `batch` lines at `rate` a second."""
    key = f"{case}/{batch}/{rate:g}/{time.monotonic_ns()}"
    commits = [] if case == "idle" else writers.payloads(case, batch, int(rate * args.seconds))
    writers.mark(f"begin/{key}")
    started = time.monotonic()
    if case == "idle":
        time.sleep(args.seconds)
    else:
        writers.send(commits, rate)
    writers.mark(f"end/{key}")
    out = {}
    for worker in workers:
        begin = worker.expect("mark")
        end = worker.expect("mark")
        assert begin["mark"] == f"begin/{key}" and end["mark"] == f"end/{key}", (begin, end)
        out[worker.label] = end["cpu"] - begin["cpu"]
    out["wall"] = time.monotonic() - started
    out["messages"] = batch * len(commits)
    return out


def plan(args) -> list[tuple[str, int, float]]:
    """The cases of one round: (case, lines per commit, commits per second). A
    served case past --max-served messages/s is left out: one worker here could
    not keep up, and the run would measure its backlog."""
    cases = [
        (case, batch, rate)
        for rate in args.rates
        for batch in args.batches
        for case in CASES
        if case == "foreign" or rate * batch <= args.max_served
    ]
    return [*cases, ("idle", 0, 0.0)]


def measure(url: str, checkouts: dict[str, Path], args) -> dict:
    """Medians per worker and case: CPU µs per message (idle CPU subtracted),
    idle CPU per second, micro µs per line."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rooms = make_rooms(conn)
        serve = [[*rooms[case][0], n] for case, n in SERVED.items()]
        workers = [Worker(label, path, url, serve) for label, path in checkouts.items()]
        try:
            writers = Writers(conn, rooms)
            runs = []
            cases = plan(args)
            for r in range(args.rounds):
                for case in cases if r % 2 == 0 else cases[::-1]:
                    runs.append((case, run_case(writers, workers, *case, args)))
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
    return summarise(runs, micro, [w.label for w in workers], args)


def summarise(runs, micro, labels, args) -> dict:
    """Per checkout: idle CPU seconds per second, and per (rate, batch) the median
    µs per message of each case (None: not run), with the micro figure per batch."""
    out = {}
    for label in labels:
        idle = [run[label] / run["wall"] for (case, _, _), run in runs if case == "idle"]
        idle_per_s = statistics.median(idle)
        rows = []
        for rate in args.rates:
            for batch in args.batches:
                row = {"rate": rate, "batch": batch}
                for case in CASES:
                    values = [
                        (run[label] - idle_per_s * run["wall"]) / run["messages"] * 1e6
                        for key, run in runs
                        if key == (case, batch, rate)
                    ]
                    row[case] = statistics.median(values) if values else None
                rows.append(row)
        micro_us = {batch: statistics.median(micro[label][batch]) for batch in args.batches}
        out[label] = {"idle_cpu_per_s": idle_per_s, "rows": rows, "micro_foreign_us": micro_us}
    return out


def _cell(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(results: dict, args) -> str:
    labels = list(results)
    out = [
        f"Worker CPU µs per message heard (medians of {args.rounds} rounds of {args.seconds:g} s "
        "per case, the worker's idle CPU subtracted):",
        "",
        "| checkout | commits/s | lines per commit | foreign | 1 client | 10 clients |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label in labels:
        for row in results[label]["rows"]:
            out.append(
                f"| {label} | {row['rate']:g} | {row['batch']} | "
                + " | ".join(_cell(row[case]) for case in CASES)
                + " |"
            )
    out += [
        "",
        "The listener's decode and dispatch alone, foreign lines, µs per line (micro):",
        "",
        "| checkout | "
        + " | ".join(f"{b} per payload" for b in args.batches)
        + " | idle ms CPU/s |",
        "| --- " * (len(args.batches) + 2) + "|",
    ]
    for label in labels:
        micro = results[label]["micro_foreign_us"]
        out.append(
            f"| {label} | "
            + " | ".join(f"{micro[b]:.2f}" for b in args.batches)
            + f" | {results[label]['idle_cpu_per_s'] * 1e3:.2f} |"
        )
    if len(labels) > 1:
        out += ["", *ratios(results, labels[0], labels[1], args)]
    return "\n".join(out)


def ratios(results: dict, mine: str, theirs: str, args) -> list[str]:
    """Each figure of `mine` divided by the same of `theirs` (same run, same notifications)."""
    out = [
        f"Ratios {mine} / {theirs}:",
        "",
        "| commits/s | lines per commit | foreign | 1 client | 10 clients | micro |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    pairs = zip(results[mine]["rows"], results[theirs]["rows"], strict=True)
    for a, b in pairs:
        cells = [a[c] / b[c] if a[c] and b[c] else None for c in CASES]
        micro = (
            results[mine]["micro_foreign_us"][a["batch"]]
            / results[theirs]["micro_foreign_us"][a["batch"]]
        )
        out.append(
            f"| {a['rate']:g} | {a['batch']} | "
            + " | ".join(_cell(x, 2) for x in [*cells, micro])
            + " |"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,10,50", help="lines per commit")
    parser.add_argument("--rates", default="100,1000", help="commits per second")
    parser.add_argument("--seconds", type=float, default=2.0, help="per case")
    parser.add_argument(
        "--max-served", type=float, default=10_000, help="messages/s at most for served cases"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", metavar="REV", help="also run chat/ as of this revision")
    args = parser.parse_args()
    args.batches = [int(b) for b in args.batches.split(",")]
    args.rates = [float(r) for r in args.rates.split(",")]
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
