"""Process plumbing shared by the peers' targets: spawn in a process group, wait for a
socket to answer (bounded), stop with SIGTERM then SIGKILL."""

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil

BOOT_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(cmd: list[str], cwd: Path, env: dict, log_path: Path, pass_fds=()) -> subprocess.Popen:
    """Start cmd in its own session (so its whole process group can be signalled)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=pass_fds,
        )


def log_tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except FileNotFoundError:
        return ""


def wait_until(
    ready: Callable[[], bool],
    procs: list[subprocess.Popen],
    what: str,
    log_path: Path,
    timeout: float = BOOT_TIMEOUT,
) -> None:
    """Poll ready() until it is true; fail early if a process exits, or after timeout."""
    deadline = time.monotonic() + timeout
    while not ready():
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{what}: {proc.args[0]} exited with {proc.returncode}\n{log_tail(log_path)}"
                )
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout:.0f} s\n{log_tail(log_path)}")
        time.sleep(0.1)  # polling a starting process: there is no event to await


def http_answers(address: tuple[str, int] | str) -> bool:
    """Whether an HTTP server answers a GET / (any status) on a TCP or Unix socket address."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    try:
        with socket.socket(family) as s:
            s.settimeout(2)
            s.connect(address)
            s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def stop_all(procs: list[subprocess.Popen], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every process group, wait (one shared deadline), then SIGKILL whatever is
    left in the groups: also workers orphaned by a master that died first."""
    live = [p for p in procs if p.poll() is None]
    for proc in live:
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in live:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for proc in procs:
        if _group_alive(proc.pid):
            _signal_group(proc.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.05)  # a killed process has no exit event to await here
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


def _group_alive(pgid: int) -> bool:
    """Whether a process of this group is still running (zombies don't count: they are
    dead, and orphans may be reparented to an init that never reaps them)."""
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                return True
        except (OSError, psutil.Error):
            continue
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
