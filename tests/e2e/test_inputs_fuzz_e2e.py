"""Every frame type, fed any text, on a real gunicorn: never a dropped socket, never
a partial write, never a traceback.

Property-based (Hypothesis, profile "ci": fixed seed, bounded examples; `make
fuzz` runs many more): each example sends one frame of a type the protocol
knows (or not) with fields of any text (U+0000, lone surrogates as JSON
escapes, bidi and zero-width characters, astral characters) or of a wrong
type, then a probe that is always refused. The probe's answer proves the
socket is open and the frame was handled; when the frame itself was refused
(an error frame), the database is exactly as before.
"""

import json
import time

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import actions

from ..conftest import db_state, make_token, room_row, send_as
from ..hostile_text import SPECIAL, any_text, url_text
from ..servers import FRAME_TIMEOUT, Client

pytestmark = pytest.mark.e2e

TYPES = ["chat", "join", "leave", "typing", "read", "edit", "delete", "react"]
value = st.one_of(
    any_text,
    st.integers(-(2**70), 2**70),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.lists(any_text, max_size=2),
)
# One special character in otherwise ordinary text: the likeliest way to reach
# a query with it, so every field gets it often.
nasty = st.builds(lambda c, s: s + c, st.sampled_from(SPECIAL), st.sampled_from(["", "general"]))
field_value = st.one_of(nasty, nasty, nasty, any_text, value, st.integers(0, 4))
FIELDS = ["room", "content", "client_id", "seq", "after", "emoji", "watch"]
# A frame valid but for one to three fields (so most reach the handler behind
# the parser), of a known type most of the time.
frame_objects = st.builds(
    lambda kind, overrides: {
        "type": kind,
        "room": "general",
        "content": "hi",
        "seq": 1,
        "emoji": "👍",
        **overrides,
    },
    st.one_of(*[st.sampled_from(TYPES)] * 4, any_text, value),
    st.dictionaries(st.sampled_from(FIELDS) | any_text, field_value, min_size=1, max_size=3),
)
# A frame as it goes on the wire: a JSON object (lone surrogates travel as
# \udXXX escapes), a plain line of text, or JSON that is not an object.
frames = st.one_of(
    frame_objects.map(json.dumps),
    frame_objects.map(json.dumps),
    url_text.filter(lambda s: s.strip()),
    st.lists(value, max_size=3).map(json.dumps),
)


def open_socket(server, token: str, path: str):
    return Client.connect(server, path, token).ws


def answers_until_probe(ws, probe: str) -> list[dict]:
    """Frames received until the probe's refusal (the frame before it was handled)."""
    received = []
    deadline = time.monotonic() + FRAME_TIMEOUT
    while True:
        frame = orjson.loads(ws.recv(max(0.01, deadline - time.monotonic())))
        if frame.get("client_id") == probe and frame.get("code") == "unknown_type":
            return received
        received.append(frame)


@pytest.mark.parametrize("path", ["/ws", "/ws/general"])
def test_no_frame_drops_the_socket_or_writes_partially(start_server, db, eren, mikasa, path):
    server = start_server(RATE_LIMIT_PER_SEC="0")
    general = room_row(db)
    actions.join_room(db, general.id, eren.id)  # so a join changes nothing
    actions.create_room(db, "secret", mikasa.id, is_private=True)
    send_as(db, eren, "eren's message")
    send_as(db, mikasa, "mikasa's message")
    ws = open_socket(server, make_token(db, eren), path)
    if path == "/ws":
        ws.send('{"type":"join","room":"general"}')
    while orjson.loads(ws.recv(FRAME_TIMEOUT))["type"] != "ready":
        pass
    probes = iter(range(10**9))

    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(frame=frames)
    def check(frame):
        probe = f"probe-{next(probes)}"
        before = db_state(db)
        ws.send(frame)
        ws.send(json.dumps({"type": "probe", "room": "general", "client_id": probe}))
        answers = answers_until_probe(ws, probe)
        refused = [a for a in answers if a["type"] == "error"]
        if refused and not any(a["type"] == "ack" for a in answers):
            assert db_state(db) == before, refused

    check()
    ws.ping().wait(FRAME_TIMEOUT)  # still open after every example
    ws.close()
    assert "Traceback" not in server.log()
    assert " ERROR " not in server.log()


def test_unstorable_fields_of_every_frame_type_get_bad_frame(start_server, db, eren):
    """The reported kind by name: U+0000 and a lone surrogate in each field of each
    frame type are refused with bad_frame and the socket stays open."""
    server = start_server(RATE_LIMIT_PER_SEC="0")
    send_as(db, eren, "target")
    ws = open_socket(server, make_token(db, eren), "/ws")
    ws.send('{"type":"join","room":"general"}')
    while orjson.loads(ws.recv(FRAME_TIMEOUT))["type"] != "ready":
        pass
    base = {"room": "general", "content": "hi", "seq": 1, "emoji": "👍", "client_id": "c"}
    before = db_state(db)
    n = 0
    for kind in TYPES:
        for field in ["room", "content", "emoji", "client_id", "extra"]:
            for bad in ["x\x00y", "x\ud800y"]:
                n += 1
                frame = {**base, "type": kind, field: bad}
                ws.send(json.dumps(frame))
                probe = f"probe-{n}"
                ws.send(json.dumps({"type": "probe", "room": "general", "client_id": probe}))
                answers = answers_until_probe(ws, probe)
                assert [a["code"] for a in answers if a["type"] == "error"] == ["bad_frame"], (
                    kind,
                    field,
                    answers,
                )
    assert db_state(db) == before
    ws.ping().wait(FRAME_TIMEOUT)
    assert "Traceback" not in server.log()
