"""The frames' JSON Schemas (chat/protocol/frames.schema.yaml): a valid draft
2020-12 document whose references all resolve, served at
/api/frames.schema.json; every frame type the server builds is described, and
nothing else; docs/protocol.md's examples keep them; and the parser
(chat/protocol/inbound.py) and `#/$defs/ClientFrame` judge client frames alike.

What servers send in the other tests is checked against the same schemas as it
arrives (tests/contract.py): this module holds the schemas themselves.
"""

import json
import re
import time
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from chat.domain.entities import (
    Attachment,
    Message,
    Preview,
    Quote,
    Room,
    RoomListing,
    ThreadState,
    ThreadSummary,
)
from chat.domain.errors import ChatError
from chat.domain.kinds import (
    KIND_ACTION,
    KIND_ADD,
    KIND_DELETE,
    KIND_EDIT,
    KIND_FILES,
    KIND_JOIN,
    KIND_PREVIEW,
    KIND_PREVIEW_REMOVE,
    KIND_REACTION_ADD,
    KIND_REACTION_REMOVE,
    KIND_RENAME,
)
from chat.protocol import inbound, outbound
from chat.web import reference

from .. import contract
from ..conftest import ROOT

NOW = datetime(2026, 11, 25, 13, 0, 0, 123000, tzinfo=UTC)
KEY = "hYv3Kq0cQ1mJc3xW9dJd8w"
FILE = Attachment(KEY, "shot.png", 80211, "image/png", 1280, 800, thumb=True, state="ready")
PREVIEW = Preview("https://example.com/", "Example", None, "Example", None)
LISTING = RoomListing(Room(1, "general", last_seq=42), 2, 1, 40)
DIRECT = RoomListing(
    Room(2, "dm-1-2", is_private=True, is_direct=True, last_seq=3),
    0,
    0,
    3,
    "mikasa",
    True,
    "away",
    "Mikasa",
)
STATE = ThreadState("general", 42, True, 50, 57, 3, 1)


def message(**fields) -> Message:
    return Message(**{"seq": 42, "username": "eren", "content": "hi", "created_at": NOW, **fields})


# Every frame the server builds (chat/protocol/outbound.py), each optional field
# present in one of them at least.
BUILT = {
    "chat": outbound.chat_frame("general", 1, "eren", "hi", NOW, None, "<p>hi</p>"),
    "chat-every-field": outbound.encode(
        outbound.row_message(
            "general",
            message(
                html="<p>hi</p>",
                kind=KIND_ACTION,
                client_id="c-1",
                edited_at=NOW,
                reactions={"👍": ["mikasa"]},
                files=(FILE,),
                preview=PREVIEW,
                thread_seq=40,
                also_in_room=True,
                quote=Quote(39, "mikasa", "earlier"),
                replies=ThreadSummary(3, 57, NOW, ("bob", "dave")),
            ),
        )
    ),
    "chat-deleted": outbound.row_frame("general", message(html="", deleted_at=NOW)),
    "chat_edit": outbound.row_frame(
        "general", message(kind=KIND_EDIT, target_seq=41, html="<p>hi</p>", client_id="e-1")
    ),
    "chat_delete": outbound.row_frame("general", message(kind=KIND_DELETE, target_seq=41)),
    "reaction-on": outbound.row_frame(
        "general", message(kind=KIND_REACTION_ADD, target_seq=41, content="👍", thread_seq=40)
    ),
    "reaction-off": outbound.row_frame(
        "general", message(kind=KIND_REACTION_REMOVE, target_seq=41, content="👍")
    ),
    "chat_files": outbound.row_frame(
        "general", message(kind=KIND_FILES, target_seq=41, files=(FILE,))
    ),
    "link_preview": outbound.row_frame(
        "general", message(kind=KIND_PREVIEW, target_seq=41, preview=PREVIEW)
    ),
    "link_preview-removed": outbound.row_frame(
        "general", message(kind=KIND_PREVIEW_REMOVE, target_seq=41)
    ),
    "member-join": outbound.row_frame("general", message(kind=KIND_JOIN, content="")),
    "member-add": outbound.row_frame(
        "general", message(kind=KIND_ADD, content="bob", client_id="a-1")
    ),
    "room_renamed": outbound.row_frame(
        "pixels", message(kind=KIND_RENAME, content="design pixels")
    ),
    "ready": outbound.ready_frame("general", 0),
    "ack": outbound.ack_frame("c-1", 42, "general"),
    "ack-without-client_id": outbound.ack_frame(None, 42, "general"),
    "notice": outbound.notice_frame("general", "queued", "Asked stockbot", "c-1"),
    "error": outbound.error_frame(ChatError("not_found", "no such room"), "c-1", "nope"),
    "error-bare": outbound.error_frame(ChatError("bad_frame", "not JSON")),
    "not_members": outbound.not_members_frame("general", 42, ("dave",)),
    "user_joined": outbound.user_joined_frame("general", "mikasa"),
    "user_left": outbound.user_left_frame("general", "mikasa"),
    "online_users": outbound.online_users_frame("general", ["eren", "mikasa"]),
    "online_users-empty": outbound.online_users_frame("general", []),
    "presence": outbound.presence_frame("general", "dave", "away"),
    "typing": outbound.typing_frame("general", "eren"),
    "typing-in-a-thread": outbound.typing_frame("general", "eren", 42),
    "rooms": outbound.rooms_frame([LISTING, DIRECT]),
    "room_added": outbound.room_added_frame(LISTING),
    "room_updated": outbound.room_updated_frame(LISTING, "design"),
    "room_removed": outbound.room_removed_frame("general"),
    "read": outbound.read_frame(LISTING),
    "threads": outbound.threads_frame([STATE]),
    "thread_updated": outbound.thread_updated_frame(STATE),
    "profile": outbound.profile_frame("eren", "Eren Jäger"),
    "profile-removed": outbound.profile_frame("eren", None),
}


def _types(entry: str) -> set[str]:
    """The frame types `#/$defs/<entry>` admits, read from its `oneOf`."""
    schema = reference.frames_schema()
    spec = reference.description()
    found = set()
    for branch in schema["$defs"][entry]["oneOf"]:
        document, _, pointer = branch["$ref"].partition("#/")
        node = spec if document == "openapi.json" else schema
        for part in pointer.split("/"):
            node = node[part]
        if "type" not in node.get("properties", {}):  # the event frames: type below allOf
            node = {"properties": node["properties"]}
        found.add(node["properties"]["type"]["const"])
    return found


def test_the_schemas_are_a_valid_draft_2020_12_document():
    Draft202012Validator.check_schema(reference.frames_schema())


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves():
    resolver = contract._frame_validator("ServerFrame")._resolver
    refs = set(_refs(reference.frames_schema()))
    assert any(ref.startswith("openapi.json#") for ref in refs)
    for ref in refs:
        resolver.lookup(
            contract.FRAMES_URL + ref if ref.startswith("#") else contract.SERVED_AT + ref
        )


@pytest.mark.parametrize("name", BUILT)
def test_every_frame_the_server_builds_keeps_the_schemas(name):
    assert contract.frame_mismatch(orjson.loads(BUILT[name])) is None


def test_the_schemas_describe_the_frame_types_the_server_builds_and_no_others():
    assert _types("ServerFrame") == {orjson.loads(text)["type"] for text in BUILT.values()}


def test_the_client_frame_types_are_those_the_parser_reads():
    source = (ROOT / "chat" / "protocol" / "inbound.py").read_text()
    read = set(re.findall(r'kind == "(\w+)"', source))
    read |= {
        t
        for group in re.findall(r"kind in \(([^)]*)\)", source)
        for t in re.findall(r'"(\w+)"', group)
    }
    assert _types("ClientFrame") == read


BROKEN_SERVER_FRAMES = {
    "an-unknown-type": {"type": "shout", "room": "general"},
    "no-type": {"room": "general", "last_seq": 1},
    "not-an-object": ["ready"],
    "a-field-missing": {"type": "ready", "room": "general"},
    "an-extra-field": {"type": "ready", "room": "general", "last_seq": 1, "colour": "red"},
    "a-wrong-type": {"type": "ready", "room": "general", "last_seq": "1"},
    "a-bool-for-a-seq": {"type": "ack", "client_id": None, "seq": True, "room": "general"},
    "an-event-with-an-extra-field": {
        **orjson.loads(BUILT["chat_delete"]),
        "content": "",
    },
    "a-listing-missing-a-count": {
        "type": "room_added",
        "room": {k: v for k, v in outbound.listing_json(LISTING).items() if k != "unread"},
    },
    "an-error-code-no-socket-sends": {"type": "error", "code": "teapot", "message": "no"},
    "a-timestamp-without-milliseconds": {
        **orjson.loads(BUILT["chat"]),
        "ts": "2026-11-25T13:00:00Z",
    },
}


@pytest.mark.parametrize("name", BROKEN_SERVER_FRAMES)
def test_each_kind_of_broken_server_frame_is_refused(name):
    assert contract.frame_mismatch(BROKEN_SERVER_FRAMES[name]) is not None


def test_a_refusal_names_the_field_the_reason_and_the_schema():
    found = contract.frame_mismatch({"type": "ready", "room": "general", "last_seq": -1})
    assert found == (
        "$.last_seq: -1 is less than the minimum of 0"
        " (schema: #/$defs/Ready properties/last_seq/minimum)"
    )
    assert "is not a frame type" in contract.frame_mismatch({"type": "shout"})


def test_a_received_frame_that_breaks_them_fails_the_test_that_received_it():
    with pytest.raises(
        AssertionError, match=r"breaks the frame schemas[\s\S]*'last_seq' is a required"
    ):
        contract.check_server_frame('{"type":"ready","room":"general"}', "this test")
    assert "last_seq" in contract.mismatches.pop()  # meant: not a failure of this test
    with pytest.raises(AssertionError, match="not JSON"):
        contract.check_server_frame("hello", "this test")
    contract.mismatches.pop()
    contract.check_server_frame(BUILT["ready"], "this test")


def test_they_are_served_as_json_next_to_the_api_description(client):
    first = client.get("/api/frames.schema.json")
    assert first.status_code == 200 and first.mimetype == "application/json"
    assert first.get_json() == reference.frames_schema()
    again = client.get("/api/frames.schema.json", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


# --- docs/protocol.md -----------------------------------------------------------------

PROTOCOL = (ROOT / "docs" / "protocol.md").read_text()


def _code_blocks(text: str) -> list[tuple[str, str]]:
    """(the heading above, the text) of each fenced block."""
    blocks, heading = [], ""
    for part in re.split(r"(?m)^(```\w*\n[\s\S]*?^```)$", text):
        if part.startswith("```"):
            blocks.append((heading, part.split("\n", 1)[1].rsplit("```", 1)[0]))
        else:
            headings = re.findall(r"(?m)^#+ (.+)$", part)
            heading = headings[-1] if headings else heading
    return blocks


def _strings(value: object):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def _examples() -> list[tuple[str, dict]]:
    """Every frame written out whole in a code block (with a `type`), and its heading;
    examples with placeholders (`…`, `...`) are left out."""
    decoder = json.JSONDecoder()
    found = []
    for heading, block in _code_blocks(PROTOCOL):
        for start in re.finditer(r"(?m)^\s*(\{)", block):
            try:
                value, _ = decoder.raw_decode(block, start.start(1))
            except ValueError:
                continue
            placeholder = any(s in ("…", "...") for s in _strings(value))
            if isinstance(value, dict) and "type" in value and not placeholder:
                found.append((heading, value))
    return found


EXAMPLES = _examples()
CLIENT_SECTIONS = {"Client to server"}


def test_the_examples_are_found():
    assert len(EXAMPLES) >= 40
    assert sum(heading in CLIENT_SECTIONS for heading, _ in EXAMPLES) >= 10


@pytest.mark.parametrize(
    "heading, frame", EXAMPLES, ids=lambda v: v if isinstance(v, str) else v["type"]
)
def test_every_example_in_the_protocol_doc_keeps_the_schemas(heading, frame):
    as_server = contract.frame_mismatch(frame, "ServerFrame")
    as_client = contract.frame_mismatch(frame, "ClientFrame")
    if heading in CLIENT_SECTIONS:
        assert as_client is None, as_client
    assert as_server is None or as_client is None, f"{as_server}\n{as_client}"
    if as_client is None:  # a client frame: the server takes it
        inbound.parse(json.dumps(frame), 4000, plain_text=False)


def test_the_protocol_doc_links_to_the_schemas():
    assert "/api/frames.schema.json" in PROTOCOL
    assert "chat/protocol/frames.schema.yaml" in PROTOCOL


# --- client frames: the parser and the schema agree ---------------------------------

MAX = 20
OK = None
# (frame, the parser's verdict: OK or its code, whether the schema accepts it)
CLIENT_CASES = [
    ({"type": "chat", "room": "general", "content": "hi", "client_id": "c-1"}, OK, True),
    ({"type": "chat", "content": "hi"}, OK, True),
    ({"type": "chat", "room": None, "content": "hi", "client_id": None}, OK, True),
    ({"type": "chat", "content": "", "files": [KEY]}, OK, True),
    ({"type": "chat", "files": [KEY], "content": None}, OK, True),
    ({"type": "chat", "content": "re", "thread": 42, "also_in_room": True, "quote": 40}, OK, True),
    ({"type": "chat", "content": "re", "thread": None, "also_in_room": None}, OK, True),
    ({"type": "chat"}, "bad_frame", False),
    ({"type": "chat", "content": ""}, "bad_frame", False),
    ({"type": "chat", "content": " \u200b "}, "bad_frame", True),  # blank by Unicode
    ({"type": "chat", "content": "x" * (MAX + 1)}, "too_large", True),  # a setting
    ({"type": "chat", "content": 42}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "room": ""}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "room": "r" * 41}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "client_id": ""}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "client_id": "c" * 65}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "files": [KEY, KEY]}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "files": ["nope"]}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "files": [KEY] * 11}, "bad_frame", False),
    ({"type": "chat", "files": []}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "thread": 0}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "quote": "40"}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "also_in_room": True}, "bad_frame", False),
    ({"type": "chat", "content": "hi", "also_in_room": "yes", "thread": 1}, "bad_frame", False),
    ({"type": "join", "room": "general"}, OK, True),
    ({"type": "join", "room": "general", "after": 0, "watch": True}, OK, True),
    ({"type": "join", "room": "general", "after": None}, OK, True),
    ({"type": "join"}, "bad_frame", False),
    ({"type": "join", "room": "general", "after": -1}, "bad_frame", False),
    ({"type": "join", "room": "general", "after": 1.5}, "bad_frame", False),
    ({"type": "join", "room": "general", "after": True}, "bad_frame", False),
    ({"type": "join", "room": "general", "after": 2**62 + 1}, "bad_frame", False),
    ({"type": "join", "room": "general", "watch": None}, "bad_frame", False),
    ({"type": "leave", "room": "general"}, OK, True),
    ({"type": "leave", "room": ["general"]}, "bad_frame", False),
    ({"type": "typing", "room": "general", "thread": 42}, OK, True),
    ({"type": "typing"}, OK, True),
    ({"type": "typing", "room": "general", "thread": "42"}, "bad_frame", False),
    ({"type": "read", "room": "general", "seq": 42, "thread": 40}, OK, True),
    ({"type": "read", "room": "general"}, "bad_frame", False),
    ({"type": "read", "room": "general", "seq": None}, "bad_frame", False),
    ({"type": "follow", "room": "general", "thread": 42}, OK, True),
    ({"type": "follow", "room": "general", "thread": 42, "following": False}, OK, True),
    ({"type": "follow", "room": "general"}, "bad_frame", False),
    ({"type": "follow", "room": "general", "thread": 42, "following": 0}, "bad_frame", False),
    ({"type": "presence", "status": "away"}, OK, True),
    ({"type": "presence", "status": "offline"}, "bad_frame", False),
    ({"type": "presence"}, "bad_frame", False),
    ({"type": "edit", "room": "general", "seq": 42, "content": "new", "client_id": "e"}, OK, True),
    ({"type": "edit", "room": "general", "seq": 42}, "bad_frame", False),
    ({"type": "delete", "room": "general", "seq": 42}, OK, True),
    ({"type": "delete", "room": "general", "seq": "42"}, "bad_frame", False),
    ({"type": "react", "room": "general", "seq": 42, "emoji": "👍"}, OK, True),
    ({"type": "react", "room": "general", "seq": 42}, "bad_frame", False),
    ({"type": "react", "room": "general", "seq": 42, "emoji": "\ufe0f"}, "bad_frame", True),
    ({"type": "react", "room": "general", "seq": 42, "emoji": "x" * 257}, "bad_frame", False),
    ({"type": "shout", "room": "general"}, "unknown_type", False),
    ({"content": "no type"}, "bad_frame", False),
    ({"type": 7}, "bad_frame", False),
    # A field no frame has: the server ignores it, the schema refuses it (a typo).
    ({"type": "chat", "content": "hi", "thred": 42}, OK, False),
    ({"type": "presence", "status": "away", "room": "general"}, OK, False),
]


@pytest.mark.parametrize("frame, verdict, schema_accepts", CLIENT_CASES)
def test_the_parser_and_the_client_schema_judge_each_kind_of_frame(frame, verdict, schema_accepts):
    data = json.dumps(frame)
    try:
        inbound.parse(data, MAX)
        code = OK
    except ChatError as refused:
        code = refused.code
    assert code == verdict
    assert (contract.frame_mismatch(frame, "ClientFrame") is None) == schema_accepts
    assert contract.inbound_disagreement(data, MAX) is None


def test_a_disagreement_is_caught(monkeypatch):
    # A schema that accepted anything would disagree with every refusal...
    monkeypatch.setattr(contract, "frame_mismatch", lambda frame, entry="ServerFrame": None)
    found = contract.inbound_disagreement('{"type":"join"}', MAX)
    assert found is not None and "the schema accepts it" in found
    # ...and one that refused everything with every frame the parser takes.
    monkeypatch.setattr(contract, "frame_mismatch", lambda frame, entry="ServerFrame": "no")
    found = contract.inbound_disagreement('{"type":"leave","room":"general"}', MAX)
    assert found is not None and "the schema refuses it" in found


seqs = st.one_of(
    st.integers(-2, 2**62 + 2), st.none(), st.booleans(), st.floats(0, 9), st.text(max_size=3)
)
texts = st.one_of(
    st.text(max_size=MAX + 2), st.none(), st.integers(), st.lists(st.text(), max_size=2)
)
fields = {
    "type": st.sampled_from(sorted(contract.client_fields()) + ["shout"]),
    "room": st.one_of(st.sampled_from(["general", "", "r" * 41]), texts),
    "content": texts,
    "client_id": st.one_of(st.sampled_from(["c-1", "", "c" * 65]), texts),
    "files": st.one_of(st.none(), st.lists(st.sampled_from([KEY, "nope"]), max_size=3), texts),
    "seq": seqs,
    "after": seqs,
    "thread": seqs,
    "quote": seqs,
    "also_in_room": st.one_of(st.booleans(), st.none(), seqs),
    "watch": st.one_of(st.booleans(), st.none()),
    "following": st.one_of(st.booleans(), st.none(), seqs),
    "status": st.sampled_from(["online", "away", "offline", None]),
    "emoji": st.one_of(st.sampled_from(["👍", "\ufe0f", "a b", "❤"]), texts),
}
client_frames = st.fixed_dictionaries({"type": fields.pop("type")}, optional=fields)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(frame=client_frames, plain_text=st.booleans())
def test_the_parser_and_the_client_schema_agree_on_any_frame(frame, plain_text):
    """Whatever the schema accepts the parser takes, but for what only the server can
    tell; whatever the parser takes the schema accepts, but for unknown fields."""
    found = contract.inbound_disagreement(json.dumps(frame), MAX, plain_text)
    assert found is None, found


# --- the checks are installed ------------------------------------------------------


def test_what_the_tests_receive_from_a_real_server_is_checked(start_server, db, eren, monkeypatch):
    """A websockets client, the hand-written one and the e2e requests sessions each
    run what they receive through the check (planted here to refuse everything)."""
    from ..conftest import make_token
    from ..raw_ws import RawClient
    from ..servers import FRAME_TIMEOUT, Client, http

    server = start_server()
    token = make_token(db, eren)
    client = Client.open(server, "general", token)
    raw = RawClient.open(server, "/ws/general", token)
    monkeypatch.setattr(contract, "frame_mismatch", lambda frame, entry="ServerFrame": "planted")
    monkeypatch.setattr(contract, "mismatch", lambda response: "planted")
    try:
        with pytest.raises(AssertionError, match="a websockets client received[\\s\\S]*planted"):
            client.recv()
        with pytest.raises(AssertionError, match="hand-written client[\\s\\S]*planted"):
            raw.frame(time.monotonic() + FRAME_TIMEOUT)
        with pytest.raises(AssertionError, match="GET /api/rooms -> 200 breaks[\\s\\S]*planted"):
            http().get(f"{server.url}/api/rooms", headers={"Authorization": f"Bearer {token}"})
    finally:
        client.close()
        raw.close()
    del contract.mismatches[-3:]  # planted: not failures of this test
