"""What a send says about threads (chat/domain/threads.py, validate_reply_to):
every JSON value in `thread`, `quote` and `also_in_room` is either taken exactly
or refused with `bad_frame`, on the socket and the API alike."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.domain.errors import ChatError
from chat.domain.threads import NO_REPLY, QUOTE_CHARS, ReplyTo
from chat.domain.validate import SEQ_MAX, validate_reply_to
from chat.protocol import inbound
from chat.storage import queries

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
)
json_values = st.one_of(json_scalars, st.lists(json_scalars, max_size=2))
seqs = st.integers(1, SEQ_MAX)


def is_seq(value) -> bool:
    return type(value) is int and 1 <= value <= SEQ_MAX


@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "thread": st.one_of(seqs, json_values),
            "quote": st.one_of(seqs, json_values),
            "also_in_room": st.one_of(st.booleans(), json_values),
        },
    )
)
def test_any_value_is_taken_exactly_or_refused_as_a_bad_frame(fields):
    thread, quote = fields.get("thread"), fields.get("quote")
    also = fields.get("also_in_room")
    also = False if also is None else also
    valid = (
        (thread is None or is_seq(thread))
        and (quote is None or is_seq(quote))
        and type(also) is bool
        and not (also and thread is None)
    )
    try:
        reply = validate_reply_to(fields)
    except ChatError as err:
        assert err.code == "bad_frame"
        assert not valid, fields
        return
    assert valid, fields
    assert reply == ReplyTo(thread, also, quote)
    assert bool(reply) == (thread is not None or quote is not None)


@pytest.mark.parametrize(
    "frame, reply",
    [
        ({"content": "hi"}, NO_REPLY),
        ({"content": "hi", "thread": 4}, ReplyTo(4)),
        ({"content": "hi", "thread": 4, "also_in_room": True}, ReplyTo(4, True)),
        ({"content": "hi", "quote": 2}, ReplyTo(quote=2)),
        ({"content": "hi", "thread": 4, "quote": 5}, ReplyTo(4, False, 5)),
    ],
)
def test_a_chat_frame_carries_its_reply(frame, reply):
    parsed = inbound.parse(
        inbound.orjson.dumps({"type": "chat", "room": "general", **frame}).decode(), 100, False
    )
    assert parsed.reply == reply


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "chat", "room": "general", "content": "hi", "thread": 0},
        {"type": "chat", "room": "general", "content": "hi", "thread": True},
        {"type": "chat", "room": "general", "content": "hi", "also_in_room": True},
        {"type": "chat", "room": "general", "content": "hi", "quote": "4"},
        {"type": "read", "room": "general", "seq": 3, "thread": -1},
        {"type": "follow", "room": "general"},
        {"type": "follow", "room": "general", "thread": 3, "following": "yes"},
    ],
)
def test_bad_thread_fields_are_refused(frame):
    with pytest.raises(ChatError) as refused:
        inbound.parse(inbound.orjson.dumps(frame).decode(), 100, False)
    assert refused.value.code == "bad_frame"


def test_follow_and_read_frames():
    follow = inbound.parse('{"type":"follow","room":"general","thread":3}', 100, False)
    assert follow == inbound.FollowIn("general", 3, True)
    read = inbound.parse('{"type":"read","room":"general","thread":3,"seq":9}', 100, False)
    assert read == inbound.ReadIn("general", 9, 3)


def test_the_quote_snippet_in_sql_is_quote_chars_long():
    assert f"left(q.content, {QUOTE_CHARS})" in queries.SQL_QUOTE_OF_M
