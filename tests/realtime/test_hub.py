"""The hub and peers in-process, on the real database, with sockets that record frames.

The recording socket stands in for the client's TCP connection only; everything
behind it (the LISTEN connection, the table, the locks) is the real thing.
"""

import threading
from datetime import UTC, datetime

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from chat import actions, metrics
from chat.domain.entities import User
from chat.domain.render import render
from chat.protocol import outbound
from chat.realtime.hub import Hub
from chat.realtime.peer import Peer
from chat.storage import bus

from ..conftest import make_user, room_row
from ..contract import check_server_frame

WAIT = 15.0


class RecordingSocket:
    """Collects what the peer writes; `gate` can hold writes to mimic a client not reading."""

    def __init__(self, blocked: bool = False):
        self.frames: list[dict] = []
        self.closed_with: int | None = None
        self.gate = threading.Event()
        if not blocked:
            self.gate.set()
        self._cond = threading.Condition()

    def send(self, text: str) -> None:
        check_server_frame(text, "the hub's recording socket", raise_=False)
        self.gate.wait()
        with self._cond:
            self.frames.append(orjson.loads(text))
            self._cond.notify_all()

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        with self._cond:
            self.closed_with = reason
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = WAIT) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self), timeout), self.frames[-3:]

    def seqs(self) -> list[int]:
        return [f["seq"] for f in self.frames if f["type"] == "chat"]


@pytest.fixture
def hub(database_url):
    pool = ConnectionPool(
        database_url, kwargs={"row_factory": dict_row}, min_size=1, max_size=4, open=True
    )
    hub = Hub(database_url, pool)
    yield hub
    hub.stop()
    pool.close()


@pytest.fixture
def general(db):
    return room_row(db)


def send_n(db, room, user, n, prefix="m"):
    return [actions.send_message(db, room, user, f"{prefix}{i}", None).seq for i in range(n)]


def test_catch_up_waits_for_a_slow_reader_instead_of_dropping_it(hub, db, general):
    user = make_user(db)
    send_n(db, general, user, 300)
    sock = RecordingSocket()
    peer = Peer(sock, User(0, "slow"), queue_size=20)
    # 300 rows through a 20-frame queue: only flow control gets them all through.
    hub.join(peer, general, after=0)
    sock.wait_for(lambda s: any(f["type"] == "ready" for f in s.frames))
    assert sock.seqs() == list(range(1, 301))
    assert sock.closed_with is None
    hub.leave(peer, general.id)
    peer.close()


def test_a_client_that_stops_reading_is_dropped_and_others_get_everything(hub, db, general):
    user = make_user(db)
    stuck = RecordingSocket(blocked=True)
    stuck_peer = Peer(stuck, User(0, "stuck"), queue_size=10)
    fine = RecordingSocket()
    fine_peer = Peer(fine, User(1, "fine"), queue_size=10)
    hub.join(fine_peer, general, after=0)
    # The stuck client's `ready` sits in its queue: it never reads anything.
    hub.join(stuck_peer, general, after=0)

    try:
        seqs = send_n(db, general, user, 40)
        fine.wait_for(lambda s: s.seqs()[-1:] == [seqs[-1]])
        assert fine.seqs() == seqs
        stuck.wait_for(lambda s: s.closed_with == 1013)
        assert stuck_peer.closed
    finally:  # its writer never outlives the test, whatever failed
        stuck.gate.set()
        for peer in (fine_peer, stuck_peer):
            hub.leave(peer, general.id)
            peer.close()


def test_a_room_nobody_follows_is_forgotten(hub, db, general):
    sock = RecordingSocket()
    peer = Peer(sock, User(0, "w"), queue_size=10)
    hub.join(peer, general, after=None)
    assert general.id in hub._feeds
    hub.leave(peer, general.id)
    peer.close()
    assert hub._feeds == {}


# "1 1 {}" and "1 2" are the format before sent_ms; nothing writes it any more.
@pytest.mark.parametrize(
    "payload",
    ["", "x", "1", "1 x", "abc 2 {}", "99999 1 {}", "1 1 soon {}", "1 1 12.5 {}", "1 1 {}", "1 2"],
)
def test_malformed_or_foreign_notifications_are_ignored(hub, db, general, payload):
    user = make_user(db)
    sock = RecordingSocket()
    peer = Peer(sock, User(0, "w"), queue_size=10)
    hub.join(peer, general, after=0)
    hub.on_stored(bus.decode_stored(payload))
    seqs = send_n(db, general, user, 2)
    sock.wait_for(lambda s: s.seqs() == seqs)
    hub.leave(peer, general.id)
    peer.close()


def test_lone_and_batched_notifications_are_delivered_and_timed(hub, db, general):
    """Each line carries the sender's clock, which feeds the NOTIFY-to-delivery
    histogram."""
    sock = RecordingSocket()
    peer = Peer(sock, User(0, "w"), queue_size=10)
    hub.join(peer, general, after=0)
    sock.wait_for(lambda s: s.frames and s.frames[-1]["type"] == "ready")
    now = datetime.now(UTC)
    first = outbound.chat_frame("general", 1, "eren", "first", now, None, render("first"))
    second = outbound.chat_frame("general", 2, "eren", "second", now, None, render("second"))
    observed = metrics.NOTIFY_TO_DELIVERY.collect()[0]
    count = next(s.value for s in observed.samples if s.name.endswith("_count"))
    # The hub trusts the feed's seq: the table need not hold these two.
    hub.on_stored(bus.decode_stored(f"{general.id} 1 1 {first}"))
    (payload,) = bus.encode_stored([bus.Stored(general.id, 2, second, bus.now_ms())])
    hub.on_stored(bus.decode_stored(payload))
    # A batch (actions.send_messages): several messages, one per line, in one payload.
    third, fourth = (
        outbound.chat_frame("general", seq, "eren", f"batch {seq}", now, None, render("batch"))
        for seq in (3, 4)
    )
    hub.on_stored(bus.decode_stored(f"{general.id} 3 1 {third}\n{general.id} 4 1 {fourth}"))
    sock.wait_for(lambda s: s.seqs() == [1, 2, 3, 4])
    assert [f["content"] for f in sock.frames if f["type"] == "chat"] == [
        "first",
        "second",
        "batch 3",
        "batch 4",
    ]
    observed = metrics.NOTIFY_TO_DELIVERY.collect()[0]
    assert next(s.value for s in observed.samples if s.name.endswith("_count")) == count + 4
    hub.leave(peer, general.id)
    peer.close()


def test_the_listener_hands_on_only_the_lines_of_rooms_followed_here(hub, db, general):
    """Every worker hears every room; lines of rooms without a feed here are
    dropped before they are decoded, and never reach on_stored."""
    user = make_user(db)
    other = actions.create_room(db, "second", user.id)
    heard: list[int] = []
    on_stored = hub.on_stored

    def spy(events):
        heard.extend(event.room_id for event in events)
        on_stored(events)

    hub.on_stored = spy  # the listener calls its handler's attribute
    sock = RecordingSocket()
    peer = Peer(sock, User(0, "w"), queue_size=50)
    hub.join(peer, general, after=0)
    assert hub.serves(general.id) and not hub.serves(other.id)
    send_n(db, other, user, 5)
    seqs = send_n(db, general, user, 3)
    sock.wait_for(lambda s: s.seqs() == seqs)
    assert set(heard) == {general.id}
    hub.leave(peer, general.id)
    peer.close()
    assert not hub.serves(general.id)


def test_a_room_followed_while_its_lines_are_being_skipped_gets_every_seq_once(
    hub, db, database_url, general
):
    """Lines of `second` are skipped until a client joins it mid-stream: the
    feed takes its position from the table, so nothing skipped is missed and
    nothing is delivered twice."""
    user = make_user(db)
    other = actions.create_room(db, "second", user.id)
    watcher = Peer(RecordingSocket(), User(0, "w"), queue_size=10)
    hub.join(watcher, general, after=0)  # the listener runs; `second` has no feed yet
    half = threading.Event()

    def send_to_other():
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            for i in range(60):
                actions.send_message(conn, other, user, f"s{i}", None)
                if i == 20:
                    half.set()

    sender = threading.Thread(target=send_to_other)
    sender.start()
    assert half.wait(WAIT)
    sock = RecordingSocket()
    peer = Peer(sock, User(1, "late"), queue_size=200)
    hub.join(peer, other, after=0)
    sender.join(WAIT)
    sock.wait_for(lambda s: s.seqs()[-1:] == [60])
    assert sock.seqs() == list(range(1, 61))
    for p, room in ((peer, other), (watcher, general)):
        hub.leave(p, room.id)
        p.close()
