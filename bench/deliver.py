"""What one delivery costs the server beyond the kernel's write, without a network.

    .venv/bin/python -m bench.deliver --sockets 2000 --rounds 300

Under gevent, as in a worker: N connected socket pairs, our FrameSocket and
Peer on one end of each, a reader draining the other ends between rounds (so
no buffer fills). Each round hands one pre-encoded chat frame to every peer
the way the hub does (`Peer.offer`), then writes the same frame to the same
sockets directly (`socket.send`, MSG_DONTWAIT): the floor. Prints both in µs
of this process's CPU per delivery and their ratio; rounds alternate, so
the machine's other load falls on both alike.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - after monkey-patching, as in a gunicorn gevent worker
import resource  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chat.domain.entities import User  # noqa: E402
from chat.realtime.peer import Peer  # noqa: E402
from chat.realtime.wire import FrameSocket, wire  # noqa: E402

# A chat frame as the hub hands it on (about 250 bytes).
FRAME = wire(
    '{"type":"chat","room":"general","seq":12345,"username":"b1",'
    '"content":"12345|17|99|1764550000.123456","html":"<p>12345|17|99|1764550000.123456</p>",'
    '"created_at":"2026-12-01T03:00:00.000Z","client_id":"42","files":[]}'
)


class _Socket:
    """What Peer reads of a flask-sock socket: its raw socket."""

    def __init__(self, sock: FrameSocket):
        self.sock = sock


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def drain(pairs) -> None:
    for _, reader in pairs:
        try:
            while reader._sock.recv(1 << 16, socket.MSG_DONTWAIT):
                pass
        except BlockingIOError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    pairs = [socket.socketpair() for _ in range(args.sockets)]
    peers = [Peer(_Socket(FrameSocket(w)), User(1, "b1"), 10_000) for w, _ in pairs]
    raw = [w._sock for w, _ in pairs]
    offered, written = [], []
    for _ in range(args.rounds):
        started = cpu()
        for peer in peers:
            peer.offer(FRAME)
        offered.append(cpu() - started)
        drain(pairs)
        started = cpu()
        for sock in raw:
            sock.send(FRAME, socket.MSG_DONTWAIT)
        written.append(cpu() - started)
        drain(pairs)
    per = 1e6 / args.sockets
    offer_us = statistics.mean(offered) * per
    floor_us = statistics.mean(written) * per
    print(f"Peer.offer      {offer_us:6.2f} µs per delivery")
    print(f"socket.send     {floor_us:6.2f} µs per write (the floor)")
    print(f"ratio           {offer_us / floor_us:6.2f}")


if __name__ == "__main__":
    main()
