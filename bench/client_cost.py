"""What the load generator's client layers cost per received frame, without a server.

    .venv-bench/bin/python -m bench.client_cost --receivers 300 --room 300 --rate 120
    .venv-bench/bin/python -m bench.client_cost --receivers 600 --room 10 --rate 1200
    .venv-bench/bin/python -m bench.client_cost --frames-per-write 4

A stub server (a picows server in a process of its own, speaking just enough
of ours: `ready`, then chat frames) broadcasts messages to rooms of `--room`
receivers at `--rate` messages/s for `--seconds`, `--frames-per-write` of a
room's messages in one write (several frames per read on the client side, as a
busy server's batches give). The receivers are opened with each client layer
in turn (bench/wsclient.py, then the websockets client of bench/targets.py), in
this process, which prints its own CPU per frame received, user and system.
bench/load.py measures the same thing with a real server, whose cost and
contention vary; this separates the client's per-read cost (the read, its ACK,
the loop's wake) from its per-frame cost (parsing and counting).
"""

import argparse
import asyncio
import multiprocessing
import resource
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.swarm import Tally  # noqa: E402
from bench.targets import Ours  # noqa: E402


def frame_bytes(payload: bytes) -> bytes:
    """One unmasked server text frame (RFC 6455, 5.2), written by hand so that
    several can go out in one write."""
    n = len(payload)
    length = bytes([n]) if n < 126 else b"\x7e" + n.to_bytes(2, "big")
    return b"\x81" + length + payload


def chat_payload(room: str, seq: int) -> bytes:
    """A chat frame shaped as ours sends it (chat/protocol/outbound.py)."""
    text = f"0|0|{seq}|{time.time():.6f}"
    return orjson.dumps(
        {
            "type": "chat",
            "room": room,
            "seq": seq,
            "username": "b1",
            "content": text,
            "html": f"<p>{text}</p>",
            "ts": "2026-12-01T00:00:00.000000Z",
            "client_id": "1",
        }
    )


def stub_server(args, ports, commands) -> None:
    """Accept the receivers, then broadcast at the rate each time the parent says go."""
    import uvloop
    from picows import WSListener, WSMsgType, ws_create_server

    async def main() -> None:
        peers = []

        class Peer(WSListener):
            def on_ws_connected(self, transport) -> None:
                peers.append(transport.underlying_transport)
                transport.send(WSMsgType.TEXT, b'{"type":"ready","room":"r","last_seq":0}')

        server = await ws_create_server(lambda request: Peer(), "127.0.0.1", 0)
        ports.put(server.sockets[0].getsockname()[1])
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, commands.get):
            peers[:] = [p for p in peers if not p.is_closing()]  # the last client's are gone
            rooms = [peers[i : i + args.room] for i in range(0, len(peers), args.room)]
            batch = args.frames_per_write
            interval = batch * len(rooms) / args.rate  # seconds between a room's writes
            sent, seq = 0, 0
            started = loop.time()
            while loop.time() - started < args.seconds:
                for room in rooms:
                    frames = (chat_payload("r", seq + k + 1) for k in range(batch))
                    data = b"".join(map(frame_bytes, frames))
                    for peer in room:
                        peer.write(data)
                    sent += batch * len(room)
                    await asyncio.sleep(interval / len(rooms))  # pacing the stub's load
                seq += batch
            ports.put(sent)

    uvloop.run(main())


async def measure(client: str, target, args, ports, commands) -> str:
    tally = Tally()
    if client == "picows":
        from bench import wsclient

        conns = [await wsclient.connect(target, "t", "r", tally) for _ in range(args.receivers)]
        gots = [c.got for c in conns]
        readers = []
    else:
        conns = [await target.connect("t", "r") for _ in range(args.receivers)]
        gots = [{} for _ in conns]

        async def read(conn, got) -> None:
            while True:
                text = await conn.recv()
                if text is not None:
                    tally.count(got, text.encode())

        readers = [asyncio.create_task(read(c, g)) for c, g in zip(conns, gots, strict=True)]
    loop = asyncio.get_running_loop()
    before = resource.getrusage(resource.RUSAGE_SELF)
    commands.put(True)
    sent = await loop.run_in_executor(None, ports.get)
    tally.expect(sent)
    try:
        await asyncio.wait_for(tally.all_in.wait(), 30)
    except TimeoutError:
        pass
    after = resource.getrusage(resource.RUSAGE_SELF)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, *(c.close() for c in conns), return_exceptions=True)
    got = sum(sum(g.values()) for g in gots)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    per_frame = (user + system) / got * 1e6 if got else float("nan")
    return (
        f"{client:10} {got:7} of {sent} frames ({got / args.seconds:,.0f}/s), "
        f"{per_frame:5.1f} µs of CPU per frame "
        f"({user / got * 1e6:.1f} user, {system / got * 1e6:.1f} system)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=300)
    parser.add_argument("--room", type=int, default=300, help="receivers per room")
    parser.add_argument("--rate", type=float, default=120, help="messages/s, all rooms")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--frames-per-write", type=int, default=1)
    parser.add_argument("--clients", default="picows,websockets")
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")
    ports, commands = ctx.Queue(), ctx.Queue()
    server = ctx.Process(target=stub_server, args=(args, ports, commands), daemon=True)
    server.start()
    target = Ours.__new__(Ours)
    target.ws_url = f"ws://127.0.0.1:{ports.get()}"
    try:
        for client in args.clients.split(","):
            if client == "picows":
                import uvloop

                print(uvloop.run(measure(client, target, args, ports, commands)), flush=True)
            else:
                print(asyncio.run(measure(client, target, args, ports, commands)), flush=True)
    finally:
        commands.put(False)
        server.join(10)


if __name__ == "__main__":
    main()
