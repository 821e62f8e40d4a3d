"""The servers the load generator drives, behind one small interface.

A target starts its server processes on a scratch database, prepares accounts
and rooms, and opens connections to one room each:

    target.start(); creds = target.prepare(users, rooms)
    conn = await target.connect(creds[i], room)   # in any load process
    await conn.send(text); text = await conn.recv(); await conn.close()

`recv` returns the text of the next chat message broadcast to the room (the
sender's own included) or None for any other frame. The peers under
bench/peers/ implement the same interface (their `target.py`). That is the
`--client websockets` layer of bench/load.py; its default picows layer
(bench/wsclient.py) speaks the same protocols from a target's address
(`ws_url` for ours, `port` for the peers).

`ours` is this repository's server; `naive` is the same server with write
batching off: one transaction and one NOTIFY per message; `before` is this
server as it was at BENCH_BEFORE (a git revision), for before/after figures
from one run.
"""

import importlib
import itertools
import os
import pickle
import subprocess
from pathlib import Path

import orjson
import psycopg
from websockets.asyncio.client import connect

from chat import actions
from tests.servers import Gunicorn

ROOT = Path(__file__).resolve().parent.parent
USERS_MAX = 100  # accounts are slow to make (a password hash each): sockets share them
# One source address offers the ~28,000 ports of the ephemeral range
# (/proc/sys/net/ipv4/ip_local_port_range) towards one server port: more
# sockets than that fail with EADDRNOTAVAIL. Any 127.x.y.z is loopback, so
# the clients take their source addresses in turn from these.
SOURCE_ADDRESSES = [f"127.0.0.{n}" for n in range(1, 5)]
_sources = itertools.cycle(SOURCE_ADDRESSES)


def source_address() -> tuple[str, int]:
    """The local (address, port) for the next client socket: the next loopback address."""
    return (next(_sources), 0)


class Ours:
    """gunicorn -c gunicorn.conf.py app:app with WEB_CONCURRENCY workers."""

    name = "ours"
    env: dict[str, str] = {}

    def __init__(self, database_url: str, workers: int = 2, workdir: Path | None = None):
        self.database_url = database_url
        self.workers = workers
        self.workdir = workdir or Path("/tmp")
        self.server: Gunicorn | None = None
        self.ws_url = ""

    def start(self) -> None:
        self.server = Gunicorn(
            self.database_url,
            self.workdir / f"bench-{self.name}-{os.getpid()}.log",
            workers=self.workers,
            root=self.checkout(),
            # Measure the server, not the per-person limits.
            RATE_LIMIT_PER_SEC="0",
            MAX_SOCKETS_PER_USER="100000",
            WORKER_CONNECTIONS="20000",
            # Deep queues: a benchmark client is never a slow consumer by design.
            OUTBOUND_QUEUE="10000",
            **self.env,
        )
        self.server.start()
        self.ws_url = self.server.ws_url

    def checkout(self) -> Path:
        """The tree the server runs from: this one."""
        return ROOT

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def pids(self) -> list[int]:
        return [self.server.proc.pid, *self.server.worker_pids()]

    def prepare(self, users: int, rooms: list[str]) -> list[str]:
        """Accounts (made once, USERS_MAX at most) and the rooms; a token per client."""
        with psycopg.connect(self.database_url, row_factory=psycopg.rows.dict_row) as conn:
            if not getattr(self, "tokens", None):
                ids = [
                    actions.create_user(conn, f"b{i}", "benchmark!").id for i in range(USERS_MAX)
                ]
                self.owner = ids[0]
                self.tokens = [actions.create_token(conn, i) for i in ids]
            for room in rooms:
                actions.create_room(conn, room, self.owner)
        return [self.tokens[i % len(self.tokens)] for i in range(users)]

    async def connect(self, credential: str, room: str) -> "OurConnection":
        ws = await connect(
            f"{self.ws_url}/ws/{room}",
            additional_headers={"Authorization": f"Bearer {credential}"},
            compression=None,
            max_queue=None,
            max_size=2**20,
            proxy=None,
            open_timeout=60,
            ping_interval=None,  # the server pings; answering is enough
            local_addr=source_address(),
        )
        async for raw in ws:
            if orjson.loads(raw)["type"] == "ready":
                break
        return OurConnection(ws)


class Naive(Ours):
    name = "naive"
    env = {"WRITE_BATCH": "0"}


class Before(Ours):
    """This server as it was at BENCH_BEFORE (a git revision; default the last
    commit before issue 20), run from an export of that revision beside this
    one, on the same database schema: before/after figures from one run."""

    name = "before"
    revision = os.environ.get("BENCH_BEFORE", "169743e")

    def checkout(self) -> Path:
        out = Path("/tmp") / f"bench-before-{self.revision}"
        if not (out / "app.py").exists():
            out.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", self.revision],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
        return out


class OurConnection:
    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count()
        self.tag = os.urandom(4).hex()  # accounts are shared: see wsclient.OurListener
        self.last_seq = 0
        self.out_of_order = 0

    async def send(self, text: str) -> None:
        frame = {"type": "chat", "content": text, "client_id": f"{self.tag}-{next(self.ids)}"}
        await self.ws.send(orjson.dumps(frame).decode())

    async def recv(self) -> str | None:
        frame = orjson.loads(await self.ws.recv())
        if frame["type"] != "chat":
            return None
        if frame["seq"] != self.last_seq + 1 and self.last_seq:
            self.out_of_order += 1  # a gap or a repeat in the room's sequence
        self.last_seq = frame["seq"]
        return frame["content"]

    async def close(self) -> None:
        await self.ws.close()


def target_class(name: str):
    """ours, naive, before, or a peer under bench/peers/<name>_chat/target.py."""
    if name == "ours":
        return Ours
    if name == "naive":
        return Naive
    if name == "before":
        return Before
    module = importlib.import_module(f"bench.peers.{name}_chat.target")
    return module.Target


def portable(target) -> tuple:
    """What a load process needs to call `connect`: the class and its picklable state
    (not the server's process handles)."""
    state = {}
    for key, value in vars(target).items():
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001, S112 - unpicklable handles stay behind
            continue
        state[key] = value
    return type(target), state


def revive(portable_target: tuple):
    cls, state = portable_target
    target = cls.__new__(cls)
    target.__dict__.update(state)
    return target
