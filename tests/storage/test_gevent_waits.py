"""psycopg's waits in a gevent worker (chat/storage/db.py wait_gevent): queries,
pipelines, errors, timeouts and notifications behave as with psycopg's own
waits, and greenlets on separate connections wait side by side.

Monkey-patching is for the whole process, so the checks run in a child
process patched as a gunicorn gevent worker is."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

CHILD = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import sys
    import time

    import gevent
    import psycopg
    import psycopg.waiting

    from chat.storage import db

    url = sys.argv[1]
    db.cooperative_waits()
    assert psycopg.waiting.wait is db.wait_gevent, psycopg.waiting.wait

    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT 1 + 1").fetchone() == (2,)
        with conn.pipeline():
            a = conn.execute("SELECT 'a'")
            b = conn.execute("SELECT repeat('b', 100000)")  # more than one read
        assert a.fetchone() == ("a",) and b.fetchone()[0] == "b" * 100000

        # A wait the socket is ready for costs no trip through gevent's hub: a
        # pipeline's statements each wait for a writable socket, twice.
        import greenlet

        switches = []
        greenlet.settrace(lambda event, args: switches.append(event))
        with conn.pipeline():
            cursors = [conn.execute("SELECT %s::int", (i,)) for i in range(20)]
        greenlet.settrace(None)
        assert [c.fetchone()[0] for c in cursors] == list(range(20))
        assert len(switches) <= 6, len(switches)  # waiting for the answers only
        try:
            conn.execute("SELECT 1 / 0")
        except psycopg.errors.DivisionByZero:
            pass
        else:
            raise AssertionError("no error")
        conn.execute("LISTEN gevent_waits")
        started = time.monotonic()
        assert list(conn.notifies(timeout=0.2)) == []  # a timeout ends the wait
        assert time.monotonic() - started >= 0.19
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("NOTIFY gevent_waits, 'hello'")
        heard = next(conn.notifies(timeout=10))
        assert heard.payload == "hello", heard

    # One greenlet waits on its connection while another, on its own, sends what
    # the first waits for: a wait that held the whole process would never see it.
    with psycopg.connect(url, autocommit=True) as listening:
        listening.execute("LISTEN side_by_side")

        def hear():
            return [n.payload for n in listening.notifies(timeout=10, stop_after=1)]

        def say():
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("NOTIFY side_by_side, 'both ran'")

        heard, said = gevent.spawn(hear), gevent.spawn(say)
        gevent.joinall([heard, said], raise_error=True)
        assert heard.value == ["both ran"], heard.value
    print("ok")
    """
)


def test_psycopg_waits_cooperatively_in_a_gevent_worker(database_url):
    done = subprocess.run(
        [sys.executable, "-c", CHILD, database_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
