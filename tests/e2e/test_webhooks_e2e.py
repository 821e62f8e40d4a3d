"""Incoming webhooks on the real server: a tool's POST to the URL reaches the
people reading the room live, as the webhook's bot, and a revoked URL stops
posting on every worker at once."""

import pytest

from ..servers import Client, http

pytestmark = pytest.mark.e2e


def test_a_tools_post_reaches_the_room_live_as_its_bot_until_revoked(server, people):
    session = http()
    bearer = {"Authorization": f"Bearer {people['eren']['token']}"}
    assert session.post(f"{server.url}/api/rooms", json={"name": "ops"}, headers=bearer).ok
    added = session.post(
        f"{server.url}/api/rooms/ops/members", json={"username": "mikasa"}, headers=bearer
    )
    assert added.status_code == 201
    made = session.post(
        f"{server.url}/api/rooms/ops/webhooks", json={"name": "Alertmanager"}, headers=bearer
    ).json()
    assert made["url"].startswith(f"{server.url}/api/hooks/hook_")
    reader = Client.open(server, "ops", people["mikasa"]["token"])
    try:
        reader.until("ready")
        alert = {"attachments": [{"title": "HighCPU", "text": "*db-1* is busy"}]}
        posted = session.post(made["url"], json=alert, timeout=10)
        assert posted.status_code == 200
        _, chat = reader.until("chat")
        assert (chat["seq"], chat["username"]) == (posted.json()["seq"], made["username"])
        assert chat["html"] == "<p><strong>HighCPU</strong><br>\n<strong>db-1</strong> is busy</p>"

        gone = session.delete(f"{server.url}/api/rooms/ops/webhooks/{made['id']}", headers=bearer)
        assert gone.status_code == 204
        # Two workers, one database: whichever worker takes the next POST refuses it.
        for _ in range(4):
            refused = session.post(made["url"], data="after", timeout=10)
            assert refused.status_code == 404
        _, removed = reader.until("member")
        assert (removed["event"], removed["member"]) == ("remove", made["username"])
    finally:
        reader.close()
