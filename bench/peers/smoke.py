"""Smoke test of the peers: each one starts, fans out exactly once, persists, and stops.

    .venv-bench/bin/python bench/peers/smoke.py [channels socketio]

For each peer, on its own scratch database: connect --clients clients (20) to 2 rooms,
have SENDERS clients of each room send MESSAGES messages to it between them (without
waiting for anything), then one end marker per room once every client has every
message (so a late duplicate would still be seen), and check that every client got
exactly its room's messages, each once and with the exact text; that the peer's
table holds them; and that every process it started is gone after stop(). Prints
messages/s and latency percentiles (sender and receivers are this one process).
Figures are indicative only: the peer, PostgreSQL and this script share the cores.
"""

import argparse
import asyncio
import importlib
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.servers import scratch_database  # noqa: E402

ROOMS, SENDERS, MESSAGES = ["alpha", "beta"], 2, 50
TIMEOUT = 30.0  # for one peer's messages to arrive; the whole exchange gets twice that
TABLES = {"channels": "chatroom_message", "socketio": "socketio_messages"}
TEXT_COLUMN = {"channels": "text", "socketio": "body"}


async def reader(conn, expected: int, marker: str, got: list, arrivals: dict, done) -> None:
    """Collect chat texts until the marker; count `done` once all expected have come."""
    while True:
        text = await conn.recv()
        if text is None:
            continue
        arrivals.setdefault(text, []).append(time.monotonic())
        got.append(text)
        if text == marker:
            return
        if len(got) == expected:
            done.release()


async def exchange(target, clients: int) -> dict:
    credentials = target.prepare(clients, ROOMS)
    rooms = [ROOMS[i % len(ROOMS)] for i in range(clients)]
    conns, readers = [], []
    try:
        # One after another: a burst of concurrent connects tends to land on one process.
        for credential, room in zip(credentials, rooms, strict=True):
            conns.append(await target.connect(credential, room))
        spread = clients_per_process(target)
        sent_at: dict[str, float] = {}
        arrivals: dict[str, list[float]] = {}
        got = [[] for _ in conns]
        expected = {
            room: [
                f'{room} {s}/{i} héllo: "ütf" ✓'
                for s in range(SENDERS)
                for i in range(MESSAGES // SENDERS)
            ]
            for room in ROOMS
        }
        per_room = {room: len(texts) for room, texts in expected.items()}
        done = asyncio.Semaphore(0)
        readers = [
            asyncio.create_task(reader(conn, per_room[room], f"end {room}", got[i], arrivals, done))
            for i, (conn, room) in enumerate(zip(conns, rooms, strict=True))
        ]

        async def send(conn, texts: list[str]) -> None:
            for text in texts:
                sent_at[text] = time.monotonic()
                await conn.send(text)

        senders = []
        for room in ROOMS:
            members = [c for c, r in zip(conns, rooms, strict=True) if r == room][:SENDERS]
            for s, conn in enumerate(members):
                senders.append(send(conn, expected[room][s::SENDERS]))
        started = time.monotonic()
        await asyncio.gather(*senders)
        try:
            async with asyncio.timeout(TIMEOUT):
                for _ in conns:
                    await done.acquire()
        except TimeoutError:
            counts = [len(g) for g in got]
            raise AssertionError(f"not every client got every message: {counts}") from None
        elapsed = time.monotonic() - started
        for room in ROOMS:
            await next(c for c, r in zip(conns, rooms, strict=True) if r == room).send(
                f"end {room}"
            )
        await asyncio.gather(*readers)
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)

    for i, room in enumerate(rooms):
        counts = Counter(got[i])
        assert counts.pop(f"end {room}") == 1, f"client {i}: end marker repeated"
        want = Counter(expected[room])
        assert counts == want, (
            f"client {i} in {room}: missing {list((want - counts).elements())[:3]}, "
            f"extra {sorted((counts - want).items())[:5]}, got {len(got[i])}"
        )
    latencies = [
        t - sent_at[text] for text, times in arrivals.items() if text in sent_at for t in times
    ]
    return {"expected": expected, "elapsed": elapsed, "latencies": latencies, "spread": spread}


def clients_per_process(target) -> list[int]:
    """How many client sockets each server process holds (the kernel picks the process)."""
    counts = []
    for pid in target.pids():
        sockets = psutil.Process(pid).net_connections("tcp")
        counts.append(sum(1 for c in sockets if c.laddr.port == target.port and c.raddr))
    return [n for n in counts if n]


def check_table(name: str, url: str, expected: dict) -> None:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT room, {TEXT_COLUMN[name]} FROM {TABLES[name]}"  # noqa: S608 - constants
        ).fetchall()
    stored = Counter(rows)
    for room, texts in expected.items():
        for text in texts:
            assert stored[(room, text)] == 1, f"{name}: {text!r} stored {stored[(room, text)]}x"


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def smoke(name: str, clients: int) -> None:
    Target = importlib.import_module(f"bench.peers.{name}_chat.target").Target
    with scratch_database() as url, tempfile.TemporaryDirectory(prefix=f"peer-{name}-") as work:
        target = Target(url, workers=2, workdir=Path(work))
        t0 = time.monotonic()
        started: list[int] = []
        try:
            target.start()
            servers, helpers = target.pids(), target.helper_pids
            started = servers + helpers
            boot = time.monotonic() - t0
            result = asyncio.run(asyncio.wait_for(exchange(target, clients), 2 * TIMEOUT))
            check_table(name, url, result["expected"])
        except BaseException:
            print(f"--- {name} log ---\n{target.log()}", file=sys.stderr)
            raise
        finally:
            target.stop()
        alive = [pid for pid in started if running(pid)]
        assert not alive, f"{name}: still running after stop: {alive}"
    sent = sum(len(t) for t in result["expected"].values())
    deliveries = len(result["latencies"])
    ms = sorted(x * 1000 for x in result["latencies"])
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{name:9} ok: boot {boot:.1f} s, {len(servers)} server processes "
        f"(+{len(helpers)} helper), clients per process "
        f"{'+'.join(map(str, result['spread']))}"
        f"{'' if len(result['spread']) > 1 else ' (cross-process fan-out not exercised)'}; "
        f"{sent} messages, "
        f"{deliveries} deliveries in {result['elapsed']:.2f} s = "
        f"{sent / result['elapsed']:.0f} messages/s, {deliveries / result['elapsed']:.0f} "
        f"deliveries/s; latency p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("peers", nargs="*", default=["channels", "socketio"])
    parser.add_argument("--clients", type=int, default=20, help="split over the 2 rooms")
    args = parser.parse_args()
    for name in args.peers:
        smoke(name, args.clients)
    print("smoke: all peers passed")


if __name__ == "__main__":
    main()
