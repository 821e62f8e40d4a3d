"""Every operation of the JSON API, fuzzed by schemathesis against a real gunicorn.

The description the server serves (GET /api/openapi.json, chat/web/openapi.yaml)
is loaded, and schemathesis generates requests for each of its operations:
its examples, its coverage cases (boundaries, missing and wrong-typed fields,
undeclared methods, no credentials) and property-based ones (Hypothesis). Each
answer must keep the description: no 5xx, a status the operation lists, the
content type, body schema and headers described for it; a request the
description calls invalid must be refused (4xx), an undeclared method must be
405 with `Allow`, and an operation behind a login must refuse no credentials.

Not asserted: schemathesis's "positive data acceptance" (a request the schema
allows must succeed). The API refuses schema-valid requests for reasons a
schema cannot say, on purpose and documented (a taken room name, an unknown
slash command, a `thread` that is no message of the room: 400 with a code);
every such answer is still checked against its documented status and body.
Nor are query parameters the description does not name generated as invalid
input: they are ignored, as on the web (a cache-buster `?_=1` must not break
a call), and the description does not forbid them.

The fuzzer is a real person (eren, a Bearer token) in a few rooms with
messages, a thread, a quote, a reaction and files, made through the API
before the run; half of the property-based requests have their room names,
seqs, usernames, file and token ids drawn from what exists, so the operations
find something and reach their logic instead of a 404. No operation is
excluded; the two kinds that could lock the fuzzer out are undone as they
happen:

- DELETE /api/tokens/{id} may revoke the very token the fuzzer sends. The
  token comes from an auth provider (schemathesis's `schema.auth()`), and after
  each such request a revoked one is replaced by a new token made as `flask
  create-token` makes it, so the next request is authenticated again.
- Leaving a room, removing yourself and archiving a room would leave the
  fuzzer with nothing to find: after each request of those operations it is
  made a member of the seeded rooms again and they are unarchived (a rename
  keeps the old name working, so nothing is needed for that).

Rate limiting is off for this server (RATE_LIMIT_PER_SEC=0): thousands of
writes in seconds are the point here, and the limits have their own tests.

In `make test` (Hypothesis profile "ci", tests/conftest.py) the seed is fixed
and each operation gets a few property-based examples, so every run sends the
same requests and the module stays well under a minute; `make api-fuzz`
(profile "long") runs many more with a fresh random seed.

schemathesis 4.32.5's pytest integration still writes `node._nodeid`, which
pytest 9 dropped (it keeps `_id`): the schema fixture sets the attribute for
it; nothing of pytest reads it.
"""

import os
from dataclasses import dataclass, field

import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks

from chat import actions
from chat.domain.entities import Room, User

from ..conftest import make_token, make_user
from ..servers import Gunicorn, http

pytestmark = pytest.mark.e2e

# Property-based examples per operation, by Hypothesis profile (the coverage
# and example phases add their own fixed cases).
EXAMPLES = {"ci": 10, "long": 500}[os.environ.get("HYPOTHESIS_PROFILE", "ci")]

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
    checks.unsupported_method,
    checks.allow_header_conformance,
    checks.ignored_auth,
    checks.missing_required_header,
]

SQL_TOKEN_ALIVE = "SELECT 1 FROM api_tokens WHERE token_hash = %s"
SQL_TOKEN_IDS = "SELECT id FROM api_tokens WHERE user_id = %s ORDER BY id"
# The seeded rooms the fuzzer has lost: left, removed from, or archived.
SQL_LOST_ROOMS = """
    SELECT r.id, r.name, r.is_private, r.is_direct, r.created_by, r.last_seq, r.topic,
           r.archived_at, m.user_id IS NOT NULL AS member
    FROM rooms r
    LEFT JOIN room_members m ON m.room_id = r.id AND m.user_id = %s
    WHERE r.id = ANY(%s) AND (m.user_id IS NULL OR r.archived_at IS NOT NULL)
"""
SQL_ROOM_IDS = "SELECT id FROM rooms WHERE name = ANY(%s)"
SQL_LAST_SEQ = "SELECT max(last_seq) AS seq FROM rooms WHERE id = ANY(%s)"


@dataclass
class World:
    """What the fuzzer (eren) has: its token, rooms with messages, files."""

    db: psycopg.Connection
    eren: User
    token: str
    rooms: list[str]
    room_ids: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    users: tuple[str, ...] = ("eren", "mikasa", "armin")
    messages: list[int] = field(default_factory=list)
    last_seq: int = 0
    server: Gunicorn | None = None
    session: requests.Session = field(default_factory=http)

    def after(self, case) -> None:
        """Undo what the request may have taken from the fuzzer: its token
        (DELETE /api/tokens/{id}), its rooms (a leave, removing itself) or
        their use (archiving)."""
        operation = case.operation.definition.raw.get("operationId")
        if operation == "deleteToken":
            self.renew_token()
        elif operation in ("leaveRoom", "removeMember", "updateRoom"):
            self.restore_rooms()

    def renew_token(self) -> None:
        """A new token if the last was revoked, as `flask create-token` makes one
        (the oldest other token revoked first when it has as many as allowed)."""
        hashed = actions.hash_token(self.token)
        if self.db.execute(SQL_TOKEN_ALIVE, (hashed,)).fetchone() is None:
            ids = self.db.execute(SQL_TOKEN_IDS, (self.eren.id,)).fetchall()
            if len(ids) >= actions.MAX_TOKENS_PER_USER:
                actions.revoke_token(self.db, self.eren.id, ids[0]["id"])
            self.token = actions.create_token(self.db, self.eren.id, "fuzz")

    def restore_rooms(self) -> None:
        """The fuzzer a member of every seeded room again, none of them archived."""
        for row in self.db.execute(SQL_LOST_ROOMS, (self.eren.id, self.room_ids)).fetchall():
            if not row["member"]:
                actions.join_room(self.db, row["id"], self.eren.id)
            if row["archived_at"] is not None:
                actions.update_room(self.db, Room.from_row(row), self.eren, archived=False)


def seed(db, server) -> World:
    """eren (the fuzzer), mikasa and armin; #general, eren's #plans, mikasa's
    private #secret and their direct room, with messages, a thread, a quote-reply,
    a reaction, an edit and files, all made through the API."""
    eren, mikasa = make_user(db, "eren"), make_user(db, "mikasa")
    make_user(db, "armin")
    session = http()
    base = server.url + "/api"
    as_eren = {"Authorization": f"Bearer {make_token(db, eren)}"}
    as_mikasa = {"Authorization": f"Bearer {make_token(db, mikasa)}"}

    def call(method, path, who, expect=(200, 201), **kwargs):
        answer = session.request(method, base + path, headers=who, timeout=10, **kwargs)
        assert answer.status_code in expect, (method, path, answer.text)
        return answer.json() if answer.content else None

    for who in (as_eren, as_mikasa):
        call("POST", "/rooms/general/join", who)
    call("POST", "/rooms", as_eren, json={"name": "plans", "topic": "Release plans"})
    call("POST", "/rooms/plans/join", as_mikasa)
    call("POST", "/rooms", as_mikasa, json={"name": "secret", "private": True})
    call("POST", "/rooms/secret/members", as_mikasa, json={"username": "eren"})
    direct = call("POST", "/direct", as_eren, json={"username": "mikasa"})["room"]
    rooms = ["general", "plans", "secret", direct]

    def send(room, who, **body):
        return call("POST", f"/rooms/{room}/messages", who, json=body)["seq"]

    sent = call("POST", "/files", as_eren, params={"name": "notes.txt"}, data=b"release notes")
    unsent = call("POST", "/files", as_eren, params={"name": "draft.txt"}, data=b"a draft")
    root = send("general", as_eren, content="Ship the release on friday?", client_id="r-1")
    send("general", as_mikasa, content="@eren yes, friday", thread=root)
    send("general", as_eren, content="done", thread=root, also_in_room=True)
    mine = send("general", as_mikasa, content="agreed", quote=root)
    notes = send("general", as_eren, content="the notes", files=[sent["file"]["id"]])
    call("POST", f"/rooms/general/messages/{root}/reactions", as_mikasa, json={"emoji": "👍"})
    call("PATCH", f"/rooms/general/messages/{mine}", as_mikasa, json={"content": "agreed!"})
    call("PUT", f"/rooms/general/threads/{root}/follow", as_eren)
    for room in rooms[1:]:
        send(room, as_eren, content=f"hello {room}")
        send(room, as_mikasa, content="@eren hi")
    world = World(db, eren, make_token(db, eren), rooms)
    world.room_ids = [row["id"] for row in db.execute(SQL_ROOM_IDS, (rooms,))]
    world.files = [sent["file"]["id"], unsent["file"]["id"]]
    world.messages = [root, notes, mine]
    world.last_seq = db.execute(SQL_LAST_SEQ, (world.room_ids,)).fetchone()["seq"]
    return world


@pytest.fixture
def api_world(db, start_server) -> World:
    server = start_server(RATE_LIMIT_PER_SEC="0")
    world = seed(db, server)
    world.server = server
    return world


def known_values(world: World, case) -> dict:
    """Strategies for the parameters that name something, by location and name:
    what exists, or nearly (a seq one past the end, a user who is in no room).
    Fixed when the world is seeded: Hypothesis needs the same strategy for the
    same choices (a token id made during the run is in the range already)."""
    seqs = st.one_of(st.sampled_from(world.messages), st.integers(1, world.last_seq + 1))
    if case.operation.path.startswith("/api/tokens"):
        ids = st.integers(1, actions.MAX_TOKENS_PER_USER * 2)
    else:
        ids = st.sampled_from(world.files)
    users = st.sampled_from(world.users)
    return {
        "path": {"name": st.sampled_from(world.rooms), "seq": seqs, "username": users, "id": ids},
        "query": {
            "room": st.sampled_from(world.rooms),
            "author": users,
            "q": st.sampled_from(["release", "friday -ship", '"the notes"']),
            "prefix": st.sampled_from(["er", "mi", "ar"]),
        },
        "body": {
            "thread": seqs,
            "quote": seqs,
            "username": users,
            "emoji": st.sampled_from(["👍", "🎉"]),
            "files": st.lists(st.sampled_from(world.files), max_size=2, unique=True),
        },
    }


def steer(world: World):
    """A flatmap_case hook: half the cases with what they name drawn from what
    exists (only the fields the case already has, so required and optional
    stay as generated)."""

    def flatmap_case(context, case):
        known = known_values(world, case)

        def replaced(container: dict, location: str):
            draws = {k: known[location][k] for k in container if k in known[location]}
            return st.fixed_dictionaries(draws).map(lambda drawn: {**container, **drawn})

        def build(path, query, body):
            case.path_parameters, case.query = path, query
            if isinstance(case.body, dict):
                case.body = body
            return case

        body = case.body if isinstance(case.body, dict) else {}
        found = st.builds(
            build,
            replaced(case.path_parameters or {}, "path"),
            replaced(case.query or {}, "query"),
            replaced(body, "body"),
        )
        return st.one_of(st.just(case), found)

    return flatmap_case


@pytest.fixture
def api_schema(api_world, request):
    request.node._nodeid = request.node.nodeid  # for schemathesis 4.32.5 under pytest 9
    raw = api_world.session.get(api_world.server.url + "/api/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(raw)
    schema.config.update(base_url=api_world.server.url)
    schema.config.generation.update(allow_extra_parameters=False)

    class LiveToken:
        """The fuzzer's token, whatever it revoked (schemathesis's AuthProvider)."""

        def get(self, case, context):
            return api_world.token

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    schema.auth(refresh_interval=None)(LiveToken)
    schema.hook(steer(api_world))
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
# The generation shares two cores with the server it is testing: its speed is
# not what this test is about.
@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
def test_every_operation_keeps_the_description(case, api_world):
    try:
        case.call_and_validate(session=api_world.session, checks=CHECKS)
    finally:
        api_world.after(case)
