"""Held sockets in a real gunicorn worker: an idle WebSocket holds no greenlet, and the
worker refuses an upgrade past WORKER_CONNECTIONS held sockets (gunicorn's own count
of requests in progress no longer sees them)."""

import os
import signal
import time

import pytest
from websockets.exceptions import InvalidStatus

from ..conftest import make_token, make_user
from ..servers import FRAME_TIMEOUT, Client, Gunicorn

# gunicorn.conf.py as it is, plus a SIGUSR2 handler in the worker that writes the
# number of live greenlets (counted by the garbage collector) to GREENLET_PROBE.
PROBE_CONFIG = """
import gc
import os
import signal

_settings = {}
exec(compile(open("gunicorn.conf.py").read(), "gunicorn.conf.py", "exec"), _settings)
globals().update({k: v for k, v in _settings.items() if not k.startswith("__")})
_real_post_worker_init = post_worker_init


def post_worker_init(worker):
    _real_post_worker_init(worker)

    def count(signum, frame):
        import greenlet

        gc.collect()
        alive = [o for o in gc.get_objects() if isinstance(o, greenlet.greenlet) and not o.dead]
        path = os.environ["GREENLET_PROBE"]
        with open(path + ".tmp", "w") as out:
            out.write(str(len(alive)))
        os.replace(path + ".tmp", path)

    signal.signal(signal.SIGUSR2, count)
"""


def greenlets(worker: int, probe) -> int:
    """The worker's live greenlets, as its probe counts them."""
    probe.unlink(missing_ok=True)
    os.kill(worker, signal.SIGUSR2)
    deadline = time.monotonic() + FRAME_TIMEOUT
    while not probe.exists():
        assert time.monotonic() < deadline, "the worker did not answer the probe"
        time.sleep(0.05)
    return int(probe.read_text())


def test_idle_sockets_hold_no_greenlet_in_a_worker(database_url, db, tmp_path):
    token = make_token(db, make_user(db))
    config = tmp_path / "probe.conf.py"
    config.write_text(PROBE_CONFIG)
    probe = tmp_path / "greenlets"
    server = Gunicorn(
        database_url,
        tmp_path / "gunicorn.log",
        1,
        MAX_SOCKETS_PER_USER="1000",
        GREENLET_PROBE=str(probe),
    )
    server.config_file = str(config)
    clients = []
    try:
        server.start()
        (worker,) = server.worker_pids()
        # The worker's real-time parts (LISTEN loop, presence, pinger) start with
        # its first socket: counted before the sockets measured.
        clients.append(Client.open(server, "general", token))
        clients[0].until("ready")
        before = greenlets(worker, probe)
        for i in range(200):
            if i % 2:
                client = Client.open(server, "general", token)
            else:
                client = Client.connect(server, "/ws", token)
                client.send({"type": "join", "room": "general"})
            client.until("ready")
            clients.append(client)
        # Each socket's catch-up greenlet ends with its `ready`; an idle socket
        # keeps none (flask-sock held two: the request's and its reader's).
        added = greenlets(worker, probe) - before
        assert added < 20, f"{added} greenlets for 200 idle sockets"
    finally:
        for client in clients:
            client.ws.close()
        server.kill()


def test_an_upgrade_past_worker_connections_is_refused_with_503(start_server, db):
    server = start_server(workers=1, WORKER_CONNECTIONS="5")
    token = make_token(db, make_user(db))
    clients = [Client.open(server, "general", token) for _ in range(5)]
    for client in clients:
        client.until("ready")
    for path in ("/ws/general", "/ws"):
        with pytest.raises(InvalidStatus) as refused:
            Client.connect(server, path, token)
        assert refused.value.response.status_code == 503
        assert b"as many sockets as it may" in refused.value.response.body
    clients.pop().ws.close()
    # The worker counts the socket out once its close is through.
    deadline = time.monotonic() + FRAME_TIMEOUT
    while True:
        try:
            clients.append(Client.open(server, "general", token))
            break
        except InvalidStatus as exc:
            assert exc.response.status_code == 503
            assert time.monotonic() < deadline, "the closed socket still counts"
            time.sleep(0.05)
    clients[-1].until("ready")
