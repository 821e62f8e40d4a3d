"""Sizing: what one held WebSocket costs a worker, and how fast they open (issue 20, S1).

    .venv-bench/bin/python -m bench.hold --connections 4000
    .venv-bench/bin/python -m bench.hold --connections 30000 --targets before,ours,before,ours
    BENCH_BEFORE=<rev> .venv-bench/bin/python -m bench.hold --targets before,ours

For each target in turn (bench/targets.py: `ours` is this tree, `before` the
revision BENCH_BEFORE exported beside it; list a target twice to alternate
them, so both share the machine's moods), on a scratch database: 2 gunicorn
gevent workers, ROOMS rooms, then LOAD_PROCESSES processes (picows on uvloop,
bench/wsclient.py) open CONNECTIONS `/ws/<room>` sockets between them, each
one ready (joined: presence, catch-up, feed) before it counts, and hold them
HOLD seconds. Printed per target:

- connects/s: sockets over the time from the first handshake to the last ready;
- worker CPU ms per connect: the workers' user+system CPU over that time, per socket;
- RSS per held socket: the workers' RSS (master left out) after, less before, per socket;
- idle CPU: the workers' CPU while the sockets sit idle, in % of one core
  (pings included: WS_PING_INTERVAL is the default 25 s, so a 30 s hold sees one round).

The workers are warmed first (a few sockets each, closed again) so the figures
are per socket, not the LISTEN connection's or the pool's. The load generator
holds one file descriptor per socket too: `ulimit -n` bounds both sides.
Everything shares the machine's cores: compare only figures of one run.
"""

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gauges import cpu_seconds, rss  # noqa: E402
from bench.targets import portable, revive, target_class  # noqa: E402

LOAD_PROCESSES = 4  # the machine's clients: one core's worth of handshakes each at most
CONCURRENCY = 100  # handshakes in flight per load process
WARM = 10  # sockets per worker opened and closed before measuring


class _NoSink:
    """Chat texts are not counted here: the sockets only sit."""

    def count(self, got: dict, content: bytes) -> None:
        pass


def load_process(state, plan: list, inbox, outbox) -> None:
    """Open the plan's sockets (credential, room), report, hold until told to stop."""
    import uvloop

    uvloop.run(_hold(revive(state), plan, inbox, outbox))


async def _hold(target, plan: list, inbox, outbox) -> None:
    from bench.wsclient import connect

    gate = asyncio.Semaphore(CONCURRENCY)
    held = []

    async def one(credential: str, room: str) -> None:
        async with gate:
            held.append(await connect(target, credential, room, _NoSink()))

    started = time.monotonic()
    try:
        await asyncio.gather(*(one(c, r) for c, r in plan))
    except Exception as exc:
        outbox.put(("failed", repr(exc)))
        return
    outbox.put(("connected", started, time.monotonic()))
    await asyncio.get_running_loop().run_in_executor(None, inbox.get)
    for listener in held:
        listener.transport.disconnect(graceful=False)


def workers_of(target) -> list[int]:
    return target.server.worker_pids()


def measure(name: str, connections: int, rooms: int, hold: float) -> dict:
    from tests.servers import scratch_database

    with scratch_database() as url:
        target = target_class(name)(url)
        target.start()
        try:
            room_list = [f"h{r}" for r in range(rooms)]
            credentials = target.prepare(connections, room_list)
            state = portable(target)
            asyncio.run(_warm(target, credentials[0], room_list[0]))
            workers = workers_of(target)
            rss0, cpu0 = rss(workers), cpu_seconds(workers)
            plan = [(credentials[i], room_list[i % rooms]) for i in range(connections)]
            ctx = multiprocessing.get_context("spawn")
            inboxes = [ctx.Queue() for _ in range(LOAD_PROCESSES)]
            outbox = ctx.Queue()
            procs = [
                ctx.Process(
                    target=load_process,
                    args=(state, plan[k::LOAD_PROCESSES], inboxes[k], outbox),
                    daemon=True,
                )
                for k in range(LOAD_PROCESSES)
            ]
            for p in procs:
                p.start()
            try:
                replies = [outbox.get(timeout=600) for _ in procs]
                failed = [r for r in replies if r[0] != "connected"]
                if failed:
                    raise SystemExit(f"{name}: {failed[0][1]}")
                cpu1, rss1 = cpu_seconds(workers), rss(workers)
                opened = max(r[2] for r in replies) - min(r[1] for r in replies)
                time.sleep(hold)
                cpu2 = cpu_seconds(workers)
            finally:
                for box in inboxes:
                    box.put("stop")
                for p in procs:
                    p.join(30)
                    if p.is_alive():
                        p.kill()
        finally:
            target.stop()
    return {
        "target": name,
        "connections": connections,
        "connects_per_s": connections / opened,
        "worker_cpu_ms_per_connect": (cpu1 - cpu0) / connections * 1000,
        "rss_kib_per_socket": (rss1 - rss0) / connections / 1024,
        "idle_cpu_percent": (cpu2 - cpu1) / hold * 100,
    }


async def _warm(target, credential: str, room: str) -> None:
    """Open and close a few sockets per worker: LISTEN loop, pool, presence up."""
    from bench.wsclient import connect

    workers = len(target.server.worker_pids())
    held = [await connect(target, credential, room, _NoSink()) for _ in range(WARM * workers)]
    for listener in held:
        listener.transport.disconnect(graceful=False)
    await asyncio.sleep(1.0)  # their ends (presence, leaves) out of the figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=4000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--targets", default="before,ours")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.connections // LOAD_PROCESSES + 100 > hard:
        raise SystemExit(f"ulimit -n is {hard}: too few descriptors for {args.connections}")
    results = []
    for name in args.targets.split(","):
        result = measure(name, args.connections, args.rooms, args.hold)
        results.append(result)
        print(
            f"{name:7} {args.connections} sockets: {result['connects_per_s']:.0f} connects/s,"
            f" {result['worker_cpu_ms_per_connect']:.2f} ms worker CPU per connect,"
            f" {result['rss_kib_per_socket']:.1f} KiB RSS per socket,"
            f" idle {result['idle_cpu_percent']:.1f}% CPU",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
