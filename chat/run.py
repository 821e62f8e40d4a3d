"""`make run` (`python -m chat.run`): gunicorn, the bots and a worker as one program.

Without DATABASE_URL the embedded PostgreSQL is started here, before anything
else, and its URL handed to gunicorn and to the bots, so that all of them talk
to the same server (and it stops when this program ends). Ctrl-C or SIGTERM
stops everything; gunicorn ending ends the program; a bot that dies is started
again after a pause and never takes the chat down with it.

"Chat is ready" is printed once the chat is ready: /readyz says 200 only from a
worker whose database answers with every migration applied and whose LISTEN
connection is up (gunicorn's own start, earlier, only means its socket is
bound; /healthz, liveness, only that a worker answers).

Like gunicorn's master, this process never imports psycopg.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from chat import config, serverlog

log = logging.getLogger("chat.run")

BIN = Path(sys.executable).parent
# A bot that keeps dying is started again this long after each exit: its log
# says why, and the pause keeps a broken setting from spinning the CPU.
RESTART_DELAY = 5.0
# On Ctrl-C gunicorn gets its GRACEFUL_TIMEOUT (10 s) to close sockets; after
# this long anything still running is killed.
STOP_TIMEOUT = 20.0
# How often the supervisor looks at its children when no signal wakes it (and,
# until the chat is ready, asks /readyz).
CHECK_INTERVAL = 0.5
# One /readyz question waits this long at most: a worker still starting queues
# it, and the supervisor must keep watching its children meanwhile.
HEALTH_TIMEOUT = 2.0


def gunicorn_command() -> list[str]:
    """argv of the web server, as `make run` starts it."""
    return [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "app:app"]


def site_url(host: str, port: int | str) -> str:
    """Where a person on this machine opens the chat (a wildcard host is this machine)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def answers(url: str) -> bool:
    """Whether the chat at `url` is ready: its /readyz answers 200 (a worker has
    applied the migrations, reaches the database and listens)."""
    try:
        with urllib.request.urlopen(url + "readyz", timeout=HEALTH_TIMEOUT) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):  # not listening yet, 503, a timeout
        return False


# The name the worker goes by among the supervised processes (no bot has it:
# bots are named by their command, and `work` is no command).
WORKER = "work"


def bot_command(name: str) -> list[str]:
    """argv of one bot's process (`flask --app app <name>-bot`), or of the
    worker's (`flask --app app work`: images and link previews, docs/files.md)."""
    if name == WORKER:
        return [str(BIN / "flask"), "--app", "app", "work"]
    return [str(BIN / "flask"), "--app", "app", f"{name}-bot"]


def _label(name: str) -> str:
    """A supervised process as the log names it: "stock bot", "worker"."""
    return "worker" if name == WORKER else f"{name} bot"


class Supervisor:
    """`make run`: gunicorn and every bot as child processes, each in a session of
    its own; a bot that dies is restarted (at most once a few seconds), and
    Ctrl-C or SIGTERM stops them all gracefully. One thread watches the bots;
    `stopping` tells it to end."""

    def __init__(self, bot_names: list[str], url: str):
        self.bot_names = bot_names
        self.url = url
        self.ready = False
        self.stopping = threading.Event()
        self.gunicorn: subprocess.Popen | None = None
        self.bots: dict[str, subprocess.Popen] = {}
        self.restart_at: dict[str, float] = {}

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        # In a session of its own: the terminal's Ctrl-C (SIGINT to the whole
        # foreground group) reaches only this supervisor, which stops the
        # children gracefully (SIGTERM: sockets closed with 1001, presence
        # cleared). A SIGINT reaching gunicorn itself would make it quit at once.
        proc = subprocess.Popen(
            command, cwd=config.ROOT, start_new_session=True, preexec_fn=_die_with_parent
        )
        log.info("started %s (pid %d)", name, proc.pid)
        return proc

    def run(self) -> int:
        """Until gunicorn exits or a stop is asked for; returns gunicorn's exit status."""
        self.gunicorn = self.start("gunicorn", gunicorn_command())
        for name in self.bot_names:
            self.bots[name] = self.start(_label(name), bot_command(name))
        while not self.stopping.wait(CHECK_INTERVAL):
            if self.gunicorn.poll() is not None:
                log.error("gunicorn exited with %d; stopping the bots", self.gunicorn.returncode)
                break
            self.watch_bots()
            if not self.ready and answers(self.url):
                self.ready = True
                print(f"Chat is ready: open {self.url}", flush=True)
        return self.stop_all()

    def watch_bots(self) -> None:
        now = time.monotonic()
        for name, proc in list(self.bots.items()):
            if proc.poll() is None:
                continue
            if name not in self.restart_at:
                log.error(
                    "%s exited with %d; the chat goes on, restarting it in %.0fs",
                    _label(name),
                    proc.returncode,
                    RESTART_DELAY,
                )
                self.restart_at[name] = now + RESTART_DELAY
            elif now >= self.restart_at[name]:
                del self.restart_at[name]
                self.bots[name] = self.start(_label(name), bot_command(name))

    def stop_all(self) -> int:
        children = [p for p in [self.gunicorn, *self.bots.values()] if p is not None]
        for proc in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for proc in children:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("pid %d did not stop within %.0fs: killing it", proc.pid, STOP_TIMEOUT)
                proc.kill()
                proc.wait()
        return self.gunicorn.returncode if self.gunicorn is not None else 0


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the supervisor dies, however it dies
    (its own session no longer shares a SIGKILL sent to the supervisor's group)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def port_taken(host: str, port: int) -> bool:
    """Whether something already listens on (host, port): gunicorn would retry
    for a while and then exit with words that do not say what to do."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def main() -> int:
    serverlog.configure(config.value("LOG_FORMAT"))
    host, port = config.value("HOST"), config.value("PORT")
    if port.isdigit() and port_taken(host, int(port)):
        log.error(
            "port %s on %s is in use (another `make run`?): stop it, or choose"
            " another port, e.g. `PORT=%d make run`",
            port,
            host,
            int(port) + 1,
        )
        return 1
    if not os.environ.get("DATABASE_URL"):
        from chat.storage import pgserver

        # Inherited by gunicorn (whose master then starts no server of its
        # own) and by the bots: one server for all, stopped when we exit.
        os.environ["DATABASE_URL"] = pgserver.ensure_running(config.embedded_pgdata())
        log.info("embedded PostgreSQL running in %s", config.embedded_pgdata())
    config.secret_key()  # generated once here, not raced for by every process

    from chat.bots import BOTS

    url = site_url(host, port)
    # One worker beside the bots, supervised alike (restarted if it dies).
    supervisor = Supervisor([*(bot.name for bot in BOTS), WORKER], url)

    def stop(signum, frame) -> None:
        log.info("%s: stopping gunicorn and the bots", signal.Signals(signum).name)
        supervisor.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
