"""Every HTTP route, form and JSON body, fed text PostgreSQL cannot store and text it can.

Property-based (Hypothesis): whatever a client puts in a URL path part, a
query parameter, a form field or a JSON string — U+0000, lone surrogates
(as JSON escapes), right-to-left and zero-width characters, astral
characters, wrong types — the answer is never a 5xx, and a refused request
(4xx) changes nothing in the database. The example count is bounded and the
seed fixed in `make test` (profile "ci", tests/conftest.py); `make fuzz`
runs many more examples. The same property for WebSocket frames is in
tests/e2e/test_inputs_fuzz_e2e.py, and the reported cases by name below.
"""

import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing.converters import AnyConverter, IntegerConverter

from chat import actions

from ..conftest import csrf_token, db_state, make_token, room_row, send_as
from ..hostile_text import any_text, in_url, url_text

# Field names the views read, so the text reaches their logic and not only the check.
FIELDS = [
    "username",
    "password",
    "confirm",
    "remember",
    "name",
    "private",
    "content",
    "client_id",
    "emoji",
    "q",
    "before",
    "after",
    "limit",
    "cursor",
    "room",
    "author",
    "next",
    "seq",
    "watch",
    "type",
    "display_name",
    "current_password",
    "new_password",
    "confirm_password",
    "remove",
]
json_value = st.one_of(
    any_text,
    st.integers(-(2**70), 2**70),
    st.none(),
    st.booleans(),
    st.floats(),
    st.lists(any_text, max_size=3),
    st.dictionaries(any_text, any_text, max_size=3),
)
fields = st.dictionaries(st.sampled_from(FIELDS) | url_text, url_text, max_size=6)
json_fields = st.dictionaries(st.sampled_from(FIELDS) | any_text, json_value, max_size=6)


# Routes not fuzzed here: logging out would end the test's session (its own
# tests are in test_auth.py); the socket routes are fuzzed frame by frame in
# tests/e2e/test_inputs_fuzz_e2e.py (here their upgrade checks run without an upgrade).
SKIPPED = {"auth.logout", "static"}


def routes(app) -> list[tuple[str, str, object]]:
    return sorted(
        (method, rule.endpoint, rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in SKIPPED
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


def path_value(converter):
    """A path argument: mostly one that exists (so the view's own logic runs),
    else anything."""
    if isinstance(converter, IntegerConverter):
        return st.one_of(st.integers(0, 5), st.integers(0, 5), st.integers(0, 2**70))
    if isinstance(converter, AnyConverter):
        return st.sampled_from(sorted(converter.items))
    rooms = st.sampled_from(["general", "general", "secret"])
    return st.one_of(rooms, rooms, url_text.filter(lambda s: "/" not in s and s))


@pytest.fixture
def fuzzed_app(app, db, eren, mikasa):
    """eren logged in (a session for pages, a token for the API) in #general, with
    messages of both to edit and react to."""
    app.config.update(RATE_LIMIT_PER_SEC=0)  # the limits have their own tests
    actions.join_room(db, room_row(db).id, eren.id)
    actions.create_room(db, "secret", mikasa.id, is_private=True)
    for text in ("first", "@eren second"):
        send_as(db, eren, text)
        send_as(db, mikasa, text)
    pages = app.test_client()
    token = csrf_token(pages.get("/login").text)
    pages.post(
        "/login", data={"csrf_token": token, "username": "eren", "password": "correct horse"}
    )
    return pages, app.test_client(), {"Authorization": f"Bearer {make_token(db, eren)}"}


def request(fuzzed_app, method, rule, path_args, data, as_json):
    pages, api, bearer = fuzzed_app
    path = _build(rule, path_args)
    if rule.rule.startswith("/api/"):
        client, headers = api, bearer
    else:
        client, headers = pages, {}
    if method == "GET":
        fields = data.items() if isinstance(data, dict) else []
        pairs = [(in_url(k), in_url(v)) for k, v in fields if isinstance(v, str)]
        return client.get(path + "?" + urlencode(pairs), headers=headers)
    if as_json:
        body = json.dumps(data)  # ensure_ascii: a lone surrogate travels as \\udXXX
        return client.open(
            path, method=method, data=body, headers=headers, content_type="application/json"
        )
    form = {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
    form["csrf_token"] = csrf_token(pages.get("/rooms").text)
    return client.open(path, method=method, data=form, headers=headers)


def _build(rule, path_args: dict) -> str:
    """The rule's path with each argument percent-encoded (werkzeug's builder
    would refuse values its converters do not match, and those are the point)."""
    path = rule.rule
    for name, value in path_args.items():
        converter = rule._converters[name]
        for pattern in (f"<{name}>", f"<int:{name}>", f"<path:{name}>"):
            path = path.replace(pattern, quote(str(value), safe=""))
        if isinstance(converter, AnyConverter):
            path = path.replace(f"<any(jsonl, csv):{name}>", str(value))
    return path


def _route_ids() -> list[str]:
    """Every route the fuzz covers, as 'METHOD endpoint' (one test each)."""
    from chat.factory import create_app

    app = create_app({"MIGRATE_ON_START": False, "DATABASE_URL": "postgresql:///unused"})
    return [f"{method} {endpoint}" for method, endpoint, _ in routes(app)]


# Per route, a share of the profile's examples: 40 in `make test`, 750 in `make fuzz`.
PER_ROUTE = max(40, settings.default.max_examples // 4)


@pytest.mark.parametrize("route", _route_ids())
@pytest.mark.parametrize("as_json", [False, True], ids=["form-or-query", "json"])
def test_no_input_gives_a_5xx_or_a_partial_write(fuzzed_app, app, db, as_json, route):
    """The property for one route: any path arguments, query, form or JSON body."""
    method, endpoint, rule = next(r for r in routes(app) if f"{r[0]} {r[1]}" == route)

    @settings(
        max_examples=PER_ROUTE,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(data=st.data())
    def check(data):
        path_args = {
            name: data.draw(path_value(conv), label=name) for name, conv in rule._converters.items()
        }
        # A JSON body is most often an object, but any JSON value can arrive.
        bodies = st.one_of(json_fields, json_fields, json_value) if as_json else fields
        payload = data.draw(bodies, label="payload")
        before = db_state(db)
        response = request(fuzzed_app, method, rule, path_args, payload, as_json)
        assert response.status_code < 500, (endpoint, response.get_data(as_text=True)[:300])
        if response.status_code >= 400:
            assert db_state(db) == before, endpoint

    check()


# --- the reported cases, and their family, by name --------------------------------

UNSTORABLE = {"nul": "eren\x00", "lone-surrogate": "eren\ud800"}


ENTRY_POINTS = ["login-form", "register-form", "room-form", "path", "query", "api-query"]
# A URL or a form cannot carry a lone surrogate (UTF-8 cannot encode it): JSON can.
CASES = [(where, "nul") for where in [*ENTRY_POINTS, "api-json"]] + [("api-json", "lone-surrogate")]


@pytest.mark.parametrize("where, kind", CASES, ids=[f"{w}-{k}" for w, k in CASES])
def test_unstorable_text_is_refused_at_every_entry_point(fuzzed_app, db, where, kind):
    pages, api, bearer = fuzzed_app
    text = UNSTORABLE[kind]
    before = db_state(db)
    body = json.dumps({"content": text, "client_id": "c-1"})
    token = csrf_token(pages.get("/rooms").text)
    answer = {
        "login-form": lambda: api.post(
            "/login",
            data={
                "username": text,
                "password": "x" * 10,
                "csrf_token": csrf_token(api.get("/login").text),
            },
        ),
        "register-form": lambda: api.post(
            "/register",
            data={
                "username": text,
                "password": "x" * 10,
                "confirm": "x" * 10,
                "csrf_token": csrf_token(api.get("/register").text),
            },
        ),
        "room-form": lambda: pages.post("/rooms", data={"name": text, "csrf_token": token}),
        "path": lambda: pages.get("/rooms/" + quote(text) + "/history"),
        "query": lambda: pages.get("/search?q=" + quote(text)),
        "api-json": lambda: api.post(
            "/api/rooms/general/messages",
            data=body,
            headers=bearer,
            content_type="application/json",
        ),
        "api-query": lambda: api.get(
            "/api/rooms/general/messages?before=" + quote(text), headers=bearer
        ),
    }[where]()

    assert answer.status_code == 400
    assert db_state(db) == before
    message = answer.get_data(as_text=True)
    assert "U+0000" in message or "Unicode" in message or "whole number" in message


def test_deeply_nested_json_is_a_clear_400(fuzzed_app):
    _, api, bearer = fuzzed_app
    body = '{"content": ' + "[" * 100_000 + "]" * 100_000 + "}"
    answer = api.post(
        "/api/rooms/general/messages", data=body, headers=bearer, content_type="application/json"
    )
    assert answer.status_code == 400


@pytest.mark.parametrize(
    "argv",
    [
        ["create-token", "eren\x00"],
        ["create-token", "eren\udcff"],
        ["disable-user", "\x00"],
        ["set-password", "\udcff"],
        ["create-user", "a\x00"],
    ],
    ids=["token-nul", "token-bad-bytes", "disable-nul", "password-bad-bytes", "create-nul"],
)
def test_the_cli_refuses_unstorable_arguments(runner, db, eren, argv):
    before = db_state(db)
    result = runner.invoke(args=argv, input="correct horse battery\n")
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Error" in result.output
    assert db_state(db) == before


def test_the_cli_refuses_a_password_that_is_not_utf8(runner, db, eren):
    before = db_state(db)
    result = runner.invoke(args=["set-password", "eren"], input=b"\xff\xfe not utf-8\n")
    assert result.exit_code != 0 and "UTF-8" in result.output
    assert db_state(db) == before


# A value for every path argument of the /api/ routes, by name (a route with an
# argument missing here fails the tests that build every route's path).
PATH_ARGS = {
    "name": "general",
    "seq": 1,
    "fmt": "jsonl",
    "username": "eren",
    "token_id": 1,
    "webhook_id": 1,
    "key": "A" * 22,
    "token": "hook_" + "A" * 43,
}


@pytest.mark.parametrize("body", ['["x"]', '"text"', "5", "true", "[]"])
def test_a_json_body_that_is_not_an_object_is_a_400_on_every_api_route(fuzzed_app, app, db, body):
    _, api, bearer = fuzzed_app
    # POST /api/files takes the file's own bytes as its body, whatever they are.
    writes = [
        (m, rule)
        for m, _, rule in routes(app)
        if rule.rule.startswith("/api/") and (m, rule.rule) != ("POST", "/api/files")
    ]
    for method, rule in writes:
        path = _build(rule, {name: PATH_ARGS[name] for name in rule.arguments})
        before = db_state(db)
        answer = api.open(
            path, method=method, data=body, headers=bearer, content_type="application/json"
        )
        assert answer.status_code == 400, (method, path, answer.get_data(as_text=True)[:200])
        assert answer.json["error"]["code"] == "bad_request"
        assert db_state(db) == before


@pytest.mark.parametrize(
    "where, encoded",
    [
        ("query", "hi%ED%A0%80"),  # a surrogate's UTF-8 form
        ("query", "%ff%fe"),
        ("query", "caf%E9"),  # Latin-1
        ("form", "hi%ED%A0%80"),
        ("form", "%C3"),  # a truncated sequence
    ],
)
def test_percent_encoded_bytes_that_are_not_utf8_are_refused(fuzzed_app, db, where, encoded):
    """Not stored or searched for as the escapes themselves: a 400 that says why."""
    pages, api, bearer = fuzzed_app
    before = db_state(db)
    if where == "query":
        answer = api.get(f"/api/search?q={encoded}", headers=bearer)
    else:
        token = csrf_token(pages.get("/rooms/general").text)
        answer = pages.post(
            "/rooms/general/messages",
            data=f"csrf_token={token}&content={encoded}",
            content_type="application/x-www-form-urlencoded",
        )
    assert answer.status_code == 400
    assert "UTF-8" in answer.get_data(as_text=True)
    assert db_state(db) == before


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_a_compressed_body_is_a_415_not_misread_text(fuzzed_app, db, encoding):
    import gzip

    _, api, bearer = fuzzed_app
    before = db_state(db)
    answer = api.post(
        "/api/rooms/general/messages",
        data=gzip.compress(b'{"content": "hi"}'),
        headers={**bearer, "Content-Encoding": encoding},
        content_type="application/json",
    )
    assert answer.status_code == 415
    assert answer.json["error"]["code"] == "unsupported"
    assert db_state(db) == before


# Bodies each request check refuses on a route that takes them: not an object,
# text PostgreSQL cannot store, compressed.
CHECKED_BODIES = [
    ('"text"', {}),
    ('{"content": "nul \\u0000"}', {}),
    ('{"content": "hi"}', {"Content-Encoding": "gzip"}),
]


@pytest.mark.parametrize("body, headers", CHECKED_BODIES, ids=["not-an-object", "nul", "gzip"])
def test_a_request_no_route_takes_is_404_or_405_whatever_its_body(
    fuzzed_app, app, db, body, headers
):
    """Routing answers first: a method a route does not take is 405 with `Allow`,
    a path nothing serves 404, before any check of a body no view would read
    (found by schemathesis, tests/e2e/test_api_fuzz_e2e.py: TRACE /api/files
    with a JSON string body was a 400)."""
    _, api, bearer = fuzzed_app
    before = db_state(db)
    taken: dict[str, set] = {}  # the methods of each path, over all its rules
    rules = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            taken.setdefault(rule.rule, set()).update(rule.methods)
            rules[rule.rule] = rule
    for pattern, rule in rules.items():
        path = _build(rule, {name: PATH_ARGS[name] for name in rule.arguments})
        for method in sorted({"PUT", "PATCH", "DELETE", "TRACE"} - taken[pattern]):
            answer = api.open(
                path,
                method=method,
                data=body,
                headers={**bearer, **headers},
                content_type="application/json",
            )
            assert answer.status_code == 405, (method, path, answer.get_data(as_text=True))
            assert answer.json["error"]["code"] == "method_not_allowed"
            assert "Allow" in answer.headers
    for path in ("/api/no-such-thing", "/no/such/page"):
        answer = api.post(
            path, data=body, headers={**bearer, **headers}, content_type="application/json"
        )
        assert answer.status_code == 404, (path, answer.get_data(as_text=True))
    assert db_state(db) == before
