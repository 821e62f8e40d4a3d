"""Where more app hosts stop helping: a model fed by fanout_cost.py and notify_ceiling.py.

    .venv/bin/python -m bench.scale_model --fanout bench/results/fanout-<time>.json \\
        --ceiling bench/results/ceiling-<L=1>.json bench/results/ceiling-<L=8>.json ...
        [--hosts 1,4,16,64] [--workers-per-host 2] [--room 10] [--batch 50] [--cores 2]

Prints docs/deploy.md's scaling table. With H hosts of `--workers-per-host`
workers there are W workers, each with one LISTEN connection, each hearing
every message. Assumptions, each a flag:

- The writers' batches hold `--batch` lines (the group commit's batches grow
  with load; near the database's ceiling they are large). Payloads per commit
  are taken from the ceiling run of that batch size.
- Rooms have `--room` members whose sockets are spread evenly over the
  workers: a worker has clients in min(1, room/W) of the rooms, with
  room/min(room, W) clients in each.

A worker's CPU per message of the whole deployment (fanout_cost.py, the
highest commit rate measured): `foreign` for a room it has no client in,
`1 client` and `10 clients` (interpolated between) for one it serves. Its
LISTEN work eats a core at 10^6 / that many messages per second: hearing
alone (every room foreign) and with its share of the deliveries.

PostgreSQL's CPU per message (notify_ceiling.py at several listener counts
L): the writing backends' per message with NOTIFY, fitted as a line in L (the
commit signals every listener), plus each listener's backend relaying each
payload. A primary of `--cores` cores runs out of CPU at cores·10^6 / that;
the commit lock (NOTIFY commits are serialised through the WAL flush) stops it
at the messages/s measured at that L (the best of the runs given), or at most
at the rate measured with the most listeners below L.
"""

import argparse
import json
import statistics
from pathlib import Path


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def worker_costs(fanout: dict, label: str, batch: int) -> dict[str, float]:
    """µs per message: foreign, 1 client, 10 clients, each at the highest commit
    rate at which it was measured for `batch` lines per commit."""
    rows = [row for row in fanout["results"][label]["rows"] if row["batch"] == batch]
    if not rows:
        raise SystemExit(f"the fanout results have no batch of {batch}")
    costs = {}
    for case in ("foreign", "1 client", "10 clients"):
        measured = [row for row in rows if row[case] is not None]
        costs[case] = max(measured, key=lambda row: row["rate"])[case]
    return costs


def served(costs: dict[str, float], clients: float) -> float:
    """µs per message of a room with `clients` local clients (linear in clients)."""
    one, ten = costs["1 client"], costs["10 clients"]
    return one + (clients - 1) * (ten - one) / 9


def database_costs(ceilings: list[dict], batch: int) -> dict:
    """The writing backends' µs per message as w0 + w1·L, the relay µs per payload
    and listener (medians over the runs), payloads per commit, and the best
    messages/s measured at each L."""
    points, relays, payloads, ceiling = [], [], [], {}
    for run in ceilings:
        listeners = run["args"]["listeners"]
        for row in run["rows"]:
            if row["batch"] != batch:
                continue
            points.append((listeners, row["writer_cpu_us_per_message_notify"]))
            relays.append(row["listener_cpu_us_per_notify"])
            payloads.append(row["notifies_per_s"] / row["tx_notify_per_s"])
            # Noise from other work only ever slows a run: the best one counts.
            ceiling[listeners] = max(ceiling.get(listeners, 0), row["messages_notify_per_s"])
    if not points:
        raise SystemExit(f"the ceiling results have no batch of {batch}")
    slope, intercept = _line(points)
    return {
        "w0": intercept,
        "w1": slope,
        "relay": statistics.median(relays),
        "payloads": statistics.median(payloads),
        "ceiling": ceiling,
    }


def _line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope and intercept (a flat line through one point)."""
    if len({x for x, _ in points}) < 2:
        return 0.0, statistics.mean(y for _, y in points)
    mx = statistics.mean(x for x, _ in points)
    my = statistics.mean(y for _, y in points)
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return slope, my - slope * mx


def rows(args, worker: dict, database: dict) -> list[dict]:
    out = []
    for hosts in args.hosts:
        workers = hosts * args.workers_per_host
        share = min(1.0, args.room / workers)
        local = args.room / min(args.room, workers)
        per_message = (1 - share) * worker["foreign"] + share * served(worker, local)
        pg = (
            database["w0"]
            + database["w1"] * workers
            + workers * database["relay"] * database["payloads"] / args.batch
        )
        per_core = 1e6 / pg
        cpu_bound = args.cores * per_core
        # Unmeasured at W listeners: the ceiling at fewer bounds it (more
        # listeners only add work inside the commit).
        fewer = [n for n in database["ceiling"] if n <= workers]
        lock_at = max(fewer) if fewer else None
        lock = database["ceiling"][lock_at] if fewer else None
        stop = min(cpu_bound, lock) if lock else cpu_bound
        out.append(
            {
                "hosts": hosts,
                "workers": workers,
                "hearing": 1e6 / worker["foreign"],
                "worker": 1e6 / per_message,
                "pg_us": pg,
                "per_core": per_core,
                "cpu_bound": cpu_bound,
                "lock": lock,
                "lock_at": lock_at,
                "stop": stop,
                "hearing_at_stop": stop * worker["foreign"] / 1e6,
            }
        )
    return out


def _rate(value: float) -> str:
    return f"{value / 1000:,.0f}k" if value >= 10_000 else f"{value / 1000:,.1f}k"


def table(out: list[dict], args) -> str:
    lines = [
        f"| app hosts (workers) | a worker's hearing eats a core at | with its deliveries "
        f"(rooms of {args.room}) | PostgreSQL CPU µs/msg | msg/s per primary core | "
        f"commit lock measured at | one {args.cores:g}-core primary stops at | "
        "a worker's hearing there |",
        "| --- " * 8 + "|",
    ]
    for row in out:
        if row["lock"] is None:
            lock = "not measured"
        elif row["lock_at"] == row["workers"]:
            lock = f"{_rate(row['lock'])} msg/s"
        else:
            lock = f"≤ {_rate(row['lock'])} msg/s ({row['lock_at']} listeners)"
        bound = "" if row["lock_at"] == row["workers"] else "≤ "
        lines.append(
            f"| {row['hosts']} ({row['workers']}) | {_rate(row['hearing'])} msg/s | "
            f"{_rate(row['worker'])} msg/s | {row['pg_us']:.0f} | {_rate(row['per_core'])} | "
            f"{lock} | {bound}{_rate(row['stop'])} msg/s | "
            f"{row['hearing_at_stop'] * 100:.0f}% of a core |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fanout", type=Path, required=True)
    parser.add_argument("--label", default="this", help="whose figures in the fanout file")
    parser.add_argument("--ceiling", type=Path, nargs="+", required=True)
    parser.add_argument("--hosts", default="1,4,16,64")
    parser.add_argument("--workers-per-host", type=int, default=2)
    parser.add_argument("--room", type=int, default=10, help="members per room")
    parser.add_argument("--batch", type=int, default=50, help="lines per commit")
    parser.add_argument("--cores", type=float, default=2, help="the primary's cores")
    args = parser.parse_args()
    args.hosts = [int(h) for h in args.hosts.split(",")]
    worker = worker_costs(load(args.fanout), args.label, args.batch)
    database = database_costs([load(path) for path in args.ceiling], args.batch)
    print(
        f"worker µs/msg: {', '.join(f'{k} {v:.1f}' for k, v in worker.items())}; "
        f"PostgreSQL: writers {database['w0']:.1f} + {database['w1']:.2f}·L µs/msg, "
        f"relay {database['relay']:.1f} µs per payload and listener, "
        f"{database['payloads']:.1f} payloads per commit of {args.batch}"
    )
    print(table(rows(args, worker, database), args))


if __name__ == "__main__":
    main()
