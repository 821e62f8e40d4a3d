"""Behind nginx (TRUSTED_PROXIES=1): the client's address, scheme and host come from
the proxy's X-Forwarded-* headers; with no trusted proxy they are ignored."""

import pytest

from ..conftest import AuthActions


def failures_by_address(db) -> set[str]:
    rows = db.execute("SELECT key FROM login_failures WHERE key LIKE 'ip:%'").fetchall()
    return {row["key"] for row in rows}


@pytest.mark.parametrize(
    "proxies, expected",
    [
        (0, {"ip:127.0.0.1"}),  # direct: a made-up header changes nothing
        (1, {"ip:203.0.113.9"}),  # behind one proxy: its view of the client
    ],
)
def test_the_client_address_is_believed_only_from_trusted_proxies(make_app, db, proxies, expected):
    client = make_app(TRUSTED_PROXIES=proxies).test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.9"
    AuthActions(client).login("nobody", "wrong guess")
    assert failures_by_address(db) == expected


UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


@pytest.mark.parametrize(
    "proxies, status",
    [
        (1, 401),  # the origin is accepted (and then login is asked for)
        (0, 403),  # without a trusted proxy, https://chat.example.com is a foreign origin
    ],
)
def test_the_origin_check_uses_the_scheme_and_host_the_browser_saw(make_app, proxies, status):
    client = make_app(TRUSTED_PROXIES=proxies).test_client()
    response = client.get(
        "/ws/general",
        headers={
            **UPGRADE,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "chat.example.com",
            "Origin": "https://chat.example.com",
        },
    )
    assert response.status_code == status
