"""Sizing: what one held WebSocket costs a worker, and how fast they open.

Starts `gunicorn -c gunicorn.conf.py app:app` (2 gevent workers) on a scratch
database, opens CONNECTIONS sockets spread over ROOMS rooms (each socket joins
its room: presence row, catch-up, feed), holds them for HOLD seconds and prints
connects per second, handshake-to-ready p50/p99, the workers' memory before and
after (RSS and USS, per connection), their CPU while the sockets sit idle, and
the PostgreSQL connections in use.

    .venv/bin/python bench/hold.py [--connections 4000] [--rooms 100] [--hold 10]

The load generator holds one file descriptor per socket too: the machine's
`ulimit -n` (20,000 here) bounds both sides. Everything shares the machine's
cores, so compare only with figures measured the same way.
"""

import argparse
import asyncio
import os
import resource
import sys
import time
from pathlib import Path

import orjson
import psutil
import psycopg
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chat import actions  # noqa: E402
from tests.servers import Gunicorn, scratch_database  # noqa: E402

USERS = 200  # sockets are spread over this many accounts, like tabs of many people


def prepare(url: str, rooms: int) -> list[str]:
    """USERS accounts with tokens, and rooms r0..r<rooms-1>."""
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        tokens = []
        for i in range(USERS):
            user = actions.create_user(conn, f"h{i}", "benchmark!").id
            tokens.append(actions.create_token(conn, user))
        for r in range(rooms):
            actions.create_room(conn, f"r{r}", user)
    return tokens


async def open_one(ws_url: str, token: str, held: list, timings: list) -> None:
    started = time.monotonic()
    ws = await connect(
        ws_url,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        max_queue=None,
        proxy=None,
        open_timeout=60,
    )
    async for raw in ws:
        if orjson.loads(raw)["type"] == "ready":
            break
    timings.append(time.monotonic() - started)
    held.append(ws)


def memory(workers: list[psutil.Process]) -> tuple[int, int]:
    infos = [w.memory_full_info() for w in workers]
    return sum(i.rss for i in infos), sum(i.uss for i in infos)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def run(args, gunicorn: Gunicorn, tokens: list[str], url: str) -> None:
    workers = [psutil.Process(pid) for pid in gunicorn.worker_pids()]
    # Warm each worker (hub, presence, pool) so the figures are per socket only.
    warm: list = []
    for _ in range(20):
        await open_one(f"{gunicorn.ws_url}/ws/r0", tokens[0], warm, [])
    for ws in warm:
        await ws.close()
    rss0, uss0 = memory(workers)

    held: list = []
    timings: list[float] = []
    gate = asyncio.Semaphore(args.concurrency)

    async def one(i: int) -> None:
        async with gate:
            room = f"r{i % args.rooms}"
            await open_one(f"{gunicorn.ws_url}/ws/{room}", tokens[i % USERS], held, timings)

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(args.connections)))
    opened = time.monotonic() - started
    rss1, uss1 = memory(workers)

    cpu0 = sum(w.cpu_times().user + w.cpu_times().system for w in workers)
    await asyncio.sleep(args.hold)  # holding: the measurement is of idleness
    cpu1 = sum(w.cpu_times().user + w.cpu_times().system for w in workers)
    with psycopg.connect(url) as conn:
        backends = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchone()[0]

    n = args.connections
    print(
        f"connections={n} rooms={args.rooms} workers={len(workers)} concurrency={args.concurrency}"
    )
    print(f"connects/s: {n / opened:.0f} (all open in {opened:.1f} s)")
    print(
        "handshake to ready ms p50/p99/max: "
        + "/".join(f"{percentile(timings, p) * 1000:.0f}" for p in (0.5, 0.99, 1.0))
    )
    for kind, before, after in (("RSS", rss0, rss1), ("USS", uss0, uss1)):
        print(
            f"worker {kind}: {before / 2**20:.0f} MiB -> {after / 2**20:.0f} MiB, "
            f"{(after - before) / n / 1024:.1f} KiB per connection"
        )
    print(f"worker CPU while idle: {(cpu1 - cpu0) / args.hold * 100:.1f}% of one core")
    print(f"PostgreSQL connections of this database: {backends}")
    await asyncio.gather(*(ws.close() for ws in held))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=4000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--hold", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=200, help="handshakes in flight")
    args = parser.parse_args()
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if args.connections + 100 > soft:
        raise SystemExit(f"ulimit -n is {soft}: too few descriptors for {args.connections}")
    with scratch_database() as url:
        tokens = prepare(url, args.rooms)
        gunicorn = Gunicorn(
            url,
            Path("/tmp") / f"hold-{os.getpid()}.log",
            workers=2,
            MAX_SOCKETS_PER_USER=str(args.connections),
            WORKER_CONNECTIONS=str(args.connections + 100),
        )
        gunicorn.start()
        try:
            asyncio.run(run(args, gunicorn, tokens, url))
        finally:
            gunicorn.stop()


if __name__ == "__main__":
    main()
