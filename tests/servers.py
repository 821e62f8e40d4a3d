"""Real servers for end-to-end tests: gunicorn as `make run` starts it, and WebSocket clients."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import orjson
import psutil
import requests
from psycopg import conninfo as pg_conninfo
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
# Boot includes importing the app in every worker; generous for a loaded CI machine.
BOOT_TIMEOUT = 60.0
FRAME_TIMEOUT = 10.0
# Frames of stored rows, each with its place in the room's seq order.
STORED_FRAME_TYPES = {"chat", "chat_edit", "chat_delete", "reaction"}


def http() -> requests.Session:
    """A requests session that ignores proxy settings: tests only talk to 127.0.0.1.
    Every /api/ answer it receives is checked against the API description
    (tests/contract.py): a mismatch raises AssertionError where the test asked."""
    from .contract import check_answer

    session = requests.Session()
    session.trust_env = False
    session.hooks["response"].append(check_answer)
    return session


def terminate_listeners(database_url: str, expect: int) -> None:
    """pg_terminate_backend on every worker's LISTEN connection (chat/realtime/hub.py
    names them)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'chat-listener'"
        ).fetchall()
    assert len(killed) == expect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(command: list[str], log_path: Path, root: Path = ROOT, **env: str) -> subprocess.Popen:
    """A process of the product in the repository (or another checkout of it:
    `root`), in its own process group (so a test can signal all of it), its
    output appended to log_path."""
    env = {
        **os.environ,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "test-secret-key"),
        **env,
    }
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class Endpoint:
    """Something clients talk to on 127.0.0.1: a gunicorn, or nginx before two;
    over TLS when given the context that trusts its certificate."""

    def __init__(self, port: int, ssl_context=None):
        self.port = port
        self.ssl_context = ssl_context

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        return f"{scheme}://127.0.0.1:{self.port}"


class Gunicorn(Endpoint):
    """`gunicorn -c gunicorn.conf.py app:app` on a free port, in its own process group."""

    def __init__(
        self, database_url: str, log_path: Path, workers: int = 2, root: Path = ROOT, **env: str
    ):
        # The gunicorn config file (a test may wrap the real one with a probe).
        self.config_file = "gunicorn.conf.py"
        self.database_url = database_url
        self.log_path = log_path
        self.workers = workers
        self.root = root  # the checkout it runs (benchmarks compare two)
        super().__init__(free_port())
        self.extra_env = env
        self.proc: subprocess.Popen | None = None
        self._http = http()

    def start(self, wait: bool = True) -> "Gunicorn":
        self.proc = spawn(
            [str(GUNICORN), "-c", self.config_file, "app:app"],
            self.log_path,
            self.root,
            **{
                "DATABASE_URL": self.database_url,
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "WEB_CONCURRENCY": str(self.workers),
                "GRACEFUL_TIMEOUT": "5",
                **self.extra_env,  # a test's settings win over these defaults
            },
        )
        if wait:
            self.wait_until_healthy()
        return self

    def health(self) -> int | None:
        """/readyz's status code, or None while nothing answers (the master
        listens before its workers have booted: a request may then time out).
        Readiness, not liveness (/healthz): a test starts once the server can
        serve everything (migrated, its database and LISTEN connection up)."""
        try:
            return self._http.get(self.url + "/readyz", timeout=5).status_code
        except (requests.ConnectionError, requests.Timeout):
            return None

    def wait_for_health(self, status: int) -> None:
        deadline = time.monotonic() + BOOT_TIMEOUT
        while self.health() != status:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"/readyz never answered {status}:\n{self.log()}")
            time.sleep(0.1)  # polling a starting process: there is no event to await

    def wait_until_healthy(self) -> None:
        """/readyz is 200 and every worker has booted."""
        self.wait_for_health(200)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.1)  # polling a starting process: there is no event to await

    def worker_pids(self) -> list[int]:
        try:
            return [p.pid for p in psutil.Process(self.proc.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def worker_of(self, ws: ClientConnection) -> int:
        """The pid of the worker process holding this client's connection."""
        client_port = ws.socket.getsockname()[1]
        for pid in self.worker_pids():
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == client_port and conn.laddr.port == self.port:
                    return pid
        raise AssertionError("no worker holds that connection")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    def kill(self) -> None:
        """Kill the whole process group, whatever state it is in (test teardown)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except FileNotFoundError:
            return ""


# Frames about the person rather than a room's traffic (the per-user channel,
# and presence): a Client sets them aside in `aside`, so the tests of a room's
# order see that room's frames only; tests of these frames read `aside`.
ASIDE_TYPES = frozenset(
    {"rooms", "room_added", "room_removed", "room_updated", "read", "presence"}
    | {"threads", "thread_updated"}
)


class Client:
    """A WebSocket client speaking DESIGN §5 frames. In a test session every frame
    it receives is checked against the frame schemas (tests/conftest.py wraps the
    websockets `recv`; tests/contract.py)."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.aside: list[dict] = []

    @classmethod
    def open(
        cls, server: Gunicorn, room: str, token: str | None, after: int | None = None, **headers
    ):
        """Connect to /ws/<room> with a Bearer token, or with token=None and e.g.
        Cookie=... in headers."""
        query = "" if after is None else f"?after={after}"
        return cls.connect(server, f"/ws/{room}{query}", token, **headers)

    @classmethod
    def connect(cls, server: Endpoint, path: str, token: str | None, **headers) -> "Client":
        """Connect to any socket path (/ws, /ws/<room>?after=N) as the token's user."""
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        ws = connect(
            f"{server.ws_url}{path}",
            additional_headers=headers,
            compression=None,
            open_timeout=FRAME_TIMEOUT,
            max_size=2**22,
            max_queue=None,  # read continuously: a test client must never look slow
            proxy=None,
            ssl=server.ssl_context,
            legacy=True,
        )
        return cls(ws)

    def recv(self, timeout: float = FRAME_TIMEOUT) -> dict:
        """The next frame of a room's traffic (ASIDE_TYPES go to `aside`)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = orjson.loads(self.ws.recv(max(0.01, deadline - time.monotonic())))
            if frame.get("type") not in ASIDE_TYPES:
                return frame
            self.aside.append(frame)

    def send(self, frame: dict | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    def until(self, kind: str, timeout: float = FRAME_TIMEOUT) -> tuple[list[dict], dict]:
        """Frames received before the first frame of type `kind`, and that frame."""
        before = []
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv(max(0.01, deadline - time.monotonic()))
            if frame["type"] == kind:
                return before, frame
            before.append(frame)

    def chats_until_seq(self, last: int, timeout: float = 30.0) -> list[dict]:
        """Chat frames up to and including seq `last` (other frames are dropped)."""
        chats = []
        deadline = time.monotonic() + timeout
        while not chats or chats[-1]["seq"] < last:
            frame = self.recv(max(0.01, deadline - time.monotonic()))
            if frame["type"] == "chat":
                chats.append(frame)
        return chats

    def chats_and_events_until(self, last: int, timeout: float = 30.0) -> list[dict]:
        """Stored frames (chat, chat_edit, chat_delete, reaction) up to and including
        seq `last`; other frames are dropped."""
        stored = []
        deadline = time.monotonic() + timeout
        while not stored or stored[-1]["seq"] < last:
            frame = self.recv(max(0.01, deadline - time.monotonic()))
            if frame["type"] in STORED_FRAME_TYPES:
                stored.append(frame)
        return stored

    def close_code(self, timeout: float = 20.0) -> int | None:
        """Read until the server closes the socket; the close code it sent."""
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                self.recv(timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None

    def close(self) -> None:
        self.ws.close()


class PartitionProxy:
    """A TCP proxy to PostgreSQL (its Unix socket path, or a (host, port) pair) that
    can silently swallow connections.

    `blackhole(marker)` makes every open connection whose start-up packet carried
    `marker` (e.g. an application_name) drop all bytes both ways without closing:
    a network partition that neither side is told about. New connections work.
    """

    def __init__(self, target: "str | tuple[str, int]"):
        import threading

        self.target = target
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.pairs: list[dict] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if isinstance(self.target, str):
                upstream = socket.socket(socket.AF_UNIX)
                upstream.connect(self.target)
            else:
                upstream = socket.create_connection(self.target)
            pair = {"startup": b"", "dead": False, "sockets": (client, upstream)}
            with self.lock:
                self.pairs.append(pair)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(pair, src, dst), daemon=True).start()

    def _pump(self, pair: dict, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if len(pair["startup"]) < 4096 and src is pair["sockets"][0]:
                    pair["startup"] += data
                if not pair["dead"]:
                    dst.sendall(data)
        except OSError:
            pass

    def blackhole(self, marker: bytes) -> int:
        with self.lock:
            hit = [p for p in self.pairs if marker in p["startup"] and not p["dead"]]
            for pair in hit:
                pair["dead"] = True
        return len(hit)

    def close(self) -> None:
        self.listener.close()
        with self.lock:
            for pair in self.pairs:
                for sock in pair["sockets"]:
                    sock.close()


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def database_address(database_url: str) -> "str | tuple[str, int]":
    """Where a PostgreSQL URL connects: its Unix socket path, or (host, port)."""
    params = pg_conninfo.conninfo_to_dict(database_url)
    host, port = params.get("host") or "localhost", int(params.get("port") or 5432)
    return f"{host}/.s.PGSQL.{port}" if host.startswith("/") else (host, port)


def form_login(server: Gunicorn, username: str, password: str, remember: bool = False):
    """Log in through the real form (CSRF token included); the requests session and
    the login response."""
    session = http()
    page = session.get(f"{server.url}/login").text
    data = {"csrf_token": _CSRF.search(page).group(1), "username": username, "password": password}
    if remember:
        data["remember"] = "y"
    response = session.post(f"{server.url}/login", data=data, allow_redirects=False)
    return session, response


@contextmanager
def scratch_database(pgdata: Path = ROOT / "instance" / "bench-pgdata"):
    """A fresh, migrated database on DATABASE_URL's server or an embedded one; dropped
    afterwards. Yields its conninfo. For benchmarks and the screenshots script."""
    import uuid

    import psycopg
    from psycopg import sql

    from chat.storage import migrate, pgserver

    server = os.environ.get("DATABASE_URL") or pgserver.ensure_running(pgdata)
    name = f"chat_scratch_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(server, dbname=name)
    try:
        migrate.migrate(url)
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


FLASK = Path(sys.executable).parent / "flask"


class BotProcess:
    """`flask --app app <name>-bot` as `make run` starts it, in its own process group."""

    def __init__(self, database_url: str, log_path: Path, name: str = "stock", **env: str):
        self.database_url = database_url
        self.log_path = log_path
        self.name = name
        self.extra_env = env
        self.proc: subprocess.Popen | None = None

    def start(self) -> "BotProcess":
        self.proc = spawn(
            [str(FLASK), "--app", "app", f"{self.name}-bot"],
            self.log_path,
            **{"DATABASE_URL": self.database_url, **self.extra_env},
        )
        return self

    def kill(self, sig: int = signal.SIGKILL) -> int:
        """Signal the whole process group and wait for the bot to end; its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except FileNotFoundError:
            return ""


def bots_listening(database_url: str, name: str = "stock") -> int:
    """How many bot processes have their LISTEN connection open (are ready for jobs)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            (f"{name}-bot",),
        ).fetchone()[0]


# --- the server as an operator starts it with nothing configured ----------------------

README = ROOT / "README.md"
_TABLE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \| (.*?) \|", re.MULTILINE)


def documented_defaults() -> dict[str, str]:
    """The README's configuration table: each variable and its default cell as
    written (`2`, unset (off), ...), in the table's order."""
    text = README.read_text()
    section = text[text.index("\n## Configuration\n") :]
    section = section[: section.index("\n#", 1)]  # up to the next heading
    return dict(_TABLE_ROW.findall(section))


def documented_variables() -> list[str]:
    """The variables in the README's configuration table, in its order."""
    return list(documented_defaults())


def scrubbed_environment(**keep: str) -> dict[str, str]:
    """This process's environment without any documented variable (nor
    GUNICORN_CMD_ARGS, which gunicorn reads as settings too), plus `keep`."""
    removed = {*documented_variables(), "GUNICORN_CMD_ARGS"}
    return {
        **{name: value for name, value in os.environ.items() if name not in removed},
        **keep,
    }


def spawn_in(environment: dict[str, str], command: list[str], log_path: Path) -> subprocess.Popen:
    """Like spawn(), with exactly `environment` (nothing added from this process's)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


class DefaultGunicorn(Gunicorn):
    """`gunicorn -c gunicorn.conf.py app:app` with every documented variable removed
    from its environment but the ones given (`keep`): the defaults, as they run."""

    def __init__(self, log_path: Path, workers: int, **keep: str):
        super().__init__(keep.get("DATABASE_URL", ""), log_path, workers)
        self.keep = {**keep, "PORT": str(self.port)}

    def health(self) -> int | None:
        """As Gunicorn's, with a slow answer (a loaded machine at boot) as no answer."""
        try:
            return super().health()
        except requests.Timeout:
            return None

    def start(self, wait: bool = True) -> "DefaultGunicorn":
        self.proc = spawn_in(
            scrubbed_environment(**self.keep),
            [str(GUNICORN), "-c", "gunicorn.conf.py", "app:app"],
            self.log_path,
        )
        if wait:
            self.wait_until_healthy()
        return self


class DefaultBot(BotProcess):
    """`flask --app app <name>-bot` with every documented variable removed from its
    environment but the ones given (`keep`)."""

    def __init__(self, log_path: Path, name: str = "stock", **keep: str):
        super().__init__(keep.get("DATABASE_URL", ""), log_path, name)
        self.keep = keep

    def start(self) -> "DefaultBot":
        self.proc = spawn_in(
            scrubbed_environment(**self.keep),
            [str(FLASK), "--app", "app", f"{self.name}-bot"],
            self.log_path,
        )
        return self
