"""The LISTEN loop (chat/realtime/listener.py) on the real database, with a
handler that records what it is handed and in what order."""

import threading
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from chat.domain.render import render
from chat.protocol import outbound
from chat.realtime import listener as listener_module
from chat.realtime.listener import Listener
from chat.storage import bus

WAIT = 15.0
ROOM_ID = 42  # the handler serves every room; no row is read


class Recorder:
    """A BusHandler noting each call as (what, detail), in order."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.cond = threading.Condition()

    def _note(self, *call) -> None:
        with self.cond:
            self.calls.append(call)
            self.cond.notify_all()

    def wait_for(self, predicate) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self.calls), WAIT), self.calls

    def on_listening(self, reconnected: bool) -> None:
        self._note("listening", reconnected)

    def serves(self, room_id: int) -> bool:
        return True

    def on_stored(self, events) -> None:
        self._note("stored", [(event.room_id, event.seq) for event in events])

    def on_ephemeral(self, event) -> None:
        self._note("ephemeral", event)

    def on_user(self, event) -> None:
        self._note("user", event)

    def on_control(self, event) -> None:
        self._note("control", event)


def stored_payload(seq: int) -> str:
    frame = outbound.chat_frame(
        "general", seq, "eren", f"m{seq}", datetime.now(UTC), None, render(f"m{seq}")
    )
    (payload,) = bus.encode_stored([bus.Stored(ROOM_ID, seq, frame, bus.now_ms())])
    return payload


@pytest.fixture
def pool(database_url):
    with ConnectionPool(
        database_url, kwargs={"row_factory": dict_row}, min_size=1, max_size=2
    ) as pool:
        yield pool


def test_a_notification_arriving_during_the_listen_statements_is_handed_on_after_listening(
    monkeypatch, pool, database_url
):
    """A row committed while the LISTEN statements run reaches the connection
    inside their execute, where psycopg reads it: the listener keeps it and
    hands it on after on_listening (whose read-back may also find the row;
    the hub drops what it already has by seq), never before and never lost."""
    connect = psycopg.connect

    def connect_and_notify_early(*args, **kwargs):
        conn = connect(*args, **kwargs)
        execute = conn.execute

        def listen(query, *rest, **options):
            # A NOTIFY in the same simple query commits with the LISTENs, so its
            # notification arrives before the execute returns.
            notify = sql.SQL("; SELECT pg_notify({}, {})").format(
                sql.Literal(bus.CHANNEL), sql.Literal(stored_payload(1))
            )
            return execute(sql.SQL(query) + notify, *rest, **options)

        conn.execute = listen
        return conn

    monkeypatch.setattr(listener_module.psycopg, "connect", connect_and_notify_early)
    recorder = Recorder()
    listener = Listener(database_url, pool, recorder)
    listener.start()
    try:
        recorder.wait_for(lambda calls: ("stored", [(ROOM_ID, 1)]) in calls)
        monkeypatch.undo()
        # What comes after the LISTENs is heard as usual.
        with connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify(%s, %s)", (bus.CHANNEL, stored_payload(2)))
        recorder.wait_for(lambda calls: ("stored", [(ROOM_ID, 2)]) in calls)
    finally:
        listener.stop()
    assert recorder.calls[:3] == [
        ("listening", False),
        ("stored", [(ROOM_ID, 1)]),
        ("stored", [(ROOM_ID, 2)]),
    ]
