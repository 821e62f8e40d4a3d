"""chat.protocol: parsing what clients send (inbound), encoding what the server sends
(outbound) (DESIGN §5)."""

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from chat.domain import kinds
from chat.domain.errors import ChatError
from chat.domain.render import render
from chat.protocol import inbound, outbound
from chat.protocol.inbound import ChatIn

from .. import contract

MAX = 20  # a small limit keeps the too-long cases readable


@pytest.mark.parametrize(
    "data, expected",
    [
        ("hello", ChatIn(room=None, content="hello", client_id=None)),
        # websocat sends a line: its line ending is not part of the message.
        ("hello\n", ChatIn(room=None, content="hello", client_id=None)),
        ("hello\r\n", ChatIn(room=None, content="hello", client_id=None)),
        ("  spaced  ", ChatIn(room=None, content="  spaced  ", client_id=None)),
        # JSON that is not an object is just text someone typed.
        ("[1,2]", ChatIn(room=None, content="[1,2]", client_id=None)),
        ('"x"', ChatIn(room=None, content='"x"', client_id=None)),
        ("42", ChatIn(room=None, content="42", client_id=None)),
        ("{not json", ChatIn(room=None, content="{not json", client_id=None)),
        (
            '{"type":"chat","room":"general","content":"hi","client_id":"c-17"}',
            ChatIn(room="general", content="hi", client_id="c-17"),
        ),
        (
            '  {"type":"chat","content":"no room"}',
            ChatIn(room=None, content="no room", client_id=None),
        ),
        (
            '{"type":"chat","room":"general","content":"' + "x" * MAX + '"}',
            ChatIn(room="general", content="x" * MAX, client_id=None),
        ),
        (
            '{"type":"chat","content":"id at the limit","client_id":"' + "c" * 64 + '"}',
            ChatIn(room=None, content="id at the limit", client_id="c" * 64),
        ),
    ],
)
def test_parse_accepts(data, expected):
    assert inbound.parse(data, MAX) == expected
    assert contract.inbound_disagreement(data, MAX) is None  # the frame schemas agree


@pytest.mark.parametrize(
    "data, code",
    [
        (b"hello", "bad_frame"),
        (b'{"type":"chat","content":"hi"}', "bad_frame"),
        ("", "bad_frame"),
        ("   ", "bad_frame"),
        ("\n", "bad_frame"),
        ("x" * (MAX + 1), "too_large"),
        ("nul\x00inside", "bad_frame"),
        ("lone \ud800 surrogate", "bad_frame"),  # not encodable as UTF-8
        ('{"type":"shout","content":"hi"}', "unknown_type"),
        ('{"content":"no type"}', "bad_frame"),
        ('{"type":7,"content":"hi"}', "bad_frame"),
        ('{"type":"join"}', "bad_frame"),
        ('{"type":"join","room":""}', "bad_frame"),
        ('{"type":"join","room":"general","after":-1}', "bad_frame"),
        ('{"type":"join","room":"general","after":"5"}', "bad_frame"),
        ('{"type":"join","room":"general","after":1.5}', "bad_frame"),
        ('{"type":"join","room":"general","after":true}', "bad_frame"),
        ('{"type":"join","room":"general","after":9999999999999999999999}', "bad_frame"),
        ('{"type":"leave","room":["general"]}', "bad_frame"),
        ('{"type":"read","room":"general"}', "bad_frame"),
        ('{"type":"read","room":"general","seq":-3}', "bad_frame"),
        ('{"type":"read","room":"general","seq":null}', "bad_frame"),
        ('{"type":"typing","room":' + '"' + "r" * 41 + '"}', "bad_frame"),
        ('{"type":"typing","room":"general","thread":"42"}', "bad_frame"),
        ('{"type":"typing","room":"general","thread":-1}', "bad_frame"),
        ('{"type":"chat","content":""}', "bad_frame"),
        ('{"type":"chat","content":"   "}', "bad_frame"),
        ('{"type":"chat"}', "bad_frame"),
        ('{"type":"chat","content":42}', "bad_frame"),
        ('{"type":"chat","content":"' + "x" * (MAX + 1) + '"}', "too_large"),
        ('{"type":"chat","room":7,"content":"hi"}', "bad_frame"),
        ('{"type":"chat","content":"hi","client_id":"' + "c" * 65 + '"}', "bad_frame"),
        ('{"type":"chat","content":"hi","client_id":""}', "bad_frame"),
        ('{"type":"chat","content":"hi","client_id":17}', "bad_frame"),
    ],
)
def test_parse_refuses(data, code):
    """The same on a one-room socket (/ws/<room>) and on /ws, where JSON is required."""
    with pytest.raises(ChatError) as caught:
        inbound.parse(data, MAX)
    assert caught.value.code == code
    assert caught.value.message
    if isinstance(data, str):
        assert contract.inbound_disagreement(data, MAX) is None  # the frame schemas agree


@pytest.mark.parametrize(
    "data",
    [
        '{"type":"chat","content":"","client_id":"c-1"}',
        '{"type":"chat","content":"' + "x" * (MAX + 1) + '","client_id":"c-1"}',
        '{"type":"dance","client_id":"c-1"}',
        '{"type":"chat","room":5,"content":"hi","client_id":"c-1"}',
    ],
)
def test_a_refused_frame_echoes_its_client_id(data):
    # The sender matches the error frame to its pending message by client_id.
    with pytest.raises(ChatError):
        inbound.parse(data, MAX)
    assert inbound.echoed(data)[0] == "c-1"


@pytest.mark.parametrize(
    "moment, expected",
    [
        (datetime(2026, 11, 25, 13, 0, 0, 123456, tzinfo=UTC), "2026-11-25T13:00:00.123Z"),
        (
            datetime(2026, 11, 25, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1))),
            "2026-11-25T13:00:00.123Z",
        ),
        (
            datetime(2026, 7, 1, 9, 30, 5, 0, tzinfo=ZoneInfo("America/New_York")),
            "2026-07-01T13:30:05.000Z",
        ),
        # Crossing midnight and the year when converted to UTC.
        (
            datetime(2026, 1, 1, 0, 30, 0, 999999, tzinfo=timezone(timedelta(hours=2))),
            "2025-12-31T22:30:00.999Z",
        ),
        (
            datetime(2026, 3, 4, 5, 6, 7, 1000, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
            "2026-03-04T10:36:07.001Z",
        ),
    ],
)
def test_timestamp_is_utc_with_milliseconds(moment, expected):
    assert outbound.timestamp(moment) == expected


def test_chat_frame_round_trips_with_the_design_fields():
    created = datetime(2026, 11, 25, 14, 0, 0, 123000, tzinfo=timezone(timedelta(hours=1)))
    text = 'hi <b>"there"</b> ü'
    frame = outbound.chat_frame("general", 42, "eren", text, created, "c-17", render(text))
    assert isinstance(frame, str)
    assert json.loads(frame) == {
        "type": "chat",
        "room": "general",
        "seq": 42,
        "username": "eren",
        "content": 'hi <b>"there"</b> ü',
        # Raw HTML in a message is text: escaped, never markup.
        "html": '<p>hi &lt;b&gt;"there"&lt;/b&gt; ü</p>',
        "ts": "2026-11-25T13:00:00.123Z",
        "client_id": "c-17",
    }


def test_chat_frame_without_client_id_leaves_it_out():
    created = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    decoded = json.loads(
        outbound.chat_frame("general", 1, "eren", "hi", created, None, "<p>hi</p>")
    )
    assert "client_id" not in decoded
    assert decoded["seq"] == 1


def test_an_action_frame_says_its_kind_and_a_chat_frame_does_not():
    created = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
    html = "<p>waves</p>"
    action = json.loads(outbound.chat_frame("general", 1, "eren", "waves", created, None, html,
                                            kinds.KIND_ACTION))  # fmt: skip
    assert action["kind"] == "action" and action["content"] == "waves"
    chat = outbound.chat_frame("general", 1, "eren", "waves", created, None, html, "chat")
    assert chat == outbound.chat_frame("general", 1, "eren", "waves", created, None, html)
    assert "kind" not in json.loads(chat)  # old clients see exactly what they always saw


def test_notice_frame():
    assert json.loads(outbound.notice_frame("general", "help", "Commands", "c-1")) == {
        "type": "notice",
        "room": "general",
        "code": "help",
        "content": "Commands",
        "client_id": "c-1",
    }
    assert "client_id" not in json.loads(outbound.notice_frame("general", "help", "Commands"))


@pytest.mark.parametrize(
    "frame, expected",
    [
        (outbound.ready_frame("general", 42), {"type": "ready", "room": "general", "last_seq": 42}),
        (
            outbound.ack_frame("c-17", 42, "general"),
            {"type": "ack", "client_id": "c-17", "seq": 42, "room": "general"},
        ),
        (
            outbound.error_frame(ChatError("rate_limited", "slow down"), "c-17"),
            {"type": "error", "code": "rate_limited", "message": "slow down", "client_id": "c-17"},
        ),
        (
            outbound.error_frame(ChatError("bad_frame", "no")),
            {"type": "error", "code": "bad_frame", "message": "no"},
        ),
    ],
)
def test_server_frames_decode_to_design_shapes(frame, expected):
    assert json.loads(frame) == expected


@pytest.mark.parametrize(
    "data, expected",
    [
        ('{"type":"join","room":"general"}', inbound.JoinIn("general", None)),
        ('{"type":"join","room":"general","after":0}', inbound.JoinIn("general", 0)),
        ('{"type":"join","room":"general","after":41}', inbound.JoinIn("general", 41)),
        ('{"type":"leave","room":"general"}', inbound.LeaveIn("general")),
        ('{"type":"typing","room":"general"}', inbound.TypingIn("general")),
        ('{"type":"typing","room":"general","thread":42}', inbound.TypingIn("general", 42)),
        ('{"type":"read","room":"general","seq":42}', inbound.ReadIn("general", 42)),
        (
            '{"type":"chat","room":"general","content":"hi","client_id":"c"}',
            inbound.ChatIn("general", "hi", "c"),
        ),
    ],
)
def test_parse_multiplexed_frames(data, expected):
    assert inbound.parse(data, MAX, plain_text=False) == expected
    assert contract.inbound_disagreement(data, MAX, plain_text=False) is None


@pytest.mark.parametrize(
    "data",
    [
        "hello",
        "[1, 2]",
        '"just a string"',
        "{not json",
        '{"type":"chat","content":"no room"}',
        '{"type":"typing"}',
        '{"type":"read","seq":3}',
    ],
)
def test_multiplexed_socket_needs_json_objects_naming_a_room(data):
    with pytest.raises(ChatError) as caught:
        inbound.parse(data, MAX, plain_text=False)
    assert caught.value.code == "bad_frame"
    assert contract.inbound_disagreement(data, MAX, plain_text=False) is None


def test_one_room_socket_lets_frames_leave_the_room_out():
    assert inbound.parse('{"type":"typing"}', MAX) == inbound.TypingIn(None)
    assert inbound.parse('{"type":"read","seq":3}', MAX) == inbound.ReadIn(None, 3)


MALFORMED_FRAMES = {
    "lone-surrogate": '{"type":"chat","room":"general","content":"half \\ud83d","client_id":"c-9"}',
    "surrogate-in-key": '{"type":"read","room":"general","seq":0,"\\ud834":1,"client_id":"c-9"}',
    "trailing-comma": '{"type":"chat","room":"general","content":"hi","client_id":"c-9",}',
    "nan": '{"type":"chat","room":"general","content":NaN,"client_id":"c-9"}',
    "huge-number": '{"type":"delete","room":"general","seq":1e999,"client_id":"c-9"}',
    "too-deep": '{"type":"chat","client_id":"c-9","x":' + "[" * 2000 + "]" * 2000 + "}",
}


@pytest.mark.parametrize("plain_text", [True, False], ids=["/ws/<room>", "/ws"])
@pytest.mark.parametrize("data", MALFORMED_FRAMES.values(), ids=MALFORMED_FRAMES)
def test_a_malformed_json_frame_is_refused_never_posted_as_text(data, plain_text):
    """A line that opens like a JSON object is a frame on both endpoints: broken, it
    is bad_frame (with its client_id when it can be read), never a chat message."""
    with pytest.raises(ChatError) as refused:
        inbound.parse(data, 4000, plain_text=plain_text)
    assert refused.value.code == "bad_frame"
    if "\\ud8" in data:  # a lone surrogate: readable leniently, matched to its send
        assert "Unicode" in refused.value.message
        assert inbound.echoed(data) == ("c-9", "general")


@pytest.mark.parametrize("line", ["{hello}", "{ not json", "[1, 2]", "{x: 1}"])
def test_plain_lines_with_braces_are_still_chat_on_a_room_socket(line):
    frame = inbound.parse(line, 4000, plain_text=True)
    assert isinstance(frame, inbound.ChatIn) and frame.content == line
