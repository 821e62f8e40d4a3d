"""Do password hashes stall a worker's sockets? Socket round trips with and without
50 parallel logins, on one gevent worker (so the logins and the socket share it).

    .venv/bin/python bench/login_stall.py [--logins 50] [--seconds 4]

Prints round-trip percentiles (send a chat, wait for its ack) for the quiet
baseline and during the logins, and their ratio. Argon2id runs in gevent's
thread pool (chat/domain/passwords.py), so the socket should barely notice.
"""

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chat import actions  # noqa: E402
from tests.servers import Client, Gunicorn, form_login, scratch_database  # noqa: E402

PASSWORD = "correct horse battery"


def round_trips(client: Client, seconds: float) -> list[float]:
    times = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        client.send({"type": "chat", "content": "ping", "client_id": uuid.uuid4().hex})
        client.until("ack")
        times.append(time.perf_counter() - started)
    return times


def log_in(server: Gunicorn, username: str) -> None:
    _, response = form_login(server, username, PASSWORD)
    assert response.status_code == 302, response.status_code


def summary(times: list[float]) -> str:
    times = sorted(times)
    pick = [times[int(len(times) * p)] * 1000 for p in (0.5, 0.99)] + [times[-1] * 1000]
    return "p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms ({} round trips)".format(*pick, len(times))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    with scratch_database() as url:
        with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
            token = actions.create_token(conn, actions.create_user(conn, "pinger", PASSWORD).id)
            for i in range(args.logins):
                actions.create_user(conn, f"u{i}", PASSWORD)
        server = Gunicorn(
            url,
            Path("/tmp") / f"login-stall-{os.getpid()}.log",
            workers=1,
            RATE_LIMIT_PER_SEC="0",
            LOGIN_FAILURES_PER_ADDRESS="100000",
        ).start()
        try:
            measure(server, token, args)
        finally:
            server.stop()


def measure(server: Gunicorn, token: str, args) -> None:
    client = Client.open(server, "general", token)
    client.until("ready")
    round_trips(client, 1.0)  # warm up
    quiet = round_trips(client, args.seconds)
    logins = [threading.Thread(target=log_in, args=(server, f"u{i}")) for i in range(args.logins)]
    started = time.monotonic()
    for thread in logins:
        thread.start()
    busy = []
    while any(t.is_alive() for t in logins):
        busy += round_trips(client, 0.2)
    took = time.monotonic() - started
    print(f"quiet:                 {summary(quiet)}")
    print(f"during {args.logins} logins ({took:.1f} s): {summary(busy)}")
    ratio = sorted(busy)[int(len(busy) * 0.99)] / sorted(quiet)[int(len(quiet) * 0.99)]
    print(f"p99 during / quiet: {ratio:.2f}x")


if __name__ == "__main__":
    main()
