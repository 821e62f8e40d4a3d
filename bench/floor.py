"""The floor: what the hardware costs with no chat server at all.

    make bench-floor                      # .venv/bin/python -m bench.floor
    .venv/bin/python -m bench.floor --quick
    .venv/bin/python -m bench.floor --sockets 10,2000 --batches 1,10,50 --rounds 5

Two figures that put the server's own in proportion (bench/report.py shows
them next to a load run's when the run embeds them under "floor"):

- Socket writes. One pre-encoded WebSocket text frame (a typical `chat`
  frame, server to client, unmasked) written to each of N connected loopback
  TCP sockets, round after round, without waiting (MSG_DONTWAIT, as
  chat/realtime/wire.py's try_send writes). Another process drains the far
  ends (epoll), so no buffer fills. Counted: the writer's CPU alone (user and
  system, from its thread's CPU clock) per write, in a plain Python loop and
  in the same loop in C (bench/floor.c, compiled here with `gcc -O2`). On
  loopback the writer's system time includes the receiving side's TCP work,
  so these are upper bounds for a write to a real network card.
- PostgreSQL per stored message. Batches of B rows into a table shaped like
  `messages` (LIKE messages INCLUDING ALL: its indexes, its generated search
  column and its checks; no foreign keys), with one NOTIFY per payload of
  their packed `bus.encode_stored` lines (under 8,000 bytes each), one
  transaction per batch sent in one round trip (a pipeline), with
  synchronous_commit as the server has it (on by default) and one LISTEN
  connection hearing them, as every worker has. Counted per message: the
  writing backend's CPU (its process CPU clock, by pg_backend_pid()), the
  listening backend's CPU, and wall time (one writer, so wall time is mostly
  waiting for the commit's flush).

Every figure is the median of `rounds` repetitions taken in alternating order
on the same sockets and connections (the machine is shared and noisy).
`measure()` returns them as a dict (its shape in its docstring); the command
prints a table and writes bench/results/floor-<time>.json. The two parts live
in bench/floor_sockets.py and bench/floor_postgres.py.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.floor_postgres import database_floor  # noqa: E402
from bench.floor_sockets import FloorError, compile_c, socket_floor, ws_text_frame  # noqa: E402
from bench.samples import typical_frame  # noqa: E402
from tests.servers import scratch_database  # noqa: E402

__all__ = ["FloorError", "measure", "table"]

RESULTS = ROOT / "bench" / "results"
# Socket counts: a room's worth of clients, and a worker holding many.
SOCKETS = (10, 2000)
# Batch sizes the writer makes: a quiet server's lone send, and busy ones'.
BATCHES = (1, 10, 50)


def measure(
    quick: bool = True,
    sockets=SOCKETS,
    batches=BATCHES,
    rounds: int | None = None,
) -> dict:
    """Measure the floor on this machine: about half a minute when quick, two otherwise
    (a commit waits milliseconds for its flush here, and each size gets hundreds).

    The database part runs in a scratch database (tests/servers.py: on
    DATABASE_URL's server or the embedded one), dropped afterwards. FloorError
    if gcc is missing.

    Returns (µs are microseconds, medians over `rounds` repetitions):
        {"version": 1, "measured_at": "<UTC ISO time>", "quick": bool,
         "machine": {"cpus": int, "python": str, "postgres": str,
                     "synchronous_commit": str},
         "frame_bytes": int,                  # the frame written, header included
         "sockets": [{"sockets": N, "writes": int, "python_us": float,
                      "c_us": float, "python_blocked": int, "c_blocked": int}, ...],
         "database": [{"batch": B, "messages": int, "notifies_per_batch": float,
                       "backend_cpu_us": float | None,   # the writing backend, per message
                       "listener_cpu_us": float | None,  # one LISTEN backend, per message
                       "wall_us": float}, ...],          # (CPU None: the server is remote)
         "python_write_us": float,  # python_us at the most sockets
         "c_write_us": float,       # c_us at the most sockets
         "postgres_cpu_us": float | None,  # the least backend_cpu_us of any batch size
         "postgres_batch": int}     # the batch size it was measured at
    """
    rounds = rounds or (3 if quick else 5)
    frame = ws_text_frame(typical_frame())
    with tempfile.TemporaryDirectory(prefix="floor-") as folder:
        binary = compile_c(Path(folder))
        writes = 60_000 if quick else 300_000
        socket_rows = socket_floor(sockets, writes, rounds, binary, frame)
    messages = 300 if quick else 2000
    with scratch_database() as url:
        db_rows, server = database_floor(url, batches, messages, rounds)
    widest = max(socket_rows, key=lambda row: row["sockets"])
    measured = [row for row in db_rows if row["backend_cpu_us"] is not None]
    cheapest = min(measured, key=lambda row: row["backend_cpu_us"], default=None)
    return {
        "version": 1,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), **server},
        "frame_bytes": len(frame),
        "sockets": socket_rows,
        "database": db_rows,
        "python_write_us": widest["python_us"],
        "c_write_us": widest["c_us"],
        "postgres_cpu_us": cheapest and cheapest["backend_cpu_us"],
        "postgres_batch": cheapest and cheapest["batch"],
    }


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def table(floor: dict) -> str:
    """The floor as Markdown tables."""
    machine = floor["machine"]
    out = [
        f"Floor measured {floor['measured_at']} ({'quick' if floor['quick'] else 'full'}; "
        f"{machine['cpus']} cores, Python {machine['python']}, PostgreSQL "
        f"{machine['postgres']}, synchronous_commit={machine['synchronous_commit']}).",
        "",
        f"Socket writes, one {floor['frame_bytes']}-byte WebSocket frame each, writer CPU:",
        "",
        "| sockets | writes | Python µs/write | C µs/write | Python/C | waited |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in floor["sockets"]:
        out.append(
            f"| {row['sockets']:,} | {row['writes']:,} | {_fmt(row['python_us'], 2)} | "
            f"{_fmt(row['c_us'], 2)} | {row['python_us'] / row['c_us']:.2f} | "
            f"{row['python_blocked'] + row['c_blocked']} |"
        )
    out += [
        "",
        "PostgreSQL, one transaction per batch (INSERT + a NOTIFY per ≤8 KB), per message:",
        "",
        "| batch | NOTIFYs/batch | writing backend CPU µs | listening backend CPU µs | wall µs |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in floor["database"]:
        out.append(
            f"| {row['batch']} | {row['notifies_per_batch']:.1f} | "
            f"{_fmt(row['backend_cpu_us'])} | {_fmt(row['listener_cpu_us'])} | "
            f"{_fmt(row['wall_us'])} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer writes and messages")
    parser.add_argument("--sockets", default=",".join(map(str, SOCKETS)))
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--rounds", type=int, help="repetitions per figure (3 quick, 5 full)")
    args = parser.parse_args()
    try:
        floor = measure(
            quick=args.quick,
            sockets=[int(n) for n in args.sockets.split(",")],
            batches=[int(n) for n in args.batches.split(",")],
            rounds=args.rounds,
        )
    except FloorError as exc:
        sys.exit(f"floor: {exc}")
    print(table(floor))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"floor-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(floor, indent=2) + "\n")
    print(f"\nresults: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
