"""Turn a results file of bench/load.py into docs/benchmarks.md's tables and a plot.

    .venv-bench/bin/python -m bench.report bench/results/quick-....json

Writes docs/benchmarks-<profile>.png (p99 latency against messages in per
second, one line per target) and prints the Markdown tables; `--write` puts
them into docs/benchmarks.md between that profile's results markers.

A run that measured the floor first (bench/floor.py's `measure()`, kept under
"floor") gets it next to its own figures in every table: the server's CPU µs
per delivery beside the Python floor's µs per socket write, and the database
backends' CPU µs per message sent beside PostgreSQL's floor per message, each
with its ratio. Runs without a floor get the tables they always had.
"""

import argparse
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
P99_GOAL_MS = 100.0  # S3's bar (the issue's)
S4_P99_MS = 250.0  # S4's bar


def best_s3(scenario: dict) -> dict | None:
    """The highest step with complete delivery and p99 under the goal."""
    good = [
        s
        for s in scenario.get("steps", [])
        if s["complete"] and s["p99_ms"] is not None and s["p99_ms"] < P99_GOAL_MS
    ]
    return max(good, key=lambda s: s["messages_in_per_s"], default=None)


def label(result: dict, run: dict) -> str:
    """A target's name, and the client layer's when the run compared several."""
    if len(run.get("clients", ())) > 1:
        return f"{result['target']} ({result['client']})"
    return result["target"]


def by_target(run: dict) -> dict[str, dict[str, dict]]:
    return {
        label(r, run): {s["scenario"]: s for s in r["scenarios"] if "error" not in s}
        for r in run["results"]
    }


def failures(run: dict) -> list[str]:
    return [
        f"- {label(r, run)} {s['scenario']}: {s['error'] or 'no answer from the load processes'}"
        for r in run["results"]
        for s in r["scenarios"]
        if "error" in s
    ]


def fmt(value, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def ratio(value: float | None, floor: float | None) -> str:
    return f"{value / floor:.1f}x" if value and floor else "–"


def database_us_per_message(step: dict) -> float | None:
    """The database backends' CPU µs per message sent (load.py counts it per delivery)."""
    per_delivery = step.get("database_cpu_us_per_delivery")
    if per_delivery is None or not step.get("sent"):
        return None
    return per_delivery * step["delivered"] / step["sent"]


# Measured columns first, then the floor and the ratio; `{}` takes the step's name.
FLOOR_HEADS = [
    "server µs/delivery{}",
    "floor µs/write",
    "x floor",
    "DB µs/msg{}",
    "PG floor µs/msg",
    "x PG floor",
]


def floor_cells(step: dict | None, floor: dict) -> list[str]:
    """A step's server and database CPU next to the floor's, with the ratios."""
    step = step or {}
    server = step.get("server_cpu_us_per_delivery")
    write = floor.get("python_write_us")
    database = database_us_per_message(step)
    postgres = floor.get("postgres_cpu_us")
    return [
        fmt(server, 1),
        fmt(write, 1),
        ratio(server, write),
        fmt(database, 1),
        fmt(postgres, 1),
        ratio(database, postgres),
    ]


def cpu_heads(floor_of: dict[str, dict], which: str = "") -> list[str]:
    """The CPU columns: the server's per delivery, with the floor's beside it if any;
    `which` names the step the measured ones come from."""
    return [head.format(which) for head in (FLOOR_HEADS if floor_of else ["CPU µs/delivery{}"])]


def cpu_cells(step: dict | None, floor_of: dict[str, dict], target: str) -> list[str]:
    """The CPU columns' cells for a step of `target` (a target without a floor of
    its own in a run with floors: its server figure, dashes for the floor)."""
    if not floor_of:
        return [fmt(step and step["server_cpu_us_per_delivery"], 1)]
    return floor_cells(step, floor_of.get(target, {}))


def floors(run: dict) -> dict[str, dict]:
    """Each target's floor: the one measured by the run it came from."""
    found = {r["target"]: r["floor"] if "floor" in r else run.get("floor") for r in run["results"]}
    return {target: floor for target, floor in found.items() if floor}


def floor_note(run: dict) -> list[str]:
    """One line per floor the tables compare with (merged runs may bring several)."""
    seen = {id(f): f for f in floors(run).values()}.values()
    return [
        f"Floor (bench/floor.py, measured {f['measured_at']}): a Python write of one "
        f"{f['frame_bytes']}-byte frame to {max(r['sockets'] for r in f['sockets']):,} "
        f"loopback sockets costs {f['python_write_us']:.1f} µs of CPU ({f['c_write_us']:.1f} "
        f"in C); PostgreSQL stores and announces a message in batches of "
        f"{f['postgres_batch']} for {fmt(f['postgres_cpu_us'], 1)} µs of its writing "
        f"backend's CPU ({alone(f)} µs alone in its transaction). The ratios are "
        "against these least costs."
        for f in seen
    ]


def alone(floor: dict) -> str:
    """The floor's database CPU per message in batches of one."""
    ones = [row["backend_cpu_us"] for row in floor["database"] if row["batch"] == 1]
    return fmt(ones[0] if ones else None, 1)


def tables(run: dict, source: str) -> str:
    targets = by_target(run)
    names = list(targets)
    floor_of = floors(run)
    out = [
        f"Run `{source}` ({run['profile']} profile, {run['started']}, "
        f"{run['machine']['cpus']} cores shared by the servers, PostgreSQL and "
        f"{run['machine']['load_processes']} load processes"
        f"{' with the ' + ', '.join(run['clients']) + ' clients' if 'clients' in run else ''}).",
        "",
        *([*floor_note(run), ""] if floor_of else []),
        "| target | S1 connects/s | S1 KiB/conn | S2 p50 ms | S2 p99 ms | "
        "S3 msgs/s at p99<100 ms | S3 p99 ms | S4 deliveries/s at p99<250 ms |"
        + "".join(f" {head} |" for head in cpu_heads(floor_of, " (S3 best)")),
        "| --- " * (8 + len(cpu_heads(floor_of))) + "|",
    ]
    summary = {}
    for name in names:
        sc = targets[name]
        s1 = sc.get("S1", {}).get("connect", {})
        s2 = (sc.get("S2", {}).get("steps") or [None])[0] or {}
        s3 = best_s3(sc["S3"]) if "S3" in sc else None
        s4_steps = [
            s
            for s in sc.get("S4", {}).get("steps", [])
            if s["complete"] and s["p99_ms"] is not None and s["p99_ms"] < S4_P99_MS
        ]
        s4 = max((s["deliveries_per_s"] for s in s4_steps), default=None)
        summary[name] = {"s3": s3["messages_in_per_s"] if s3 else None, "s4": s4}
        out.append(
            f"| {name} | {fmt(s1.get('connects_per_s'))} | "
            f"{fmt(s1.get('rss_per_connection_kib'), 1)} | {fmt(s2.get('p50_ms'), 1)} | "
            f"{fmt(s2.get('p99_ms'), 1)} | {fmt(s3 and s3['messages_in_per_s'])} | "
            f"{fmt(s3 and s3['p99_ms'], 1)} | {fmt(s4)} |"
            + "".join(f" {cell} |" for cell in cpu_cells(s3, floor_of, name))
        )
    if "ours" in summary:
        out += ["", "Ratios, ours against each other target in the same run:", ""]
        out += ["| against | S3 rate | S4 deliveries/s |", "| --- | --- | --- |"]
        for name in names:
            if name == "ours":
                continue
            ratios = []
            for key in ("s3", "s4"):
                mine, theirs = summary["ours"][key], summary[name][key]
                ratios.append(f"{mine / theirs:.2f}x" if mine and theirs else "–")
            out.append(f"| {name} | {ratios[0]} | {ratios[1]} |")
    if failures(run):
        out += ["", "Scenarios that could not run:", "", *failures(run)]
    out += ["", "Every step (S3 and S4 stop at the first incomplete or very slow step):", ""]
    # Older runs, without a floor, keep the step table they always had.
    heads = cpu_heads(floor_of) if floor_of else []
    out += [
        "| target | scenario | offered/s | in/s | deliveries/s | p50 ms | p99 ms | max ms | "
        "complete | lost | dup | server MiB |" + "".join(f" {head} |" for head in heads),
        "| --- " * (12 + len(heads)) + "|",
    ]
    for name in names:
        for scenario_name, sc in targets[name].items():
            for s in sc.get("steps", []):
                extra = cpu_cells(s, floor_of, name) if floor_of else []
                out.append(
                    f"| {name} | {scenario_name} | {fmt(s['offered_per_s'])} | "
                    f"{fmt(s['messages_in_per_s'])} | {fmt(s['deliveries_per_s'])} | "
                    f"{fmt(s['p50_ms'], 1)} | {fmt(s['p99_ms'], 1)} | {fmt(s['max_ms'], 1)} | "
                    f"{'yes' if s['complete'] else 'NO'} | {s['lost']} | {s['duplicated']} | "
                    f"{fmt(s.get('server_rss_mib'))} |" + "".join(f" {c} |" for c in extra)
                )
    return "\n".join(out)


def plot(run: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, scenarios in by_target(run).items():
        steps = scenarios.get("S3", {}).get("steps", [])
        xs = [s["messages_in_per_s"] for s in steps if s["p99_ms"] is not None]
        ys = [s["p99_ms"] for s in steps if s["p99_ms"] is not None]
        if xs:
            ax.plot(xs, ys, marker="o", label=name)
    ax.axhline(P99_GOAL_MS, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("messages in per second (S3: rooms of 10, one sender each)")
    ax.set_ylabel("p99 latency, ms (log)")
    ax.set_yscale("log")
    ax.set_title(f"Latency against throughput ({run['profile']} profile, {run['started']})")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+", help="one run, or several to merge")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    runs = [orjson.loads(path.read_bytes()) for path in args.results]
    run = runs[0]
    for r in run["results"]:  # each target keeps the floor of the run that measured it
        r.setdefault("floor", run.get("floor"))
    for other in runs[1:]:  # a later run's target replaces the same target's earlier one
        names = {label(r, other) for r in other["results"]}
        run["results"] = [r for r in run["results"] if label(r, run) not in names]
        run["results"] += [
            {**r, "floor": r.get("floor") or other.get("floor")} for r in other["results"]
        ]
    source = "`, `".join(str(p.resolve().relative_to(ROOT)) for p in args.results)
    text = tables(run, source)
    image = ROOT / "docs" / f"benchmarks-{run['profile']}.png"
    plot(run, image)
    text += f"\n\n![p99 latency against messages per second]({image.name})"
    print(text)
    if args.write:
        doc = DOC.read_text()
        begin = f"<!-- results:{run['profile']}:begin -->"
        end = f"<!-- results:{run['profile']}:end -->"
        if begin not in doc:
            sys.exit(f"{DOC} has no {begin} marker")
        head, _, rest = doc.partition(begin)
        _, _, tail = rest.partition(end)
        DOC.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


if __name__ == "__main__":
    main()
