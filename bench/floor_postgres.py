"""The floor's PostgreSQL part (bench/floor.py): batches of rows shaped like `messages`
and their NOTIFYs, counting the backends' CPU per message."""

import statistics
import threading
import time

from bench.cpu import is_postgres, process_cpu_s
from bench.samples import typical_content, typical_frame
from chat.domain.render import render
from chat.storage import bus

# The channel the floor NOTIFYs on: its own, so no server hears it.
CHANNEL = "floor_chat"
# Unmeasured batches per size before the first measured ones: past psycopg's
# prepare threshold (5) and PostgreSQL's first plans and cold caches.
WARM_UP_BATCHES = 10
# How long the listening connection may take to hear the last payload.
HEAR_TIMEOUT = 30.0

SQL_TABLE = "CREATE TABLE floor_messages (LIKE messages INCLUDING ALL)"
SQL_INSERT = """
    INSERT INTO floor_messages (room_id, seq, user_id, content, client_id, html)
    SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[],
                         %s::text[], %s::text[])
"""
SQL_NOTIFY = "SELECT pg_notify(%s, %s)"


class _Heard:
    """A LISTEN connection's notifications, counted by a thread of its own."""

    def __init__(self, conn):
        self.conn = conn
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="floor-listen")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for _ in self.conn.notifies(timeout=0.2):
                self.count += 1

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + HEAR_TIMEOUT
        while self.count < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the listener heard {self.count} of {count} notifications")
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def prepared_batches(first_seq: int, size: int, count: int) -> list[tuple[list, list[str]]]:
    """`count` batches of `size` messages from seq `first_seq` on: each the
    INSERT's column arrays and its NOTIFY payloads, encoded before timing."""
    frame = typical_frame()
    sent_ms = bus.now_ms()
    batches = []
    for b in range(count):
        seqs = range(first_seq + b * size, first_seq + (b + 1) * size)
        rooms = [1 + seq % 10 for seq in seqs]  # a batch spans rooms, as the writer's do
        contents = [typical_content(seq) for seq in seqs]
        columns = [
            rooms,
            list(seqs),
            [7] * size,
            contents,
            [f"c-{seq}" for seq in seqs],
            [render(text) for text in contents],
        ]
        events = [
            bus.Stored(room, seq, frame, sent_ms) for room, seq in zip(rooms, seqs, strict=True)
        ]
        batches.append((columns, bus.encode_stored(events)))
    return batches


def write_batches(conn, batches) -> None:
    """Each batch in one transaction, sent as one pipeline (one round trip)."""
    for columns, payloads in batches:
        with conn.pipeline(), conn.transaction():
            conn.execute(SQL_INSERT, columns)
            for payload in payloads:
                conn.execute(SQL_NOTIFY, (CHANNEL, payload))


class _Writer:
    """The writing connection, the listening one, and the next seq to write."""

    def __init__(self, writer, listening):
        self.writer = writer
        self.heard = _Heard(listening)
        self.pids = (writer.info.backend_pid, listening.info.backend_pid)
        if not all(is_postgres(pid) for pid in self.pids):
            self.pids = ()  # a server on another machine: wall time only
        self.seq = 1
        self.sent = 0  # NOTIFY payloads

    def run(self, size: int, count: int) -> dict:
        """Write `count` batches of `size` and wait until they are heard: the
        seconds of CPU of the writing and the listening backends (None if not
        local), wall seconds, messages and payloads."""
        batches = prepared_batches(self.seq, size, count)
        self.seq += size * count
        payloads = sum(len(p) for _, p in batches)
        self.sent += payloads
        cpu0 = [process_cpu_s(pid) for pid in self.pids]
        wall = time.perf_counter()
        write_batches(self.writer, batches)
        wall = time.perf_counter() - wall
        self.heard.wait_for(self.sent)
        cpu = [process_cpu_s(pid) - before for pid, before in zip(self.pids, cpu0, strict=True)]
        cpu += [None] * (2 - len(cpu))
        return {
            "writer": cpu[0],
            "listener": cpu[1],
            "wall": wall,
            "messages": size * count,
            "payloads": payloads,
        }


def _per_message(runs: list[dict], key: str) -> float | None:
    """The median of `key` per message over `runs`, in µs (None: not measured)."""
    values = [run[key] / run["messages"] * 1e6 for run in runs if run[key] is not None]
    return statistics.median(values) if values else None


def database_floor(url: str, sizes, messages: int, rounds: int) -> tuple[list[dict], dict]:
    """Per batch size: median CPU µs per message of the writing backend and of a
    listening one, wall µs per message, NOTIFYs per batch. Also the server's
    version and synchronous_commit."""
    import psycopg

    with (
        psycopg.connect(url, autocommit=True) as conn,
        psycopg.connect(url, autocommit=True) as listening,
    ):
        conn.execute(SQL_TABLE)
        server = {
            "postgres": conn.execute("SHOW server_version").fetchone()[0],
            "synchronous_commit": conn.execute("SHOW synchronous_commit").fetchone()[0],
        }
        listening.execute(f"LISTEN {CHANNEL}")
        writer = _Writer(conn, listening)
        runs = {size: [] for size in sizes}
        try:
            for size in sizes:  # unmeasured: first plans, prepared statements, caches
                writer.run(size, WARM_UP_BATCHES)
            for r in range(rounds):
                for size in sizes if r % 2 == 0 else list(reversed(sizes)):
                    runs[size].append(writer.run(size, max(messages // size, 10)))
        finally:
            writer.heard.stop()
    rows = [
        {
            "batch": size,
            "messages": runs[size][0]["messages"],
            "notifies_per_batch": runs[size][0]["payloads"] / (runs[size][0]["messages"] / size),
            "backend_cpu_us": _per_message(runs[size], "writer"),
            "listener_cpu_us": _per_message(runs[size], "listener"),
            "wall_us": _per_message(runs[size], "wall"),
        }
        for size in sizes
    ]
    return rows, server
