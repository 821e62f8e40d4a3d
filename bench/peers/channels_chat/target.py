"""The Channels peer behind the load generator's Target interface.

Served as the Channels deployment docs describe for several processes on one port:
a supervisor (here: this class) binds the TCP socket and hands it to each Daphne
process with `--fd`; each Daphne also listens on its own Unix socket (`-u`), which
start() uses to check that every process answers and to warm each one up.

The warm-up works around a channels_postgres 1.1.4 race (danidee10/channels_postgres#36):
a process starts its NOTIFY listener on its first channel receive, and every receive
that comes before that listener is LISTENing starts another one, so a burst of first
connections to a fresh process gets every message once per extra listener. One
round trip through each process before any client connects leaves one listener.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

from websockets.asyncio.client import connect
from websockets.sync.client import unix_connect

from bench.peers.common import BOOT_TIMEOUT, http_answers, log_tail, spawn, stop_all, wait_until

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


class Target:
    name = "channels"

    def __init__(self, database_url: str, workers: int = 2, workdir: Path | None = None):
        self.database_url = database_url
        self.workers = workers
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="peer-channels-"))
        self.log_path = self.workdir / "channels.log"
        self.port = 0
        self.procs: list[subprocess.Popen] = []
        self.helper_pids: list[int] = []

    def _env(self) -> dict:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "DJANGO_SETTINGS_MODULE": "mysite.settings",
            "PYTHONPATH": str(HERE),
        }

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # The tutorial's model and channels_postgres' tables (both in the one database).
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=HERE,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=BOOT_TIMEOUT,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{migrate.stdout}{migrate.stderr}")
        # The supervisor's part: bind, listen (backlog as supervisord's), pass the socket on.
        listener = socket.create_server(("127.0.0.1", 0), backlog=socket.SOMAXCONN)
        self.port = listener.getsockname()[1]
        unix_sockets = [str(self.workdir / f"daphne{i}.sock") for i in range(self.workers)]
        try:
            try:
                for path in unix_sockets:
                    cmd = [str(BIN / "daphne"), "--fd", str(listener.fileno()), "-u", path]
                    self.procs.append(
                        spawn(
                            [*cmd, "mysite.asgi:application"],
                            HERE,
                            self._env(),
                            self.log_path,
                            pass_fds=(listener.fileno(),),
                        )
                    )
            finally:
                listener.close()  # the Daphne processes hold their own copies
            wait_until(
                lambda: all(map(http_answers, unix_sockets)),
                self.procs,
                "daphne",
                self.log_path,
            )
            for path in unix_sockets:
                self._warm_up(path)
        except BaseException:
            self.stop()
            raise

    def _warm_up(self, unix_socket: str) -> None:
        """One message through this Daphne process and back: its channel layer listens."""
        with unix_connect(
            unix_socket,
            "ws://127.0.0.1/ws/chat/peer-warm-up/?user=warm-up",
            origin="http://127.0.0.1",
            compression=None,
            open_timeout=BOOT_TIMEOUT,
        ) as ws:
            ws.send(json.dumps({"message": "warm-up"}))
            json.loads(ws.recv(timeout=BOOT_TIMEOUT))

    def stop(self) -> None:
        stop_all(self.procs)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.poll() is None]

    def log(self) -> str:
        return log_tail(self.log_path)

    def prepare(self, users: int, rooms: list[str]) -> list[str]:
        """No accounts (as in the tutorial): a credential is the name the sender goes by."""
        return [f"u{i}" for i in range(users)]

    async def connect(self, credential: str, room: str) -> "Connection":
        """Open once the consumer has joined the room's group (it accepts after group_add)."""
        ws = await connect(
            f"ws://127.0.0.1:{self.port}/ws/chat/{room}/?user={quote(credential)}",
            origin=f"http://127.0.0.1:{self.port}",  # AllowedHostsOriginValidator wants one
            compression=None,
            max_queue=None,
            proxy=None,
            open_timeout=60,
            ping_interval=None,  # Daphne pings; answering is enough
        )
        return Connection(ws)


class Connection:
    def __init__(self, ws):
        self.ws = ws

    async def send(self, text: str) -> None:
        await self.ws.send(json.dumps({"message": text}))

    async def recv(self) -> str | None:
        frame = json.loads(await self.ws.recv())
        message = frame.get("message") if isinstance(frame, dict) else None
        return message if isinstance(message, str) else None

    async def close(self) -> None:
        await self.ws.close()
