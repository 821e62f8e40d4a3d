"""Connection plumbing: a psycopg pool to PostgreSQL and the TCP options that
make a silently dead connection fail instead of hang.

The pool is opened by the surface (chat/web/worker.py for a gunicorn worker,
chat/cli.py for a bot) and handed down; nothing here knows about Flask.
"""

import select
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic

import gevent
import psycopg
import psycopg.waiting
from gevent import monkey
from psycopg import Connection
from psycopg import errors as e
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

# A request that cannot get a connection in this long fails with 503 instead
# of hanging its socket: the database is down or the pool is exhausted.
POOL_TIMEOUT = 5.0


def open_pool(url: str, size: int, tcp_timeout: float, name: str = "chat") -> ConnectionPool:
    """A pool of at most `size` connections to `url` whose rows are dicts, opened
    without waiting (a worker boots even while PostgreSQL is restarting;
    /readyz says 503 until it answers). `tcp_timeout` is in seconds."""
    cooperative_waits()
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=size,
        kwargs={"row_factory": dict_row, **tcp_options(tcp_timeout)},
        # A connection broken by a PostgreSQL restart is noticed on checkout
        # and replaced, instead of failing the request that drew it.
        check=check_connection,
        configure=configure,
        timeout=POOL_TIMEOUT,
        name=name,
        open=False,
    )
    pool.open(wait=False)
    return pool


def cooperative_waits() -> None:
    """In a gevent worker (select monkey-patched), make psycopg wait on its
    connections' sockets with gevent's own watchers (`wait_gevent`). Idempotent;
    does nothing elsewhere."""
    if monkey.is_module_patched("select"):
        psycopg.waiting.wait = wait_gevent


# The real poll, not gevent's: a zero-timeout look at one socket, with no switch.
_poll = monkey.get_original("select", "poll")
# What poll reports, as psycopg's Ready bits (an error or hang-up wakes both:
# the generator's next read or flush then raises it).
_READABLE = select.POLLIN | select.POLLERR | select.POLLHUP
_WRITABLE = select.POLLOUT | select.POLLERR | select.POLLHUP


def wait_gevent(gen, fileno: int, interval: float = 0.0, timeout: float | None = None):
    """psycopg's waiting.wait contract: a look first, then one gevent io watcher.

    psycopg's own choice under gevent, wait_poll, builds a select.poll() and
    gevent builds its watchers and a timer for every wait; a worker's profile
    at 300 msg/s showed those waits as a fifth of its CPU. And most waits need
    no waiting: in a pipeline every statement waits twice for the socket to be
    writable, which it nearly always is. So each wait first asks the kernel
    (a zero-timeout poll, no switch) and goes to gevent's hub only when the
    socket is not ready: a send batch of one message costs its worker ~0.6x
    the CPU (bench/write_path.py --gevent).

    `gen` yields what it waits for (psycopg.waiting.Wait: 1 read, 2 write,
    3 both, the same bits as libev's) and is sent what is ready; a readiness
    reported that the socket lacks is harmless (the generator's reads and
    flushes do not block). `interval` (psycopg's
    Ctrl-C check) is not needed under gevent; `timeout` in seconds raises
    psycopg's _WaitTimeout, as its own waits do.
    """
    hub = gevent.get_hub()
    deadline = None if timeout is None else monotonic() + timeout
    poller = _poll()
    poller.register(fileno)
    try:
        wanted = next(gen)
        while True:
            ready = _ready_now(poller) & wanted
            if ready:
                wanted = gen.send(ready)
                continue
            watcher = hub.loop.io(fileno, wanted)
            try:
                if deadline is None:
                    hub.wait(watcher)
                    ready = wanted
                else:
                    ready = 0
                    with gevent.Timeout(max(0.0, deadline - monotonic()), False):
                        hub.wait(watcher)
                        ready = wanted
            finally:
                watcher.close()
            if ready:
                wanted = gen.send(ready)
                continue
            gen.send(0)  # nothing ready: the generator waits for the same again
            if monotonic() >= deadline:
                raise e._WaitTimeout("wait timeout expired")
    except StopIteration as done:
        return done.value


def _ready_now(poller) -> int:
    """What the polled socket is ready for now, as psycopg's Ready bits."""
    events = poller.poll(0)
    if not events:
        return 0
    mask = events[0][1]
    return (1 if mask & _READABLE else 0) | (2 if mask & _WRITABLE else 0)


def configure(conn: Connection) -> None:
    """Session settings of every pooled connection, set once when it is opened.

    `enable_seqscan = off`: every statement the product sends looks rows up by
    key, and each must keep using its index as its table grows. A plan is made
    from what the planner believes about the table, and on a busy server that
    belief is stale: psycopg prepares a statement on its sixth run and
    PostgreSQL then keeps a generic plan for the connection's lifetime, so a
    plan made while `messages` had a few pages (a sequential scan, the cheapest
    there) stays one at millions of rows until the next ANALYZE, which never
    comes with autovacuum off or behind a burst. Off, the planner takes a
    sequential scan only where no index serves (tests/storage/test_plans.py).
    Re-planning every run instead (plan_cache_mode = force_custom_plan) was
    measured at about +50% database CPU per send batch.
    """
    conn.execute("SET enable_seqscan = off")
    conn.commit()  # the pool wants the connection idle, not in a transaction


def check_connection(conn: psycopg.Connection) -> None:
    """Raise if a pooled connection is broken, without a round trip.

    psycopg_pool's own check sends an empty query: a round trip (and a wake of
    the server's process) on every checkout, which doubled the cost of a
    one-statement read. A restart or pg_terminate_backend sends its error and
    then closes the socket, and an idle connection has nothing else to read:
    libpq takes in what has arrived without blocking, the first time the error,
    the second the close (OperationalError). A connection cut silently (no
    close arrived) fails its next statement, as it could after the old check.
    """
    pgconn = conn.pgconn
    pgconn.consume_input()
    pgconn.consume_input()
    if pgconn.status != ConnStatus.OK:
        raise psycopg.OperationalError("the server closed the connection")


@contextmanager
def reading(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """A pooled connection in autocommit: each statement is its own transaction,
    one round trip each, without the BEGIN and COMMIT a `pool.connection()`
    block sends around them. For reads, and for single statements whose write
    needs nothing else to be atomic with it."""
    with pool.connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            if pgconn_ok(conn):  # a broken one is discarded by the pool
                conn.autocommit = False


class Pipelined:
    """A transaction whose BEGIN and COMMIT travel in its statements' pipelines.

    psycopg sends a transaction's BEGIN as a round trip of its own, even inside
    a pipeline (it syncs after it), and its COMMIT likewise: a send batch's two
    pipelines cost four round trips, each a wake of the worker and of its
    backend. Made by `pipelined`: call `begin()` first thing inside the first
    pipeline and `commit()` last thing inside the last one; the transaction is
    then two round trips. Nested in a transaction of the caller's, both do
    nothing (the block is a savepoint, committed with the caller's).
    """

    def __init__(self, conn: psycopg.Connection | None):
        self._conn = conn  # None: nested, the caller's transaction owns BEGIN and COMMIT
        self.committed = False

    def begin(self) -> None:
        """Queue BEGIN; inside a pipeline, before any other statement."""
        if self._conn is not None:
            self._conn.execute("BEGIN", prepare=False)

    def commit(self) -> None:
        """Queue COMMIT; inside the last pipeline, after every other statement
        (its error, if any, is raised when the pipeline ends)."""
        if self._conn is not None:
            self._conn.execute("COMMIT", prepare=False)
            self.committed = True


@contextmanager
def pipelined(conn: psycopg.Connection) -> Iterator[Pipelined]:
    """One transaction whose BEGIN and COMMIT ride in its pipelines (`Pipelined`).

    On an idle connection the block owns the transaction: the connection runs
    in autocommit meanwhile (psycopg then sends no BEGIN of its own), a block
    that did not queue its COMMIT gets one at its end (a round trip), and any
    error rolls it back (`Connection.rollback`) before it is raised. Inside a transaction of the
    caller's, the block is a savepoint, as `conn.transaction()` makes.
    """
    if conn.info.transaction_status != TransactionStatus.IDLE:
        with conn.transaction():
            yield Pipelined(None)
        return
    autocommit = conn.autocommit
    conn.autocommit = True
    tx = Pipelined(conn)
    try:
        yield tx
        if not tx.committed:
            conn.execute("COMMIT", prepare=False)
    except BaseException:
        if pgconn_ok(conn):
            # Not a ROLLBACK statement: psycopg's rollback also forgets the
            # statements it believes it prepared in a pipeline whose rest the
            # server skipped after the error (their next run would name a
            # prepared statement that does not exist).
            conn.rollback()
        raise
    finally:
        if pgconn_ok(conn):
            conn.autocommit = autocommit


def pgconn_ok(conn: psycopg.Connection) -> bool:
    return conn.pgconn.status == ConnStatus.OK


def tcp_options(timeout: float) -> dict:
    """libpq options that make a silently dead TCP connection fail instead of hang
    (ignored on Unix sockets). `timeout` is in seconds."""
    return {
        "keepalives": 1,
        "keepalives_idle": max(1, int(timeout / 2)),
        "keepalives_interval": max(1, int(timeout / 6)),
        "keepalives_count": 3,
        "tcp_user_timeout": int(timeout * 1000),
    }
