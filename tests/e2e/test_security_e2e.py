"""Hostile upgrades and oversized input against the real server (docs/security.md)."""

import socket
import time

import pytest
from websockets.exceptions import InvalidStatus

from ..conftest import make_token, make_user
from ..servers import Client, form_login, http

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(start_server):
    # One worker, so the per-worker socket cap is the whole server's; short
    # deadlines for request heads and bodies, so the slowloris tests are quick.
    return start_server(
        workers=1, MAX_SOCKETS_PER_USER="2", KEEPALIVE="1", REQUEST_BODY_TIMEOUT="1"
    )


@pytest.fixture
def token(db):
    return make_token(db, make_user(db, "eren"))


def refused(server, token, **headers) -> int:
    with pytest.raises(InvalidStatus) as caught:
        Client.open(server, "general", token, **headers)
    return caught.value.response.status_code


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://127.0.0.1:{port}.evil.com",
        "https://127.0.0.1:{port}",  # the wrong scheme
        "http://127.0.0.1:{other}",  # another port is another origin
        "http://localhost:{port}",  # another host name too
    ],
)
def test_cross_site_websocket_hijacking_is_refused(server, token, origin):
    origin = origin.format(port=server.port, other=server.port + 1)
    assert refused(server, token, Origin=origin) == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer chat_forged"},
        {"Authorization": "Basic ZXJlbjpodW50ZXIy"},
        # A session cookie signed with some other key.
        {"Cookie": "session=eyJfdXNlcl9pZCI6IjEifQ.ZZZZZZ.forgedsignatureforgedsignature"},
    ],
)
def test_upgrades_without_valid_credentials_get_no_101(server, headers):
    assert refused(server, None, **headers) == 401


def test_a_user_may_hold_only_so_many_sockets(server, token, db):
    held = [Client.open(server, "general", token) for _ in range(2)]
    for client in held:
        client.until("ready")
    assert refused(server, token) == 429
    other = Client.open(server, "general", make_token(db, make_user(db, "levi")))
    other.until("ready")  # the cap is per user
    held[0].close()
    # The slot is free again once the server has seen the close.
    for _ in range(50):
        try:
            Client.open(server, "general", token).until("ready")
            break
        except InvalidStatus:
            other.send({"type": "chat", "content": "tick", "client_id": None})
            other.until("ack")  # a round trip: the server had time to see the close
    else:
        pytest.fail("the closed socket never freed its slot")


def test_http_bodies_are_capped(server, token):
    api = http()
    response = api.post(
        f"{server.url}/api/rooms/general/messages",
        data=b"x" * (300 * 1024),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_session_and_remember_cookies_are_httponly_and_samesite(server, db):
    make_user(db, "levi", "correct horse")
    _, response = form_login(server, "levi", "correct horse", remember=True)
    cookies = response.headers.get("Set-Cookie", "")
    set_cookies = response.raw.headers.getlist("Set-Cookie")
    names = {c.split("=", 1)[0] for c in set_cookies}
    assert {"session", "remember_token"} <= names, cookies
    for cookie in set_cookies:
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie


def test_a_fragmented_flood_is_closed_with_1009(server, token):
    """64 KiB is the limit for a whole message, however many fragments carry it."""
    from websockets.exceptions import ConnectionClosed

    client = Client.open(server, "general", token)
    client.until("ready")
    fragments = ("x" * 1024 for _ in range(100))  # 100 KiB in 1 KiB continuation frames
    with pytest.raises(ConnectionClosed) as closed:
        client.ws.send(fragments)
        client.until("ack")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_the_echo_endpoint_exists_only_for_conformance_runs(server, token):
    """/ws/_echo (make autobahn) is off unless WS_ECHO=1: here it is no room at all."""
    with pytest.raises(InvalidStatus) as caught:
        Client.open(server, "_echo", token)
    assert caught.value.response.status_code == 404


def trickle(server, head: bytes, drip: bytes, seconds: float) -> tuple[bytes, float]:
    """Send `head`, then one byte of `drip` every 0.2 s for up to `seconds`,
    reading all along; return what the server answered and when it hung up."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=0.2) as sock:
        sock.sendall(head)
        answer = b""
        for byte in drip[: int(seconds / 0.2)]:
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:  # reset: the server hung up
                    break
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
        return answer, time.monotonic() - started


def test_a_request_head_sent_slowly_is_cut_at_the_keepalive_deadline(server):
    """Slowloris: headers trickled a byte at a time hold nothing past KEEPALIVE (1 s here)."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    answer, held = trickle(server, head, b"X-Slow: " + b"a" * 200, 20)
    assert held < 6, f"a trickled request head was held {held:.1f} s"
    assert not answer.startswith(b"HTTP/1.1 200"), answer


def test_a_request_body_sent_slowly_gets_408_and_the_worker_keeps_serving(server):
    """A slow POST is refused when REQUEST_BODY_TIMEOUT (1 s here) runs out; meanwhile
    the one worker answers everyone else."""
    from concurrent.futures import ThreadPoolExecutor

    head = (
        b"POST /login HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n"
    )
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(trickle, server, head, b"username=eren&password=" + b"p" * 400, 20)
        assert http().get(f"{server.url}/healthz", timeout=5).status_code == 200
        answer, held = slow.result()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert held < 8, f"a trickled request body was held {held:.1f} s"
    assert http().get(f"{server.url}/healthz", timeout=5).status_code == 200
