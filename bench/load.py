"""The load generator: our server and its peers under the same scenarios, side by side.

    .venv-bench/bin/python -m bench.load --profile quick --targets ours,naive
    .venv-bench/bin/python -m bench.load --profile full --targets ours,naive,channels,socketio
    .venv-bench/bin/python -m bench.load --targets ours --scenarios S3,S4 \
        --client websockets,picows      # the two client layers, alternating

For each target, on a fresh scratch database: start the server, spread the
clients over LOAD_PROCESSES load processes (bench/swarm.py; one connection per
client, to one room), then run the profile's scenarios:

- S1 connect and hold: open N sockets, hold them; connects/s, handshake p99,
  server memory per connection.
- S2 latency: clients in rooms of 10, one sender per room, a fixed rate.
- S3 throughput: the same shape, stepped offered load; the highest step with
  p99 < 100 ms and complete delivery is the result.
- S4 broadcast: one room with many receivers, stepped rate; deliveries/s.
- S5 slow readers: S3's rooms of 10, a tenth of them busy (nine senders each,
  the others one), and 1% of the clients, all in the busy rooms, stop reading
  their sockets: the others' latency and the server's memory should not notice.

Every message is stamped "<pid>|<sender>|<n>|<unix time>"; latency is taken
only for messages born in the receiving process (no clock skew), and every
receiver must get every message of its room exactly once (a loss or a
duplicate fails the step). Server CPU is read from /proc for the target's own
processes; the generator's and the database backends' are recorded beside it.
The clients are picows on uvloop by default (`--client picows`) or the
targets' asyncio clients (`--client websockets`, the generator as it was, at
about twice the CPU per delivery); several, comma-separated, run each scenario
once per client in turn on the same server. Results go to
bench/results/<profile>-<time>.json; bench/report.py turns them into
docs/benchmarks.md.
"""

import argparse
import multiprocessing
import os
import queue
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import floor  # noqa: E402
from bench.gauges import (  # noqa: E402
    cpu_seconds,
    cpu_split,
    database_backends,
    notification_queue_usage,
    rss,
    wakes,
)
from bench.swarm import CLIENTS, DRAIN_TIMEOUT, load_process  # noqa: E402
from bench.targets import portable, target_class  # noqa: E402

LOAD_PROCESSES = 2  # one per core: the generator shares the machine with the server
P99_GOAL = 0.100  # S3 counts a step only under this (issue: p99 < 100 ms)


@dataclass
class Scenario:
    name: str
    clients: int
    rooms: int
    rates: list[float] = field(default_factory=list)  # messages/s offered, per step
    seconds: float = 6.0  # sending time per step
    senders_per_room: int = 1
    hold: float = 0.0  # S1: seconds to hold the sockets
    # S5: the first `busy_rooms` rooms have `busy_senders` senders each (the
    # others `senders_per_room`), so they carry most of the traffic, and this
    # share of all clients, members of the busy rooms that do not send, stop
    # reading their sockets.
    busy_rooms: int = 0
    busy_senders: int = 0
    slow_share: float = 0.0


PROFILES = {
    # About 40 s a target, so `make bench` compares four in under 3 minutes.
    "quick": [
        Scenario("S2", clients=300, rooms=30, rates=[100], seconds=5),
        Scenario("S3", clients=600, rooms=60, rates=[300, 600, 1200, 2400], seconds=5),
        Scenario("S4", clients=300, rooms=1, rates=[20, 60, 120], seconds=5, senders_per_room=4),
        Scenario(
            "S5",
            clients=600,
            rooms=60,
            rates=[1200],
            seconds=8,
            busy_rooms=6,
            busy_senders=9,
            slow_share=0.01,
        ),
    ],
    "full": [
        Scenario("S1", clients=15000, rooms=500, hold=15),
        Scenario("S2", clients=1000, rooms=100, rates=[100], seconds=20),
        Scenario(
            "S3", clients=2000, rooms=200, rates=[250, 500, 1000, 2000, 4000, 6000], seconds=10
        ),
        Scenario(
            "S4", clients=2000, rooms=1, rates=[10, 20, 40, 80], seconds=10, senders_per_room=4
        ),
        Scenario(
            "S5",
            clients=2000,
            rooms=200,
            rates=[1000],
            seconds=10,
            busy_rooms=20,
            busy_senders=9,
            slow_share=0.01,
        ),
    ],
}


# --- the parent: scenarios and figures ----------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


class ScenarioFailed(Exception):
    """A load process could not go on (the target refused connections, say)."""


def gather(outboxes, kind: str, timeout: float = 300) -> list[tuple]:
    replies = []
    for box in outboxes:
        reply = box.get(timeout=timeout)
        if reply[0] != kind:
            raise ScenarioFailed(str(reply[1:]) if reply[0] == "failed" else repr(reply))
        replies.append(reply)
    return replies


def room_names(scenario: Scenario, client: str) -> list[str]:
    """A scenario's rooms, its own for each client layer (a run may compare them)."""
    return [f"{scenario.name.lower()}-{client}-{r}" for r in range(scenario.rooms)]


def sends(scenario: Scenario, i: int) -> bool:
    """Whether client `i` sends: client i is member i // rooms of room i % rooms."""
    room, rank = i % scenario.rooms, i // scenario.rooms
    busy = room < scenario.busy_rooms
    return rank < (scenario.busy_senders if busy else scenario.senders_per_room)


def stopped_readers(scenario: Scenario, plan: list[tuple]) -> set[int]:
    """The clients that stop reading (S5): `slow_share` of all, taken from the
    members of the busy rooms (of every room when none is busy) that do not
    send, spread over those rooms."""
    wanted = round(scenario.clients * scenario.slow_share)
    if not wanted:
        return set()
    candidates = sorted(
        (i // scenario.rooms, i)
        for i, _, _, sending in plan
        if not sending and (i % scenario.rooms < scenario.busy_rooms or not scenario.busy_rooms)
    )
    if len(candidates) < wanted:
        raise ValueError(f"{scenario.name}: {wanted} stopped readers, {len(candidates)} candidates")
    # Lowest rank first: one per room before a second in any.
    return {i for _, i in candidates[:wanted]}


def run_scenario(
    target, scenario: Scenario, credentials: list, database_url: str, client: str
) -> dict:
    rooms = room_names(scenario, client)
    plan = [
        (i, credentials[i], rooms[i % scenario.rooms], sends(scenario, i))
        for i in range(scenario.clients)
    ]
    slow = stopped_readers(scenario, plan)
    ctx = multiprocessing.get_context("spawn")
    inboxes = [ctx.Queue() for _ in range(LOAD_PROCESSES)]
    outboxes = [ctx.Queue() for _ in range(LOAD_PROCESSES)]
    state = portable(target)
    pids = target.pids()
    memory_before = rss(pids)
    procs = [
        ctx.Process(
            target=load_process,
            args=(client, state, plan[k::LOAD_PROCESSES], slow, inboxes[k], outboxes[k]),
            daemon=True,
        )
        for k in range(LOAD_PROCESSES)
    ]
    for p in procs:
        p.start()
    load_pids = [p.pid for p in procs]
    result: dict = {
        "scenario": scenario.name,
        "client": client,
        "clients": scenario.clients,
        "rooms": scenario.rooms,
        "slow_readers": len(slow),
    }
    try:
        connected = gather(outboxes, "connected")
        timings = [t for reply in connected for t in reply[1]]
        opened = max(reply[2] for reply in connected)
        result["connect"] = {
            "connects_per_s": scenario.clients / opened,
            "handshake_p50_ms": percentile(timings, 0.5) * 1000,
            "handshake_p99_ms": percentile(timings, 0.99) * 1000,
            "rss_per_connection_kib": (rss(target.pids()) - memory_before)
            / scenario.clients
            / 1024,
        }
        print(
            f"  {scenario.name} {client} connected {scenario.clients}: {result['connect']}",
            flush=True,
        )
        if scenario.hold:
            cpu0 = cpu_seconds(target.pids())
            for box in inboxes:
                box.put(("hold", scenario.hold))
            gather(outboxes, "held", timeout=scenario.hold + 60)
            result["idle_cpu_percent"] = (cpu_seconds(target.pids()) - cpu0) / scenario.hold * 100
        senders = sum(1 for *_, sends in plan if sends)
        if scenario.rates:
            # Not recorded: fills the server's connection pools and caches, as
            # minutes of real traffic would have.
            warm = Scenario(scenario.name, scenario.clients, scenario.rooms, seconds=2)
            run_step(
                target, warm, scenario.rates[0], senders, inboxes, outboxes, database_url, load_pids
            )
        result["steps"] = []
        for rate in scenario.rates:
            step = run_step(
                target, scenario, rate, senders, inboxes, outboxes, database_url, load_pids
            )
            result["steps"].append(step)
            print(f"  {scenario.name} {client} {rate}/s: {short(step)}", flush=True)
            if not step["complete"] or (step["p99_ms"] or 0) > 1000:
                break  # past saturation: higher steps only take longer
    finally:
        for box in inboxes:
            box.put(("stop",))
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    return result


def run_step(target, scenario, rate, senders, inboxes, outboxes, database_url, load_pids) -> dict:
    pids = target.pids()
    cpu0 = cpu_seconds(pids)
    wakes0 = wakes(pids)
    load_cpu0 = cpu_split(load_pids)
    # Backends are pooled: the ones serving the server at the start of a step
    # are, with few exceptions, the ones serving it throughout.
    backends = database_backends(database_url)
    db_cpu0 = cpu_seconds(backends)
    started = time.monotonic()
    for box in inboxes:
        box.put(("step", rate / senders, scenario.seconds))
    sent_replies = gather(outboxes, "sent")
    expected: dict[str, int] = {}
    for reply in sent_replies:
        for room, n in reply[1].items():
            expected[room] = expected.get(room, 0) + n
    for box in inboxes:
        box.put(("expected", expected))
    results = gather(outboxes, "result", timeout=DRAIN_TIMEOUT + 60)
    # Until the last delivery (or the drain timeout): a backlog drained after the
    # senders stopped does not count as speed.
    until_delivered = time.monotonic() - started
    cpu = cpu_seconds(pids) - cpu0
    woken = wakes(pids) - wakes0
    load_user, load_system = cpu_split(load_pids)
    load_system -= load_cpu0[1]
    load_cpu = load_user - load_cpu0[0] + load_system
    db_cpu = cpu_seconds(backends) - db_cpu0
    total_sent = sum(expected.values())
    window = max(reply[2] for reply in sent_replies)
    delivered = sum(r[1] for r in results)
    latencies = [lat for r in results for lat in r[5]]
    lost, duplicated, out_of_order = (sum(r[k] for r in results) for k in (2, 3, 4))
    return {
        "offered_per_s": rate,
        "messages_in_per_s": total_sent / window,
        "deliveries_per_s": delivered / max(window, until_delivered),
        "p50_ms": _ms(percentile(latencies, 0.5)),
        "p95_ms": _ms(percentile(latencies, 0.95)),
        "p99_ms": _ms(percentile(latencies, 0.99)),
        "max_ms": _ms(percentile(latencies, 1.0)),
        "sent": total_sent,
        "delivered": delivered,
        "lost": lost,
        "duplicated": duplicated,
        "out_of_order": out_of_order,
        "complete": lost == 0 and duplicated == 0 and out_of_order == 0,
        "server_cpu_us_per_delivery": cpu / delivered * 1e6 if delivered else None,
        # Every process of the server: how often each went to sleep and was woken.
        "server_wakes_per_delivery": woken / delivered if delivered else None,
        # The other two users of the same two cores, per delivery: the load
        # generator's processes and the database backends serving the target.
        "generator_cpu_us_per_delivery": load_cpu / delivered * 1e6 if delivered else None,
        # The kernel's part of it (reads, ACKs, epoll), which no client layer avoids.
        "generator_system_share": load_system / load_cpu if load_cpu else None,
        "database_cpu_us_per_delivery": db_cpu / delivered * 1e6 if delivered else None,
        "notification_queue_usage": notification_queue_usage(database_url),
        "server_rss_mib": rss(pids) / 2**20,
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def short(step: dict) -> str:
    return (
        f"in {step['messages_in_per_s']:.0f}/s, out {step['deliveries_per_s']:.0f}/s, "
        f"p50 {step['p50_ms'] or 0:.1f} p99 {step['p99_ms'] or 0:.1f} ms, "
        f"complete={step['complete']} (lost {step['lost']}, dup {step['duplicated']}), "
        f"CPU µs/delivery server {step['server_cpu_us_per_delivery'] or 0:.0f} "
        f"(wakes {step['server_wakes_per_delivery'] or 0:.2f}) "
        f"generator {step['generator_cpu_us_per_delivery'] or 0:.0f} "
        f"database {step['database_cpu_us_per_delivery'] or 0:.0f}"
    )


def run_target(name: str, scenarios: list[Scenario], clients: list[str]) -> list[dict]:
    """The scenarios against one target, each once per client layer in turn
    (alternating, so that a comparison shares the machine's moods); a result
    per client."""
    from tests.servers import scratch_database

    outs = {client: {"target": name, "client": client, "scenarios": []} for client in clients}
    # One server per target for all scenarios (each in rooms of its own): a
    # restart per scenario would cost more than the quick profile's budget.
    with scratch_database() as url:
        target = target_class(name)(url)
        target.start()
        try:
            for scenario in scenarios:
                for client in clients:
                    rooms = room_names(scenario, client)
                    credentials = target.prepare(scenario.clients, rooms)
                    out = outs[client]["scenarios"]
                    try:
                        out.append(run_scenario(target, scenario, credentials, url, client))
                    except (ScenarioFailed, queue.Empty) as exc:
                        print(f"  {scenario.name} {client} FAILED: {exc}", flush=True)
                        reason = str(exc) or "no answer from the load processes in time"
                        out.append({"scenario": scenario.name, "client": client, "error": reason})
                        # A server that broke under one scenario gets a fresh start.
                        target.stop()
                        target.start()
        finally:
            target.stop()
    return list(outs.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--targets", default="ours,naive")
    parser.add_argument("--scenarios", default="", help="e.g. S2,S3 (default: all)")
    parser.add_argument("--clients", type=int, help="override the scenarios' client count")
    parser.add_argument("--rooms", type=int, help="override the scenarios' room count")
    parser.add_argument("--rates", help="override the steps, e.g. 50,100")
    parser.add_argument(
        "--client",
        default="picows",
        help=f"the client layer, one of {', '.join(CLIENTS)}; several, comma-separated, "
        "run each scenario once per client in turn",
    )
    parser.add_argument(
        "--no-floor", action="store_true", help="skip measuring the floor (bench/floor.py)"
    )
    args = parser.parse_args()
    clients = args.client.split(",")
    if not clients or set(clients) - set(CLIENTS):
        parser.error(f"--client: one or more of {', '.join(CLIENTS)}")
    wanted = set(filter(None, args.scenarios.split(",")))
    scenarios = [s for s in PROFILES[args.profile] if not wanted or s.name in wanted]
    for scenario in scenarios:
        scenario.clients = args.clients or scenario.clients
        scenario.rooms = args.rooms or scenario.rooms
        if args.rates:
            scenario.rates = [float(r) for r in args.rates.split(",")]
    run = {
        "profile": args.profile,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "load_processes": LOAD_PROCESSES},
        "clients": clients,
        "results": [],
    }
    if not args.no_floor:
        # What the hardware costs with no server, measured in the same run.
        run["floor"] = floor.measure(quick=True)
        print(floor.table(run["floor"]), flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{args.profile}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    for name in args.targets.split(","):
        print(f"{name}:", flush=True)
        run["results"] += run_target(name, scenarios, clients)
        # After each target: a run cut short keeps what it measured.
        path.write_bytes(orjson.dumps(run, option=orjson.OPT_INDENT_2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
