"""The floor's socket writes (bench/floor.py): one frame to N loopback sockets, in
Python and in C (bench/floor.c), counting the writer's CPU alone."""

import json
import multiprocessing
import selectors
import shutil
import socket
import statistics
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

C_SOURCE = Path(__file__).with_name("floor.c")


class FloorError(Exception):
    """The floor cannot be measured here (no gcc, a reader that lost bytes)."""


def ws_text_frame(text: str) -> bytes:
    """An unmasked WebSocket text frame, FIN set (RFC 6455 §5.2): server to client."""
    payload = text.encode()
    if len(payload) < 126:
        return bytes((0x81, len(payload))) + payload
    if len(payload) < 65536:
        return b"\x81\x7e" + struct.pack("!H", len(payload)) + payload
    return b"\x81\x7f" + struct.pack("!Q", len(payload)) + payload


def drain(port: int, count: int, conn) -> None:
    """The reader process: connect `count` sockets, read everything until each is
    closed, then send the byte count back through `conn`."""
    selector = selectors.DefaultSelector()
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    conn.send("connected")
    total, open_ = 0, count
    while open_:
        for key, _ in selector.select():
            try:
                data = key.fileobj.recv(1 << 18)
            except BlockingIOError:
                continue
            if data:
                total += len(data)
            else:
                selector.unregister(key.fileobj)
                key.fileobj.close()
                open_ -= 1
    conn.send(total)


@contextmanager
def drained_sockets(count: int) -> Iterator[tuple[list[socket.socket], list[int]]]:
    """`count` connected loopback sockets (TCP_NODELAY, as gunicorn's) whose far
    ends a reader process drains. Yields them and a one-item list that holds,
    once the block ends and they are closed, the bytes the reader got."""
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    with socket.create_server(("127.0.0.1", 0), backlog=min(count, 4096)) as server:
        reader = spawn.Process(
            target=drain, args=(server.getsockname()[1], count, theirs), daemon=True
        )
        reader.start()
        server.settimeout(60)
        socks = []
        try:
            for _ in range(count):
                sock, _ = server.accept()
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                socks.append(sock)
            if not ours.poll(60) or ours.recv() != "connected":
                raise FloorError("the reader process did not connect")
            got = [0]
            yield socks, got
        finally:
            for sock in socks:
                sock.close()
        if ours.poll(60):
            got[0] = ours.recv()
        reader.join(10)
        if reader.is_alive():
            reader.kill()


def python_writes(socks: list[socket.socket], frame: bytes, rounds: int) -> tuple[float, int]:
    """Write `frame` to every socket `rounds` times; (CPU seconds of this thread,
    writes the kernel did not take whole at once)."""
    size, flags, blocked = len(frame), socket.MSG_DONTWAIT, 0
    start = time.thread_time_ns()
    for _ in range(rounds):
        for sock in socks:
            try:
                written = sock.send(frame, flags)
            except BlockingIOError:
                written = 0
            if written != size:
                blocked += 1
                sock.sendall(frame[written:])
    return (time.thread_time_ns() - start) / 1e9, blocked


def compile_c(folder: Path) -> Path:
    """bench/floor.c built with `gcc -O2` into `folder`; FloorError without gcc."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise FloorError(
            "bench/floor.py needs gcc to build its C reference writer (bench/floor.c): "
            "install it (apt-get install gcc) and run it again"
        )
    binary = folder / "floor"
    built = subprocess.run(
        [gcc, "-O2", "-Wall", "-o", str(binary), str(C_SOURCE)], capture_output=True, text=True
    )
    if built.returncode != 0:
        raise FloorError(f"gcc could not build {C_SOURCE}:\n{built.stderr}")
    return binary


def c_writes(binary: Path, socks: list[socket.socket], frame: bytes, rounds: int):
    """The same loop as python_writes, run by the C program on the same sockets."""
    fds = [sock.fileno() for sock in socks]
    done = subprocess.run(
        [str(binary), str(rounds), frame.hex(), *map(str, fds)],
        pass_fds=fds,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise FloorError(f"{binary} failed: {done.stderr.strip()}")
    out = json.loads(done.stdout)
    return out["cpu_ns"] / 1e9, out["blocked"]


def socket_floor(counts, writes: int, rounds: int, binary: Path, frame: bytes) -> list[dict]:
    """Per socket count: the median µs of CPU per write in Python and in C, and
    how many writes had to wait (0 when the reader keeps up)."""
    rows = []
    for count in counts:
        per_round = max(1, writes // count)
        samples = {"python": [], "c": []}
        blocked = {"python": 0, "c": 0}
        with drained_sockets(count) as (socks, got):
            for r in range(rounds):
                for kind in ("python", "c") if r % 2 == 0 else ("c", "python"):
                    if kind == "python":
                        cpu, waited = python_writes(socks, frame, per_round)
                    else:
                        cpu, waited = c_writes(binary, socks, frame, per_round)
                    samples[kind].append(cpu / (per_round * count) * 1e6)
                    blocked[kind] += waited
        expected = 2 * rounds * per_round * count * len(frame)
        if got[0] != expected:
            raise FloorError(f"the reader got {got[0]} bytes of {expected}")
        python_us, c_us = (statistics.median(samples[k]) for k in ("python", "c"))
        rows.append(
            {
                "sockets": count,
                "writes": per_round * count,
                "python_us": python_us,
                "c_us": c_us,
                "python_blocked": blocked["python"],
                "c_blocked": blocked["c"],
            }
        )
    return rows
