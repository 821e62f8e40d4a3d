"""bench/fanout_cost.py's worker: one chat worker's LISTEN side, alone in a process.

    python -m bench.fanout_worker '<config as JSON>'      (started by fanout_cost.py)

Patched by gevent as a gunicorn worker is, it imports `chat` from the
checkout the config names (so two versions can hear the same notifications
side by side), opens a real Hub (chat/realtime/hub.py) with its Listener on
the database, and joins real Peers to the rooms it is told to serve, each on
a loopback socket that the driver's reader process drains. Everything between
the LISTEN connection and the sockets is the product's own code.

It talks to the driver in JSON lines: on stdout `{"port": p}` (connect the
clients' reader there), then `{"ready": ..., "chat": <chat's path>}`, then one
`{"mark": key, "cpu": s}` for every bench mark it hears (a CONTROL_CHANNEL
notification of kind MARK: its process CPU time, user and system, at that
moment, in seconds) and `{"micro": ...}` answers; on stdin `micro <lines per
payload> <payloads>` (decode and dispatch payloads of rooms it does not
serve, in-process, without the database: µs of CPU per line) or `stop`.
"""

import json
import os
import sys
import tempfile
import time

MARK = "bench"  # a Control kind no revocation uses: the hub passes it on untouched


def say(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Marks:
    """The hub's ControlHandler: reports the process's CPU at each bench mark."""

    def on_control(self, event) -> None:
        if event.kind == MARK:
            say({"mark": event.key, "cpu": time.process_time()})

    def on_user(self, event) -> None:
        pass

    def on_resync(self) -> None:
        pass


def micro(listener, bus, lines: int, payloads: int) -> float:
    """CPU µs per line for the listener to decode and dispatch `payloads`
    payloads of `lines` lines each, all for rooms this worker does not serve
    (ids from 10**9 on), called directly: no database, no wake-ups."""
    import psycopg

    from bench.samples import typical_frame

    frame = typical_frame()
    notifies = []
    for p in range(payloads):
        events = [bus.Stored(10**9 + i % 10, p * lines + i + 1, frame, 0) for i in range(lines)]
        notifies.extend(psycopg.Notify(bus.CHANNEL, x, 0) for x in bus.encode_stored(events))
    start = time.thread_time()
    for notify in notifies:
        listener._dispatch(notify.channel, notify.payload, None)
    return (time.thread_time() - start) / (lines * payloads) * 1e6


def serve(config: dict) -> None:
    """Join the configured clients, report ready, then answer commands until `stop`."""
    import socket
    from types import SimpleNamespace

    from gevent.fileobject import FileObjectPosix
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    import chat
    from chat.domain.entities import Room, User
    from chat.realtime.hub import Hub
    from chat.realtime.peer import Peer
    from chat.realtime.wire import FrameSocket
    from chat.storage import bus

    clients = sum(n for _, _, n in config["serve"])
    server = socket.create_server(("127.0.0.1", 0), backlog=max(clients, 1))
    say({"port": server.getsockname()[1]})
    socks = [server.accept()[0] for _ in range(clients)]
    for sock in socks:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    url = config["url"]
    pool = ConnectionPool(url, kwargs={"row_factory": dict_row}, min_size=1, max_size=4)
    pool.open(wait=True)
    # No heartbeat during the measurements: its NOTIFY would be counted.
    hub = Hub(url, pool, Marks(), probe_interval=3600)
    peers = []
    for room_id, name, count in config["serve"]:
        for i in range(count):
            ws = SimpleNamespace(sock=FrameSocket(socks.pop()))
            peer = Peer(ws, User(i + 1, f"reader{i}"), queue_size=1000)
            hub.join(peer, Room(room_id, name), after=None)
            peers.append(peer)
    hub.start()
    say({"ready": len(peers), "chat": os.path.dirname(chat.__file__)})
    commands = FileObjectPosix(sys.stdin.fileno(), "r")
    for line in commands:
        word, *args = line.split()
        if word == "micro":
            lines, payloads = map(int, args)
            say({"micro": micro(hub._listener, bus, lines, payloads), "lines": lines})
        elif word == "stop":
            break
    hub.stop()
    pool.close()


def main() -> None:
    config = json.loads(sys.argv[1])
    from gevent import monkey

    monkey.patch_all()
    # The checkout under test first: its `chat` is the one imported.
    sys.path.insert(0, config["checkout"])
    sys.path.insert(1, config["bench_root"])
    # As under gunicorn (gunicorn.conf.py): metrics kept in files, one per process.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fanout-metrics-")
    serve(config)


if __name__ == "__main__":
    main()
