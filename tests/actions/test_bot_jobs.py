"""The job queue's SQL (chat/actions/jobs.py) on the real PostgreSQL: claims, SKIP LOCKED,
the visibility timeout, retries, and answers that happen exactly once."""

import psycopg
import pytest
from psycopg.rows import dict_row

from chat import actions
from chat.domain.errors import ChatError
from chat.storage import queries

from ..conftest import make_user, room_row, run_concurrently


@pytest.fixture
def people(db):
    return {name: make_user(db, name) for name in ("eren", "mikasa")}


@pytest.fixture
def bot_user(db):
    return actions.ensure_bot_user(db, "stockbot")


def enqueue(db, user, argument="AAPL.US", client_id=None, bot="stock", room="general"):
    return actions.enqueue_job(db, room_row(db, room), user, bot, argument, client_id).job_id


def job(db, job_id: int) -> dict:
    return db.execute("SELECT * FROM bot_jobs WHERE id = %s", (job_id,)).fetchone()


def test_claims_take_the_oldest_due_job_of_the_bot(db, people):
    first = enqueue(db, people["eren"], "AAPL.US")
    enqueue(db, people["eren"], "weather", bot="weather")
    second = enqueue(db, people["mikasa"], "MSFT.US")
    claimed = actions.claim_job(db, "stock", 60)
    assert claimed == {
        "id": first,
        "room_id": room_row(db).id,
        "room_name": "general",
        "argument": "AAPL.US",
        "attempts": 1,
    }
    assert actions.claim_job(db, "stock", 60)["id"] == second
    assert actions.claim_job(db, "stock", 60) is None  # both are claimed now


def test_a_job_locked_by_one_claimer_is_skipped_by_another(db, database_url, people):
    first = enqueue(db, people["eren"])
    second = enqueue(db, people["eren"])
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as slow:
        with slow.transaction(force_rollback=True):
            # One claimer's transaction is still open, its row lock held ...
            assert actions.claim_job(slow, "stock", 60)["id"] == first
            # ... the other does not wait for it (it would fail here): it takes the next job.
            db.execute("SET lock_timeout = '2s'")
            assert actions.claim_job(db, "stock", 60)["id"] == second


def test_concurrent_claimers_never_get_the_same_job(database_url, db, people):
    jobs = {enqueue(db, people["eren"], client_id=f"c-{i}") for i in range(5)}

    def claim_all():
        got = []
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            while (claimed := actions.claim_job(conn, "stock", 60)) is not None:
                got.append(claimed["id"])
        return got

    results, errors = run_concurrently(claim_all, 4)
    assert errors == []
    claimed = [job_id for got in results for job_id in got]
    assert sorted(claimed) == sorted(jobs)


def test_a_claim_that_runs_out_makes_the_job_claimable_again(db, people):
    job_id = enqueue(db, people["eren"])
    actions.claim_job(db, "stock", 0)  # a claim of zero seconds: its bot "died" at once
    again = actions.claim_job(db, "stock", 60)
    assert (again["id"], again["attempts"]) == (job_id, 2)
    assert actions.claim_job(db, "stock", 60) is None
    wait = queries.next_job_due(db, "stock")
    assert 55 < wait <= 60  # the live claim runs out in a minute


def test_a_retry_waits_its_delay_and_only_the_current_claim_may_retry(db, people):
    job_id = enqueue(db, people["eren"])
    stale = actions.claim_job(db, "stock", 0)
    current = actions.claim_job(db, "stock", 60)
    actions.retry_job(db, stale, 0, "late")  # the claim that ran out: ignored
    assert job(db, job_id)["last_error"] is None
    actions.retry_job(db, current, 30, "the quote service answered 500")
    row = job(db, job_id)
    assert (row["claimed_until"], row["last_error"]) == (None, "the quote service answered 500")
    assert actions.claim_job(db, "stock", 60) is None  # not due for 30 s
    assert 25 < queries.next_job_due(db, "stock") <= 30
    actions.retry_job(db, {**current, "attempts": 2}, 0, "again")
    assert actions.claim_job(db, "stock", 60)["attempts"] == 3


def test_no_pending_jobs_means_no_due_time(db, people):
    assert queries.next_job_due(db, "stock") is None
    enqueue(db, people["eren"])
    assert queries.next_job_due(db, "stock") <= 0  # due now


def test_an_answer_is_posted_once_and_closes_the_job(db, people, bot_user):
    job_id = enqueue(db, people["eren"])
    actions.claim_job(db, "stock", 60)
    sent = actions.answer_job(db, job_id, bot_user, "AAPL.US quote is $93.42 per share")
    assert sent.seq == 1 and not sent.duplicate
    # A second bot (or one whose claim ran out) answering the same job: nothing.
    assert actions.answer_job(db, job_id, bot_user, "AAPL.US quote is $93.43 per share") is None
    messages = db.execute("SELECT seq, user_id, content, client_id, kind FROM messages").fetchall()
    assert messages == [
        {
            "seq": 1,
            "user_id": bot_user.id,
            "content": "AAPL.US quote is $93.42 per share",
            "client_id": f"job-{job_id}",
            "kind": "chat",
        }
    ]
    row = job(db, job_id)
    assert (row["state"], row["answer_seq"]) == ("answered", 1)
    assert row["finished_at"] is not None and row["claimed_until"] is None
    assert actions.claim_job(db, "stock", 0) is None
    # Answering in a public room does not make the bot one of its members.
    assert (
        db.execute(
            "SELECT count(*) AS n FROM room_members WHERE user_id = %s", (bot_user.id,)
        ).fetchone()["n"]
        == 0
    )


def test_concurrent_answers_to_one_job_post_one_message(database_url, db, people, bot_user):
    job_id = enqueue(db, people["eren"])

    def answer():
        with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
            return actions.answer_job(conn, job_id, bot_user, "AAPL.US quote is $1.00 per share")

    results, errors = run_concurrently(answer, 6)
    assert errors == []
    assert len([r for r in results if r is not None]) == 1
    assert db.execute("SELECT count(*) AS n FROM messages").fetchone()["n"] == 1


def test_a_failed_job_is_answered_and_keeps_its_reason(db, people, bot_user):
    job_id = enqueue(db, people["eren"])
    reason = "the quote service answered 500 (3 attempts)"
    actions.answer_job(db, job_id, bot_user, "Could not get a quote for AAPL.US: ...", reason)
    row = job(db, job_id)
    assert (row["state"], row["last_error"]) == ("failed", reason)


def test_a_room_deleted_meanwhile_takes_its_jobs_with_it(db, people):
    actions.create_room(db, "random", people["eren"].id)
    enqueue(db, people["eren"], room="random")
    db.execute("DELETE FROM rooms WHERE name = 'random'")
    assert actions.claim_job(db, "stock", 60) is None


def test_the_bot_account_is_made_once_and_nobody_can_log_in_as_it(db, client, auth):
    first = actions.ensure_bot_user(db, "stockbot")
    assert actions.ensure_bot_user(db, "StockBot") == first
    row = db.execute("SELECT password_hash, is_bot FROM users WHERE id = %s", (first.id,))
    assert row.fetchone() == {"password_hash": "!", "is_bot": True}
    for password in ("!", "", "correct horse"):
        assert auth.login("stockbot", password).status_code != 302


def test_nobody_can_register_a_bot_name(db):
    with pytest.raises(ChatError, match="taken"):
        actions.create_user(db, "StockBot", "correct horse")


def test_a_person_or_a_disabled_account_under_a_bot_name_stops_the_bot(db):
    db.execute("INSERT INTO users (username, password_hash) VALUES ('stockbot', 'x')")
    with pytest.raises(ChatError, match="belongs to a person"):
        actions.ensure_bot_user(db, "stockbot")
    db.execute("UPDATE users SET is_bot = true, disabled_at = now()")
    with pytest.raises(ChatError, match="disabled"):
        actions.ensure_bot_user(db, "stockbot")
