"""Outgoing webhooks delivered by the worker (chat/bots/work.py, delivery.py) to a
real local HTTPS receiver: the signature checks out, a 500 is retried with the
same delivery id, the reply is posted back once however often the job runs,
4xx gives up at once, and the outbound guard refuses private destinations,
also behind a redirect."""

import orjson
import pytest

from chat import actions
from chat.bots.work import Worker
from chat.domain import outgoing
from chat.domain.threads import ReplyTo

from ..certificates import self_signed_certificate
from ..conftest import room_row, send_as
from .receivers import Answer, Receiver, Redirect


@pytest.fixture
def receiver(tmp_path, monkeypatch):
    """An HTTPS receiver on 127.0.0.1 whose certificate the worker trusts: the
    test's own trust store (SSL_CERT_FILE, read by ssl.create_default_context)."""
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    receiver = Receiver(certificate=(cert, key))
    yield receiver
    receiver.close()


@pytest.fixture
def make_worker(make_app, receiver):
    def make(**overrides):
        settings = {
            "BOT_RETRY_DELAY": 0.0,
            "BOT_MAX_ATTEMPTS": 3,
            "BOT_POLL_INTERVAL": 60.0,
            "BOT_VISIBILITY_TIMEOUT": 30.0,
            "UPLOAD_MAX_BYTES": 1024 * 1024,
            "IMAGE_MAX_PIXELS": 1_000_000,
            "LINK_PREVIEWS": False,
            "UPLOAD_UNSENT_HOURS": 24,
            "EGRESS_ALLOW": receiver.allow,
            **overrides,
        }
        app = make_app(**settings)
        return Worker(app.config, app.extensions["db_pool"])

    return make


@pytest.fixture
def hook(db, eren, receiver):
    actions.join(db, room_row(db), eren)
    return actions.create_webhook(
        db, room_row(db), eren, "deploybot", receiver.url("/hook"), ("!deploy",)
    )


def job_row(db) -> dict:
    return db.execute(
        "SELECT id, state, attempts, last_error FROM work_jobs WHERE kind = 'webhook'"
    ).fetchone()


def bot_messages(db) -> list[dict]:
    return db.execute(
        "SELECT m.seq, m.content, m.thread_seq, m.client_id FROM messages m"
        " JOIN users u ON u.id = m.user_id WHERE u.username = 'deploybot' AND m.kind = 'chat'"
        " ORDER BY m.seq"
    ).fetchall()


def status_of(db, hook) -> str:
    row = db.execute(
        "SELECT last_status, last_delivery_at FROM outgoing_webhooks WHERE id = %s", (hook.id,)
    ).fetchone()
    assert row["last_delivery_at"] is not None
    return row["last_status"]


def test_a_delivery_is_signed_and_its_body_says_what_was_sent(
    db, eren, hook, receiver, make_worker
):
    seq = send_as(db, eren, "!deploy web to staging")
    assert make_worker().drain() == 1
    (post,) = receiver.posts
    headers = post.headers
    assert post.path == "/hook" and headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "chat-webhook/1"
    assert outgoing.verify(
        hook.secret,
        headers["X-Chat-Timestamp"],
        headers["X-Chat-Signature"],
        post.body,
        now=int(headers["X-Chat-Timestamp"]),
    )
    assert not outgoing.verify(
        hook.secret,
        headers["X-Chat-Timestamp"],
        headers["X-Chat-Signature"],
        post.body.replace(b"staging", b"prod"),
        now=int(headers["X-Chat-Timestamp"]),
    )
    job = job_row(db)
    assert headers["X-Chat-Delivery"] == str(job["id"])
    assert headers["X-Chat-Webhook"] == str(hook.id)
    body = orjson.loads(post.body)
    assert body["room"] == body["channel_name"] == "general"
    assert (body["seq"], body["thread_seq"], body["webhook_id"]) == (seq, None, hook.id)
    assert body["user"] == {"id": eren.id, "username": "eren", "display_name": None}
    assert (body["user_name"], body["user_id"]) == ("eren", eren.id)
    assert (body["text"], body["trigger_word"]) == ("!deploy web to staging", "!deploy")
    assert body["timestamp"].endswith("Z") and body["delivery_id"] == str(job["id"])
    assert job["state"] == "done" and status_of(db, hook) == "200"
    assert bot_messages(db) == []  # the answer had no text


def test_a_500_is_retried_with_the_same_delivery_id_then_the_reply_is_posted(
    db, eren, hook, receiver, make_worker
):
    receiver.answers = [Answer(500), Answer(200, {"text": "shipped"})]
    send_as(db, eren, "!deploy web")
    make_worker().drain()
    first, second = receiver.posts
    assert first.headers["X-Chat-Delivery"] == second.headers["X-Chat-Delivery"]
    assert first.body == second.body
    job = job_row(db)
    assert (job["state"], job["attempts"]) == ("done", 2)
    assert "500" in job["last_error"]  # what the failed attempt said stays readable
    (reply,) = bot_messages(db)
    assert reply["content"] == "shipped" and reply["thread_seq"] is None
    assert reply["client_id"] == actions.reply_client_id(job["id"])
    assert status_of(db, hook) == "200"


def test_a_job_run_twice_posts_its_reply_once(db, eren, hook, receiver, make_worker):
    receiver.answers = [Answer(200, {"text": "on it"})]
    root = send_as(db, eren, "plans")
    actions.send_message(db, room_row(db), eren, "!deploy it", None, reply=ReplyTo(thread=root))
    worker = make_worker()
    job = actions.claim_work(db, ["webhook"], 30.0)
    worker.handle(job)
    worker.handle(job)  # a worker whose claim ran out, doing it again
    assert len(receiver.posts) == 2  # the receiver drops the repeat by X-Chat-Delivery
    assert len({p.headers["X-Chat-Delivery"] for p in receiver.posts}) == 1
    (reply,) = bot_messages(db)
    assert (reply["content"], reply["thread_seq"]) == ("on it", root)  # in the thread


def test_a_mention_is_delivered_too_and_bots_replies_trigger_nothing(
    db, eren, hook, receiver, make_worker
):
    receiver.answers = [Answer(200, {"text": "!deploy @deploybot again"})]
    send_as(db, eren, "what now, @deploybot?")
    make_worker().drain()
    assert orjson.loads(receiver.posts[0].body)["trigger_word"] is None
    assert len(bot_messages(db)) == 1 and len(receiver.posts) == 1
    assert make_worker().drain() == 0  # the bot's reply queued nothing


@pytest.mark.parametrize("status", [400, 404, 410])
def test_a_client_error_gives_up_at_once(db, eren, hook, receiver, make_worker, status):
    receiver.answers = [Answer(status)]
    send_as(db, eren, "!deploy web")
    make_worker().drain()
    job = job_row(db)
    assert (job["state"], job["attempts"], len(receiver.posts)) == ("failed", 1, 1)
    assert str(status) in job["last_error"] and status_of(db, hook).startswith("failed: ")


def test_a_receiver_that_keeps_failing_is_given_up_after_the_attempts(
    db, eren, hook, receiver, make_worker
):
    receiver.answers = [Answer(503)]
    send_as(db, eren, "!deploy web")
    make_worker(BOT_MAX_ATTEMPTS=3).drain()
    job = job_row(db)
    assert (job["state"], job["attempts"], len(receiver.posts)) == ("failed", 3, 3)
    assert "503" in job["last_error"]
    assert status_of(db, hook) == "failed: the answer was HTTP 503 Service Unavailable"


def test_a_webhook_on_a_loopback_address_is_refused_by_the_guard(
    db, eren, hook, receiver, make_worker
):
    """The same receiver without the test's allowance: 127.0.0.1 is loopback."""
    send_as(db, eren, "!deploy web")
    make_worker(EGRESS_ALLOW=()).drain()
    job = job_row(db)
    assert (job["state"], job["attempts"]) == ("failed", 1) and receiver.posts == []
    assert status_of(db, hook) == "failed: the destination's address is loopback"


@pytest.mark.parametrize(
    "location, why",
    [
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.0.0.7/internal", "private"),
        ("https://localhost:{port}/hook", "loopback"),
    ],
)
def test_a_redirect_to_a_private_address_is_refused(
    db, eren, hook, receiver, make_worker, location, why
):
    receiver.answers = [Redirect(location, 307)]
    send_as(db, eren, "!deploy web")
    make_worker().drain()
    job = job_row(db)
    assert job["state"] == "failed" and len(receiver.posts) == 1
    assert why in status_of(db, hook)


def test_a_deleted_message_or_webhook_is_not_delivered(db, eren, hook, receiver, make_worker):
    room = room_row(db)
    seq = send_as(db, eren, "!deploy oops")
    actions.delete_message(db, room, eren, seq)
    make_worker().drain()
    send_as(db, eren, "!deploy again")
    actions.delete_webhook(db, room, eren, hook.id)
    make_worker().drain()
    assert receiver.posts == []
    states = db.execute(
        "SELECT state, last_error FROM work_jobs WHERE kind = 'webhook' ORDER BY id"
    ).fetchall()
    assert [(s["state"], s["last_error"]) for s in states] == [
        ("done", "the message was deleted"),
        ("done", "the webhook was deleted"),
    ]
