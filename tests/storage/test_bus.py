"""The bus's payloads (chat/storage/bus.py): what is encoded decodes to the same events,
and no payload passes NOTIFY's limit. No database: the contract itself."""

import orjson
import pytest

from chat.storage import bus

FRAME = orjson.dumps({"type": "chat", "content": "hi there", "html": "<p>a\nb</p>"}).decode()


def frame_of(size: int) -> str:
    return orjson.dumps({"type": "chat", "content": "é" * size}).decode()


@pytest.mark.parametrize("sizes", [[10], [3000, 3000, 3000], [8000], [1] * 500, [4000, 9000, 2]])
def test_stored_events_round_trip_in_order_under_the_limit(sizes):
    events = [bus.Stored(7, seq, frame_of(n), 1_700_000_000_000) for seq, n in enumerate(sizes)]
    payloads = bus.encode_stored(events)
    assert all(len(p.encode()) <= bus.NOTIFY_PAYLOAD_MAX for p in payloads)
    decoded = [event for payload in payloads for event in bus.decode_stored(payload)]
    expected = []
    for event in events:
        line = f"7 {event.seq} {event.sent_ms} {event.frame}"
        # A frame too big for one NOTIFY travels by reference: listeners read the row.
        fits = len(line.encode()) <= bus.NOTIFY_PAYLOAD_MAX
        expected.append(event if fits else bus.Stored(7, event.seq, None, event.sent_ms))
    assert decoded == expected


def test_a_stored_event_without_a_frame_is_a_reference():
    (payload,) = bus.encode_stored([bus.Stored(3, 9, None, 5)])
    assert payload == "3 9 5"
    assert bus.decode_stored(payload) == [bus.Stored(3, 9, None, 5)]


@pytest.mark.parametrize("payload", ["", "x", "1", "1 x", "1 2", "1 1 {}", "1 1 soon {}"])
def test_malformed_stored_lines_are_left_out(payload):
    assert bus.decode_stored(f"{payload}\n4 5 6 {FRAME}") == [bus.Stored(4, 5, FRAME, 6)]


@pytest.mark.parametrize(
    "event",
    [
        bus.Ephemeral(1, 0, (FRAME,)),
        bus.Ephemeral(2, 42, (FRAME, FRAME)),
        bus.Ephemeral(3, 0, (FRAME, None)),
        bus.Ephemeral(4, 0, ()),
    ],
)
def test_ephemeral_events_round_trip(event):
    assert bus.decode_ephemeral(bus.encode_ephemeral(event)) == event


def test_an_online_list_too_big_travels_by_reference():
    small = bus.presence_change(5, FRAME, FRAME)
    assert small.frames == (FRAME, FRAME)
    big = bus.presence_change(5, FRAME, frame_of(5000))
    assert big.frames == (FRAME, None)
    assert bus.encode_ephemeral(big).endswith("\n" + bus.ONLINE_USERS_REF)


@pytest.mark.parametrize("payload", ["", "x", "1", "x 1 {}"])
def test_malformed_ephemeral_payloads_decode_to_none(payload):
    assert bus.decode_ephemeral(payload) is None


@pytest.mark.parametrize(
    "event",
    [
        bus.Control(bus.REVOKE_SESSION, "ab" * 32),
        bus.Control(bus.REVOKE_SESSIONS, "12"),
        bus.Control(bus.REVOKE_USER, "12"),
        bus.Control(bus.REVOKE_MEMBER, "3:12"),
        bus.new_heartbeat(object()),
    ],
)
def test_control_events_round_trip(event):
    assert bus.decode_control(bus.encode_control(event)) == event


def test_heartbeat_tokens_are_unique_and_never_a_revocation():
    owner = object()
    first, second = bus.new_heartbeat(owner), bus.new_heartbeat(owner)
    assert first != second
    assert first.token.startswith(bus.HEARTBEAT_PREFIX)
    assert isinstance(bus.decode_control(first.token), bus.Heartbeat)
