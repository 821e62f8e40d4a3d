"""The pool's plumbing (chat/storage/db.py) on the real database: what a
checkout costs, and the autocommit reads."""

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from chat.storage import db as storage


@pytest.fixture
def pool(database_url):
    """The worker's pool as chat/web/worker.py opens it, one connection only
    (so every checkout draws the same one)."""
    pool = storage.open_pool(database_url, 1, 10.0)
    pool.wait()
    yield pool
    pool.close()


def last_statement(database_url: str, backend_pid: int) -> str:
    with psycopg.connect(database_url, autocommit=True) as admin:
        row = admin.execute(
            "SELECT query FROM pg_stat_activity WHERE pid = %s", (backend_pid,)
        ).fetchone()
    return row[0]


def test_a_checkout_sends_nothing_to_the_server(pool, database_url):
    # psycopg_pool's own check sends an empty query on every checkout: a round trip.
    with pool.connection() as conn:
        conn.execute("SELECT 'the last statement'")
        pid = conn.info.backend_pid
    before = last_statement(database_url, pid)  # the COMMIT of that block
    for _ in range(3):
        with pool.connection() as conn:
            assert conn.info.backend_pid == pid
    assert last_statement(database_url, pid) == before


def test_a_checkout_replaces_a_connection_the_server_ended(pool, database_url):
    with pool.connection() as conn:
        pid = conn.info.backend_pid
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))  # waits for its end
    with pool.connection() as conn:  # not the dead one: the request that drew it works
        assert conn.execute("SELECT 1 AS one").fetchone()["one"] == 1
        assert conn.info.backend_pid != pid


def test_check_connection_refuses_a_closed_connection(database_url):
    conn = psycopg.connect(database_url)
    storage.check_connection(conn)  # alive: quiet
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (conn.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        storage.check_connection(conn)
    conn.close()


def test_reading_runs_each_statement_without_a_transaction(pool, database_url):
    with storage.reading(pool) as conn:
        row = conn.execute("SELECT now() = statement_timestamp() AS own").fetchone()
        # In a transaction now() is the transaction's start; here each statement is one.
        assert row["own"] is True
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        pid = conn.info.backend_pid
    assert last_statement(database_url, pid).startswith("SELECT now()")  # no COMMIT sent
    with pool.connection() as conn:  # handed on as a transaction again
        assert conn.autocommit is False


def test_reading_hands_the_connection_back_after_an_error(pool):
    with pytest.raises(psycopg.errors.DivisionByZero):
        with storage.reading(pool) as conn:
            conn.execute("SELECT 1 / 0")
    with pool.connection() as conn:
        assert conn.autocommit is False
        assert conn.execute("SELECT 2 AS two").fetchone()["two"] == 2


def test_the_pool_rows_are_dicts(pool):
    with storage.reading(pool) as conn:
        assert conn.row_factory is dict_row
    assert isinstance(pool, ConnectionPool)
