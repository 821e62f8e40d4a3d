"""The bot's loop (chat/bots/runner.py) in this process, on the real PostgreSQL and a real local
quote server: answers, retries with backoff, giving up, waking on NOTIFY, polling, reconnecting.
The same loop as a real subprocess is in tests/e2e/test_bots_e2e.py."""

import dataclasses
import logging
import re
import threading

import pytest

from chat import actions
from chat.bots import Transient, stock
from chat.bots.runner import Runner

from ..conftest import make_user, room_row
from ..quotes import HEADER, wait_until
from .failures import FAILURES, failing_config


@pytest.fixture
def settings(quotes):
    """Retries at once (BOT_RETRY_DELAY=0), so a drain runs a job to its end."""
    return {
        "STOCK_QUOTE_URL": quotes.template,
        "STOCK_QUOTE_TIMEOUT": 0.5,
        "BOT_RETRY_DELAY": 0.0,
        "BOT_MAX_ATTEMPTS": 3,
        "BOT_POLL_INTERVAL": 60.0,
        "BOT_VISIBILITY_TIMEOUT": 30.0,
    }


@pytest.fixture
def make_runner(make_app, settings):
    def make(bot=stock.BOT, **overrides):
        app = make_app(**{**settings, **overrides})
        runner = Runner(bot, app.config, app.extensions["db_pool"])
        runner.ensure_user()
        return runner

    return make


@pytest.fixture
def eren(db):
    return make_user(db)


def ask(db, user, symbol: str, client_id: str | None = None) -> int:
    return actions.enqueue_job(db, room_row(db), user, "stock", symbol, client_id).job_id


def answers(db) -> list[str]:
    rows = db.execute(
        "SELECT m.content FROM messages m JOIN users u ON u.id = m.user_id "
        "WHERE u.username = 'stockbot' ORDER BY m.seq"
    )
    return [row["content"] for row in rows]


def job(db, job_id: int) -> dict:
    return db.execute(
        "SELECT state, attempts, last_error, run_after - now() AS wait FROM bot_jobs WHERE id = %s",
        (job_id,),
    ).fetchone()


AAPL = "eren asked for AAPL.US: $93.42 per share (2026-11-24 22:00)"
TRY_AGAIN = "try again in a few minutes."
TELL = "if this keeps happening, tell whoever runs this chat."


def test_quotes_unknown_symbols_and_junk_are_answered(db, eren, make_runner):
    for symbol in ("AAPL.US", "NOPE.US", "JUNK.US"):
        ask(db, eren, symbol)
    assert make_runner().drain() == 3
    assert answers(db) == [
        AAPL,
        "eren asked for NOPE.US: the quote service does not know that symbol "
        "(symbols look like AAPL, or VOD.UK).",
        f"eren asked for JUNK.US: the quote service sent something that is not a quote; {TELL}",
    ]


def test_a_transient_failure_is_retried_then_answered(db, eren, quotes, make_runner, caplog):
    caplog.set_level(logging.INFO, logger="chat.bots")
    quotes.failures["aapl.us"] = 2
    job_id = ask(db, eren, "AAPL.US")
    make_runner().drain()
    assert answers(db) == [AAPL]
    assert quotes.requests == ["aapl.us"] * 3
    assert job(db, job_id)["state"] == "answered"
    assert job(db, job_id)["attempts"] == 3
    assert caplog.text.count(f"job {job_id} will be tried again") == 2
    assert "aapl" not in caplog.text.lower()  # the job's id is enough


@pytest.mark.parametrize(
    ("close", "what"),
    [
        ("1e308", "a close that is not a plausible price"),
        ("NaN", "a close that is not a plausible price"),
        ("-1", "a close that is not a plausible price"),
        ("0.000000000001", "a close that is not a plausible price"),
    ],
)
def test_a_value_no_quote_can_hold_is_answered_at_once_as_not_a_quote(
    db, eren, quotes, make_runner, caplog, close, what
):
    """Not a bug to retry (it was: 1e308 made Decimal raise, three times over)."""
    quotes.prices["odd.us"] = close
    job_id = ask(db, eren, "ODD.US")
    make_runner().drain()
    assert answers(db) == [
        f"eren asked for ODD.US: the quote service sent something that is not a quote; {TELL}"
    ]
    assert quotes.requests == ["odd.us"]
    assert (job(db, job_id)["state"], job(db, job_id)["attempts"]) == ("failed", 1)
    assert repr(close) in job(db, job_id)["last_error"]
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]  # no bug, no traceback
    assert line.levelno == logging.WARNING and what in line.getMessage()
    assert close not in line.getMessage() and not line.exc_info


@pytest.mark.parametrize(
    ("date", "time"), [("1999-99-99", "22:00:09"), ("2026-11-24", "25:61"), ("N/D", "22:00:09")]
)
def test_an_impossible_date_or_time_is_not_a_quote(db, eren, quotes, make_runner, date, time):
    quotes.answers["when.us"] = (200, f"{HEADER}WHEN.US,{date},{time},1,2,0.5,12.5,100\r\n", {})
    ask(db, eren, "WHEN.US")
    make_runner().drain()
    assert answers(db) == [
        f"eren asked for WHEN.US: the quote service sent something that is not a quote; {TELL}"
    ]


@pytest.mark.parametrize(
    ("symbol", "reason"),
    [
        ("BOOM.US", "the quote service is having trouble"),
        ("SLOW.US", "the quote service did not answer in time"),
    ],
)
def test_after_the_last_attempt_the_failure_is_answered(db, eren, quotes, make_runner, symbol,
                                                        reason):  # fmt: skip
    job_id = ask(db, eren, symbol)
    make_runner().drain()
    assert answers(db) == [f"eren asked for {symbol}: {reason} (tried 3 times); {TRY_AGAIN}"]
    assert quotes.requests == [symbol.lower()] * 3
    assert job(db, job_id)["state"] == "failed"


def test_retries_back_off(db, eren, make_runner):
    job_id = ask(db, eren, "BOOM.US")
    runner = make_runner(BOT_RETRY_DELAY=10.0)
    assert runner.drain() == 1  # one attempt; the retry is not due yet
    assert 9 < job(db, job_id)["wait"].total_seconds() <= 10
    db.execute("UPDATE bot_jobs SET run_after = now()")  # as if the 10 s had passed
    assert runner.drain() == 1
    assert 19 < job(db, job_id)["wait"].total_seconds() <= 20  # doubled
    assert "HTTP 500" in job(db, job_id)["last_error"]  # the detail, for whoever runs the bot
    assert answers(db) == []


def test_a_job_its_bots_kept_dying_on_is_answered_without_another_try(
    db, eren, quotes, make_runner, caplog
):
    job_id = ask(db, eren, "AAPL.US")
    # Three claims that never came back (each bot was killed during the job).
    db.execute("UPDATE bot_jobs SET attempts = 3, claimed_until = now() - interval '1 second'")
    make_runner().drain()
    assert answers(db) == [
        f"eren asked for AAPL.US: the stock bot stopped before it could answer "
        f"(tried 3 times); {TELL}"
    ]
    assert quotes.requests == []
    assert job(db, job_id)["state"] == "failed"
    assert f"job {job_id} attempt 4 of 3 failed" in caplog.text
    assert "AAPL" not in caplog.text


def test_a_bug_in_a_bot_is_reported_in_the_room_not_raised(db, eren, make_runner, caplog):
    def broken(symbol, config):
        raise KeyError(f"no {symbol} here")

    job_id = ask(db, eren, "AAPL.US")
    make_runner(dataclasses.replace(stock.BOT, answer=broken), BOT_MAX_ATTEMPTS=2).drain()
    assert answers(db) == [
        f"eren asked for AAPL.US: the stock bot ran into a problem (tried 2 times); {TELL}"
    ]
    bugs = [r for r in caplog.records if "with a bug" in r.getMessage()]
    assert len(bugs) == 2 and all(r.levelno == logging.ERROR for r in bugs)  # once an attempt
    # Where it happened and what type, but not its words: they quote the argument.
    for bug in bugs:
        assert "Traceback (most recent call last)" in bug.getMessage()
        assert 'in broken\n    raise KeyError(f"no {symbol} here")' in bug.getMessage()
        assert bug.getMessage().endswith("\nKeyError")
    assert "AAPL" not in caplog.text
    assert job(db, job_id)["last_error"] == "KeyError: 'no AAPL.US here'"


# What a room must never read: the details are for the bot's log.
TECHNICAL = re.compile(r"Errno|Exception|Error|Traceback|https?://|ftp://|HTTP|\b[1-5]\d\d\b")


@pytest.mark.parametrize(
    ("case", "kind", "reason", "detail", "cause"), FAILURES, ids=[f[0] for f in FAILURES]
)
def test_every_failure_names_who_asked_and_what_and_logs_the_cause_not_the_argument(
    db, eren, quotes, make_runner, caplog, tmp_path, case, kind, reason, detail, cause
):
    caplog.set_level(logging.INFO, logger="chat.bots")
    symbol = case if case.endswith(".US") else "AAPL.US"
    job_id = ask(db, eren, symbol)
    url = failing_config(quotes, case, tmp_path)["STOCK_QUOTE_URL"]
    make_runner(STOCK_QUOTE_URL=url).drain()
    [answer] = answers(db)
    assert answer.startswith(f"eren asked for {symbol}: {reason}"), answer
    assert answer.endswith(TRY_AGAIN if kind is Transient else TELL), answer
    assert not TECHNICAL.search(answer), answer
    assert job(db, job_id)["state"] == "failed"
    assert detail in job(db, job_id)["last_error"]  # the whole story, in the job's row
    logged = [r for r in caplog.records if cause in r.getMessage()]
    assert logged and all(r.levelno == logging.WARNING for r in logged), caplog.text
    # Once per attempt: three for a failure worth retrying, one for the others.
    assert len(logged) == (3 if kind is Transient else 1), caplog.text
    # The job's id and the service's host, never the argument or the URL's query.
    assert all(f"job {job_id} attempt" in r.getMessage() for r in logged)
    assert symbol.lower() not in caplog.text.lower() and "?s=" not in caplog.text


@pytest.fixture
def running(make_runner):
    """Runners serving in threads, as `flask --app app stock-bot` does; stopped after."""
    started = []

    def start(**overrides) -> Runner:
        runner = make_runner(**overrides)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        started.append((runner, thread))
        return runner

    yield start
    for runner, thread in started:
        runner.stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the runner did not stop"


def listener_pids(db) -> list[int]:
    rows = db.execute(
        "SELECT pid FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'stock-bot'"
    )
    return [row["pid"] for row in rows]


def test_a_notify_wakes_the_bot_long_before_its_poll(db, eren, running):
    running(BOT_POLL_INTERVAL=600.0)
    wait_until(lambda: listener_pids(db), what="the bot's LISTEN connection")
    ask(db, eren, "AAPL.US")
    wait_until(lambda: answers(db), timeout=10, what="the answer")


def test_a_job_whose_notify_was_lost_is_found_by_the_poll(db, eren, running):
    running(BOT_POLL_INTERVAL=0.5)
    db.execute(  # a job without its NOTIFY
        "INSERT INTO bot_jobs (bot, room_id, requested_by, argument) VALUES ('stock', %s, %s, %s)",
        (room_row(db).id, eren.id, "AAPL.US"),
    )
    wait_until(lambda: answers(db), timeout=10, what="the answer")


def test_the_bot_reconnects_after_losing_its_database_connection(db, eren, running):
    running(BOT_POLL_INTERVAL=600.0)
    pids = wait_until(lambda: listener_pids(db), what="the bot's LISTEN connection")
    db.execute("SELECT pg_terminate_backend(%s)", (pids[0],))
    wait_until(lambda: set(listener_pids(db)) - set(pids), what="a new LISTEN connection")
    ask(db, eren, "AAPL.US")
    wait_until(lambda: answers(db), timeout=10, what="the answer")


def test_stop_ends_the_loop_promptly(running):
    runner = running(BOT_POLL_INTERVAL=600.0)
    runner.stop.set()  # the fixture checks the thread ends within 10 s


def test_an_unreachable_database_only_pauses_the_loop(make_runner, caplog):
    runner = make_runner()
    runner.config = {**runner.config, "DATABASE_URL": "postgresql://127.0.0.1:1/none"}
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    wait_until(lambda: caplog.text.count("database unavailable") >= 2, what="two retries")
    assert thread.is_alive()  # retrying, not crashed
    runner.stop.set()
    thread.join(10)
    assert not thread.is_alive()
