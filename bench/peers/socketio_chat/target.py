"""The Flask-SocketIO peer behind the load generator's Target interface.

Starts its own redis-server (a free port, no persistence) and
`gunicorn -k gevent -w WORKERS server:app` on one port; clients are python-socketio
AsyncClients restricted to the WebSocket transport.
"""

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import psycopg
import socketio

from bench.peers.common import free_port, http_answers, log_tail, spawn, stop_all, wait_until

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
REDIS_SERVER = "/usr/bin/redis-server"
CLOSED = object()


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return redis.Redis(port=port, socket_timeout=2).ping()
    except redis.RedisError:
        return False


class Target:
    name = "socketio"

    def __init__(self, database_url: str, workers: int = 2, workdir: Path | None = None):
        self.database_url = database_url
        self.workers = workers
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="peer-socketio-"))
        self.log_path = self.workdir / "socketio.log"
        self.port = 0
        self.redis_port = 0
        self.gunicorn: subprocess.Popen | None = None
        self.redis: subprocess.Popen | None = None
        self.helper_pids: list[int] = []

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute((HERE / "schema.sql").read_text())
        try:
            self.redis_port = free_port()
            self.redis = spawn(
                [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.redis_port)]
                + ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
                self.workdir,
                dict(os.environ),
                self.workdir / "redis.log",
            )
            self.helper_pids = [self.redis.pid]
            wait_until(
                lambda: _redis_answers(self.redis_port),
                [self.redis],
                "redis-server",
                self.workdir / "redis.log",
            )
            self.port = free_port()
            env = {
                **os.environ,
                "DATABASE_URL": self.database_url,
                "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "PYTHONPATH": str(HERE),
            }
            self.gunicorn = spawn(
                [str(BIN / "gunicorn"), "-k", "gevent", "-w", str(self.workers)]
                + ["-b", f"127.0.0.1:{self.port}", "--no-control-socket"]
                # gunicorn's own cap is 1,000 sockets per worker; ours runs with 5,000.
                + ["--worker-connections", "5000", "--graceful-timeout", "5", "server:app"],
                HERE,
                env,
                self.log_path,
            )
            wait_until(
                lambda: (
                    http_answers(("127.0.0.1", self.port)) and len(self._workers()) >= self.workers
                ),
                [self.gunicorn],
                "gunicorn",
                self.log_path,
            )
        except BaseException:
            self.stop()
            raise

    def _workers(self) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(self.gunicorn.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        # The app first (its workers talk to Redis), then Redis.
        stop_all([p for p in (self.gunicorn,) if p is not None])
        stop_all([p for p in (self.redis,) if p is not None])

    def pids(self) -> list[int]:
        """The gunicorn master and its workers (Redis is in helper_pids)."""
        if self.gunicorn is None or self.gunicorn.poll() is not None:
            return []
        return [self.gunicorn.pid, *self._workers()]

    def log(self) -> str:
        return log_tail(self.log_path)

    def prepare(self, users: int, rooms: list[str]) -> list[str]:
        """No accounts: a credential is the name the sender goes by."""
        return [f"u{i}" for i in range(users)]

    async def connect(self, credential: str, room: str) -> "Connection":
        """Connected, and the server has acknowledged join_room."""
        sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        inbox: asyncio.Queue = asyncio.Queue()
        sio.on("chat", lambda data: inbox.put_nowait(data.get("text")))
        sio.on("disconnect", lambda *reason: inbox.put_nowait(CLOSED))
        try:
            await sio.connect(
                f"http://127.0.0.1:{self.port}",
                auth={"user": credential},
                transports=["websocket"],
                wait_timeout=60,
            )
            await sio.call("join", {"room": room}, timeout=60)
        except BaseException:
            await sio.disconnect()
            raise
        return Connection(sio, room, inbox)


class Connection:
    def __init__(self, sio: socketio.AsyncClient, room: str, inbox: asyncio.Queue):
        self.sio = sio
        self.room = room
        self.inbox = inbox

    async def send(self, text: str) -> None:
        await self.sio.emit("chat", {"room": self.room, "text": text})

    async def recv(self) -> str | None:
        item = await self.inbox.get()
        if item is CLOSED:
            self.inbox.put_nowait(CLOSED)  # every later recv raises too
            raise ConnectionError("Socket.IO connection closed")
        return item if isinstance(item, str) else None

    async def close(self) -> None:
        await self.sio.disconnect()
