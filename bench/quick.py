"""A first, small measurement: fan-out rate, latency and completeness on a real server.

Starts `gunicorn -c gunicorn.conf.py app:app` (2 gevent workers) on a scratch
database, connects RECEIVERS clients to one room and SENDERS clients that send
MESSAGES stamped messages each as fast as their acks come back, then checks
that every receiver got every message exactly once, in seq order.

    .venv/bin/python bench/quick.py [--receivers 200] [--senders 4] [--messages 250]

Everything (server, PostgreSQL, this load generator) shares the machine's cores,
so figures are only comparable with others measured the same way. The full
instrument with peers and scenarios is the benchmark issue's work.
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import orjson
import psycopg
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chat import actions  # noqa: E402
from tests.servers import Gunicorn, scratch_database  # noqa: E402


def make_tokens(url: str, count: int) -> list[str]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return [
            actions.create_token(conn, actions.create_user(conn, f"u{i}", "benchmark!").id)
            for i in range(count)
        ]


async def receiver(ws_url: str, token: str, expected: int, out: list) -> None:
    async with connect(
        ws_url,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        max_queue=None,
        proxy=None,
    ) as ws:
        seqs, latencies = [], []
        ready = False
        out.append((seqs, latencies))
        async for raw in ws:
            frame = orjson.loads(raw)
            if frame["type"] == "ready":
                ready = True
            elif frame["type"] == "chat" and ready:
                seqs.append(frame["seq"])
                sent_at = float(frame["content"].split(" ", 1)[0])
                latencies.append(time.time() - sent_at)
                if len(seqs) == expected:
                    return


async def sender(ws_url: str, token: str, count: int) -> None:
    async with connect(
        ws_url,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        proxy=None,
    ) as ws:
        async for raw in ws:
            if orjson.loads(raw)["type"] == "ready":
                break
        for i in range(count):
            await ws.send(
                orjson.dumps(
                    {"type": "chat", "content": f"{time.time()} m", "client_id": f"{i}"}
                ).decode()
            )
            while orjson.loads(await ws.recv())["type"] != "ack":
                pass


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def run(args, ws_url: str, tokens: list[str]) -> None:
    total = args.senders * args.messages
    received: list = []
    receivers = [
        asyncio.create_task(receiver(ws_url, tokens[i % len(tokens)], total, received))
        for i in range(args.receivers)
    ]
    while len(received) < args.receivers:
        await asyncio.sleep(0.05)  # connections opening; nothing to await per client
    await asyncio.sleep(0.5)  # let every receiver pass `ready`
    started = time.monotonic()
    await asyncio.gather(*(sender(ws_url, tokens[i], args.messages) for i in range(args.senders)))
    sent_done = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*receivers), timeout=120)
    elapsed = time.monotonic() - started
    complete = all(seqs == list(range(1, total + 1)) for seqs, _ in received)
    latencies = [lat for _, lats in received for lat in lats]
    print(f"receivers={args.receivers} senders={args.senders} messages={total}")
    print(f"messages in/s: {total / (sent_done - started):.0f}")
    print(f"deliveries/s: {total * args.receivers / elapsed:.0f}")
    print(
        "latency ms p50/p95/p99/max: "
        + "/".join(f"{percentile(latencies, p) * 1000:.1f}" for p in (0.5, 0.95, 0.99, 1.0))
    )
    print(f"complete, in order, no duplicates: {complete}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=200)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--messages", type=int, default=250)
    args = parser.parse_args()
    with scratch_database() as url:
        tokens = make_tokens(url, max(args.senders, 10))
        # The per-connection rate limit (20/s) would measure the limit, not the server.
        gunicorn = Gunicorn(
            url,
            Path("/tmp") / f"quick-{os.getpid()}.log",
            workers=2,
            RATE_LIMIT_PER_SEC="0",
            MAX_SOCKETS_PER_USER=str(args.receivers + args.senders),
        )
        gunicorn.start()
        try:
            asyncio.run(run(args, f"{gunicorn.ws_url}/ws/general", tokens))
        finally:
            gunicorn.stop()


if __name__ == "__main__":
    main()
