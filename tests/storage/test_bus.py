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


# Lines of three rooms, by value and by reference (None, and a frame too big).
MIXED = [
    bus.Stored(1, 5, FRAME, 10),
    bus.Stored(2, 7, None, 11),
    bus.Stored(3, 1, frame_of(3000), 12),
    bus.Stored(2, 8, FRAME, 13),
    bus.Stored(1, 6, frame_of(9000), 14),
]


@pytest.mark.parametrize("served", [set(), {1}, {2}, {1, 3}, {1, 2, 3}, {99}])
def test_decoding_for_the_rooms_served_keeps_their_lines_and_only_theirs(served):
    payloads = bus.encode_stored(MIXED * 40)  # several payloads, each of many lines
    assert len(payloads) > 1
    for payload in payloads:
        everything = bus.decode_stored(payload)
        assert bus.decode_stored(payload, served.__contains__) == [
            event for event in everything if event.room_id in served
        ]


def test_serves_is_asked_once_per_line_with_the_line_s_room_id():
    asked = []
    (payload,) = bus.encode_stored(MIXED)

    def serves(room_id):
        asked.append(room_id)
        return False

    assert bus.decode_stored(payload, serves) == []
    assert asked == [event.room_id for event in MIXED]


@pytest.mark.parametrize("line", ["1", "1 x", "1 2", "1 1 soon {}", "1 1 12.5 {}"])
def test_a_malformed_line_of_a_room_not_served_is_skipped_unparsed(line, caplog):
    payload = f"{line}\n4 5 6 {FRAME}"
    assert bus.decode_stored(payload, {4}.__contains__) == [bus.Stored(4, 5, FRAME, 6)]
    assert "malformed" not in caplog.text  # only its room id was read
    assert bus.decode_stored(payload, {1, 4}.__contains__) == [bus.Stored(4, 5, FRAME, 6)]
    assert "malformed" in caplog.text


@pytest.mark.parametrize("line", ["", "x", "abc 2 3 {}", " 1 2 3 {}", "1.0 2 3 {}"])
def test_a_line_without_a_room_id_is_malformed_whatever_is_served(line, caplog):
    assert bus.decode_stored(f"{line}\n4 5 6 {FRAME}", lambda room_id: False) == []
    assert "malformed" in caplog.text


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


@pytest.mark.parametrize(
    ("changes", "online", "by_reference"),
    [
        ([10], 10, False),  # frame_of(n): about 2n bytes
        ([10], 3000, False),
        ([10], 5000, True),  # an online list too big travels by reference
        ([3000, 3000], 1500, False),
        ([100] * 200, 10, False),
        ([100] * 200, 5000, True),
        ([100] * 3, None, False),  # statuses only: no online list
    ],
)
def test_presence_changes_round_trip_in_order_under_the_limit(changes, online, by_reference):
    frames = [frame_of(n) for n in changes]
    online_frame = None if online is None else frame_of(online)
    events = bus.presence_changes(5, frames, online_frame)
    payloads = [bus.encode_ephemeral(event) for event in events]
    assert all(len(p.encode()) <= bus.NOTIFY_PAYLOAD_MAX for p in payloads)
    decoded = [f for p in payloads for f in bus.decode_ephemeral(p).frames]
    tail = [] if online is None else [None if by_reference else online_frame]
    assert decoded == frames + tail
    assert len(events) == 1 or sum(len(p.encode()) for p in payloads) > bus.NOTIFY_PAYLOAD_MAX


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
