"""Malformed or unsupported WebSocket handshakes, sent over raw sockets to the real server:
each is refused with 400 (426 and `Sec-WebSocket-Version: 13` for another version),
never a 500, and leaves no traceback in the log (docs/protocol.md, Opening)."""

import base64
import os

import psycopg
import pytest
from psycopg.rows import dict_row

from ..conftest import make_token, make_user
from ..raw_ws import RawClient, module_server, new_key, upgrade_head

pytestmark = pytest.mark.e2e

PATHS = ["/ws", "/ws/general"]


@pytest.fixture(scope="module")
def server(pg_server, template_db, tmp_path_factory):
    """One server for the module: every case but the last is a refusal, changing nothing."""
    log = tmp_path_factory.mktemp("handshake") / "gunicorn.log"
    with module_server(pg_server, template_db, log) as server:
        yield server


@pytest.fixture(scope="module")
def token(server):
    with psycopg.connect(server.database_url, autocommit=True, row_factory=dict_row) as db:
        return make_token(db, make_user(db, "eren"))


def valid(**replace) -> list[tuple[str, str]]:
    """A valid handshake's headers, with some replaced (a value of None drops one)."""
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": new_key(),
        "Sec-WebSocket-Version": "13",
    }
    headers.update({k.replace("_", "-"): v for k, v in replace.items()})
    return [(k, v) for k, v in headers.items() if v is not None]


def b64(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode()


MALFORMED = {
    "no key": (valid(Sec_WebSocket_Key=None), 400),
    "key not base64": (valid(Sec_WebSocket_Key="not a key at all!!!!!!=="), 400),
    "key of 15 bytes": (valid(Sec_WebSocket_Key=b64(15)), 400),
    "key of 17 bytes": (valid(Sec_WebSocket_Key=b64(17)), 400),
    "key empty": (valid(Sec_WebSocket_Key=""), 400),
    "two keys": (valid() + [("Sec-WebSocket-Key", new_key())], 400),
    "no Upgrade": (valid(Upgrade=None), 400),
    "Upgrade not websocket": (valid(Upgrade="h3"), 400),
    "Upgrade with another token": (valid(Upgrade="websocket, h3"), 400),
    "no Connection": (valid(Connection=None), 400),
    "Connection without upgrade": (valid(Connection="keep-alive"), 400),
    "no version": (valid(Sec_WebSocket_Version=None), 400),
    "version 8": (valid(Sec_WebSocket_Version="8"), 426),
    "version 14": (valid(Sec_WebSocket_Version="14"), 426),
    "version not a number": (valid(Sec_WebSocket_Version="thirteen"), 426),
    "a plain GET": ([], 400),
    # Headers wsproto decodes (Host as IDNA, the token lists as ASCII): undecodable,
    # they raised inside it (a 500 and a traceback).
    "Host an invalid IDNA label": (valid(Host="xn--a"), 400),
    "Host an empty punycode label": (valid(Host="xn--"), 400),
    "Host not ASCII": (valid(Host="é.example"), 400),
    "Connection not ASCII": (valid(Connection="Upgrade, é"), 400),
    "protocol not ASCII": (valid(Sec_WebSocket_Protocol="chat, é"), 400),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_handshake_is_refused_without_a_traceback(server, token, path, case):
    headers, status = MALFORMED[case]
    own_host = any(name == "Host" for name, _ in headers)
    client = RawClient(server, upgrade_head(server, path, token, headers, host=not own_host))
    try:
        assert client.status == status, client.answer
        if status == 426:
            assert client.header("Sec-WebSocket-Version") == "13"
        body = client.body()
        assert b"Traceback" not in body
        if case == "a plain GET":
            assert b"open it with a WebSocket client" in body
    finally:
        client.close()
    log = server.log()
    assert "Traceback" not in log and "Error handling request" not in log, log


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "method, status",
    # Routing refuses what a WebSocket route may not have (405, with Allow); a
    # HEAD or an OPTIONS reaches the handshake check. Neither is upgraded.
    [("POST", 405), ("PUT", 405), ("DELETE", 405), ("HEAD", 400), ("OPTIONS", 400)],
)
def test_an_upgrade_with_another_method_than_get_is_refused(server, token, path, method, status):
    client = RawClient(server, upgrade_head(server, path, token, valid(), method=method))
    try:
        assert client.status == status, client.answer
        if status == 405:
            assert client.header("Allow") is not None
    finally:
        client.close()
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("request_line", ["HTTP/1.0", "no Host"])
def test_an_upgrade_that_is_not_http_1_1_with_a_host_is_refused(server, token, path, request_line):
    if request_line == "no Host":
        head = upgrade_head(server, path, token, valid(), host=False)
    else:
        head = upgrade_head(server, path, token, valid(), http=request_line)
    client = RawClient(server, head)
    try:
        assert client.status == 400, client.answer
    finally:
        client.close()
    assert "Traceback" not in server.log()


@pytest.mark.parametrize("path", PATHS)
def test_a_valid_handshake_still_opens(server, token, path):
    client = RawClient.open(server, path, token)
    client.close()
