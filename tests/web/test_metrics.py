"""GET /metrics: who may read it, and that the counters move (in one process;
tests/e2e/test_e2e.py::test_metrics_add_up_every_worker checks gunicorn's workers)."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import make_token, make_user


def scrape(client, **kwargs) -> dict[str, float]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if not sample.labels
    }


def test_metrics_from_this_machine(client):
    values = scrape(client)
    for name in (
        "chat_connections_open",
        "chat_messages_sent_total",
        "chat_deliveries_total",
        "chat_slow_consumer_disconnects_total",
        "chat_catchup_rows_total",
        "chat_writer_batches_total",
        "chat_listen_reconnects_total",
        "chat_notify_delivery_seconds_count",
    ):
        assert name in values


@pytest.mark.parametrize("address", ["203.0.113.7", "10.0.0.2", "::ffff:198.51.100.1"])
def test_metrics_are_hidden_from_other_machines(client, address):
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 404


def test_metrics_token(make_app):
    client = make_app(METRICS_TOKEN="s3cret-scrape").test_client()
    assert client.get("/metrics").status_code == 404  # even from here: the token rules
    bad = {"Authorization": "Bearer nope"}
    assert client.get("/metrics", headers=bad).status_code == 404
    good = {"Authorization": "Bearer s3cret-scrape"}
    elsewhere = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get("/metrics", headers=good, environ_base=elsewhere).status_code == 200


def test_a_stored_message_counts_once(client, db):
    headers = {"Authorization": f"Bearer {make_token(db, make_user(db))}"}
    before = scrape(client)["chat_messages_sent_total"]
    body = {"content": "hello", "client_id": "once"}
    assert client.post("/api/rooms/general/messages", json=body, headers=headers).status_code == 201
    assert client.post("/api/rooms/general/messages", json=body, headers=headers).status_code == 200
    assert scrape(client)["chat_messages_sent_total"] == before + 1
