"""What a gevent worker pays to hear one notification, read two ways.

    .venv/bin/python -m bench.listen_wake --notifications 2000

A process LISTENs (monkey-patched, as a gunicorn gevent worker) while another
sends it one NOTIFY every 2 ms, so that each arrives on its own and wakes it.
Reported: the listening process's CPU per notification, read with psycopg's
`Connection.notifies()` and the way chat/realtime/listener.py reads
(`_Readable` + libpq's consume_input/notifies), alternating, twice each.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - after monkey-patching, as in a gunicorn gevent worker
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from chat.realtime.listener import _Readable  # noqa: E402
from chat.storage import pgserver  # noqa: E402

SENDER = """
import sys, time, psycopg
conn = psycopg.connect(sys.argv[1], autocommit=True)
for _ in range(int(sys.argv[2])):
    conn.execute("NOTIFY listen_wake, 'x'")
    time.sleep(0.002)
conn.execute("NOTIFY listen_wake, 'stop'")
"""


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def hear(url: str, count: int, way: str) -> float:
    """µs of this process's CPU per notification heard `way`."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LISTEN listen_wake")
        sender = subprocess.Popen([sys.executable, "-c", SENDER, url, str(count)])
        heard, started = 0, None
        if way == "notifies":
            while True:
                payloads = [n.payload for n in conn.notifies(timeout=1.0)]
                started = started if started is not None or not payloads else cpu()
                heard += sum(p != "stop" for p in payloads)
                if "stop" in payloads:
                    break
        else:
            pgconn = conn.pgconn
            readable = _Readable(pgconn.socket)
            stop = False
            while not stop:
                readable.wait(1.0)
                pgconn.consume_input()
                while (notify := pgconn.notifies()) is not None:
                    started = started if started is not None else cpu()
                    stop = notify.extra == b"stop"
                    heard += not stop
            readable.close()
        spent = cpu() - started
        sender.wait()
    return spent / heard * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=2000)
    args = parser.parse_args()
    url = pgserver.ensure_running(ROOT / "instance" / "bench-pgdata")
    for _ in range(2):
        for way in ("notifies", "listener"):
            per = hear(url, args.notifications, way)
            print(f"{way:10} {per:6.1f} µs CPU per notification", flush=True)


if __name__ == "__main__":
    main()
