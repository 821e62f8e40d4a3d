"""A bot's process: claim its jobs from bot_jobs and answer each in its room exactly once.

The loop LISTENs on the jobs channel, claims every due job (FOR UPDATE SKIP
LOCKED, so any number of bot processes can share a queue), answers it, and
waits for the next NOTIFY or the poll interval, whichever comes first. A job
is answered through the same send action as people, in one transaction with
closing the job; a failure worth retrying gives the job back with a backoff.
The database going away only pauses the loop: it reconnects with backoff.

Plain threads, not gevent: this is its own process, one job at a time. Run
more processes for more throughput.
"""

import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from chat import actions
from chat.bots.bot import Bot, BotFailure, Failed, Transient
from chat.domain.entities import User
from chat.domain.errors import ChatError
from chat.storage import db, queries
from chat.storage.bus import JOBS_CHANNEL

log = logging.getLogger(__name__)

# How often the idle wait looks at the stop flag (SIGTERM, Ctrl-C); the wait is
# a local select on the LISTEN socket, so short slices cost nothing.
STOP_CHECK = 0.5
# Reconnecting after the database went away: quick at first, then every few seconds.
BACKOFF_MIN, BACKOFF_MAX = 0.5, 5.0
# Retry delays double from BOT_RETRY_DELAY up to this: past it, a person would
# rather read "failed" than keep waiting.
RETRY_DELAY_MAX = 300.0
_DB_DOWN = (psycopg.OperationalError, PoolTimeout)
# What people are told to do after a failure: wait, for one that retrying
# mends; tell someone, for one that it does not.
TRY_AGAIN = "try again in a few minutes"
TELL_SOMEONE = "if this keeps happening, tell whoever runs this chat"
# Who asked: the room never saw the request (commands are not stored), so the
# answer names the person. (Read here, not in the claim, which is shared with
# bots in other languages: docs/bots.md.)
SQL_REQUESTER = """
    SELECT u.username FROM bot_jobs j JOIN users u ON u.id = j.requested_by WHERE j.id = %s
"""


class Runner:
    """One bot's process: waits on its queue (LISTEN, and a poll every
    BOT_POLL_INTERVAL seconds), claims jobs one at a time, asks the bot, and
    posts the answer or, after BOT_MAX_ATTEMPTS transient failures, the failure
    (chat/actions/jobs.py does every write). `config` is the app's settings;
    `pool` is the bot's own; `stop` (a threading.Event) ends the loop after the
    current job. Runs in one thread; nothing here is shared.
    """

    def __init__(self, bot: Bot, config: Mapping, pool: ConnectionPool):
        self.bot = bot
        self.config = config
        self.pool = pool
        self.user: User | None = None  # the bot's account, ensured on start
        self.poll_interval = config["BOT_POLL_INTERVAL"]
        self.visibility = config["BOT_VISIBILITY_TIMEOUT"]
        self.max_attempts = config["BOT_MAX_ATTEMPTS"]
        self.retry_delay = config["BOT_RETRY_DELAY"]
        self.stop = threading.Event()

    # --- the loop ---------------------------------------------------------------

    def run(self) -> None:
        """Serve the queue until stop is set; database failures only pause it."""
        delay = BACKOFF_MIN
        while not self.stop.is_set():
            try:
                with self._listener() as listener:
                    delay = BACKOFF_MIN
                    self._serve(listener)
            except _DB_DOWN as exc:
                log.warning(
                    "%s bot: database unavailable (%s); retrying in %.1fs",
                    self.bot.name,
                    exc,
                    delay,
                )
                self.stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    def ensure_user(self) -> None:
        """The bot's account, created on its first start (ChatError if unusable)."""
        if self.user is None:
            with self.pool.connection() as conn:
                self.user = actions.ensure_bot_user(conn, self.bot.username)
            log.info("%s bot: answering as %s", self.bot.name, self.user.username)

    def _serve(self, listener: psycopg.Connection) -> None:
        self.ensure_user()
        while not self.stop.is_set():
            # LISTEN came first: a job enqueued from here on also wakes the wait.
            self.drain()
            self._wait(listener, self._next_wait())

    @contextmanager
    def _listener(self):
        conn = psycopg.connect(
            self.config["DATABASE_URL"],
            autocommit=True,  # an open transaction would hold notifications back
            application_name=f"{self.bot.name}-bot",
            connect_timeout=max(1, int(self.config["DB_TCP_TIMEOUT"])),
            **db.tcp_options(self.config["DB_TCP_TIMEOUT"]),
        )
        try:
            conn.execute(f"LISTEN {JOBS_CHANNEL}")
            yield conn
        finally:
            conn.close()

    def _next_wait(self) -> float:
        """Until the next poll, or sooner when a retry or a lapsed claim falls due."""
        with self.pool.connection() as conn:
            due = queries.next_job_due(conn, self.bot.name)
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(0.0, due))

    def _wait(self, listener: psycopg.Connection, seconds: float) -> None:
        """Until a NOTIFY for this bot, `seconds` pass, or stop is set."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for note in listener.notifies(timeout=min(left, STOP_CHECK)):
                if note.payload == self.bot.name:
                    return

    # --- jobs -----------------------------------------------------------------

    def drain(self) -> int:
        """Claim and answer due jobs until none is left (or stop); returns how many."""
        handled = 0
        while not self.stop.is_set():
            with self.pool.connection() as conn:
                job = actions.claim_job(conn, self.bot.name, self.visibility)
            if job is None:
                break
            self.handle(job)
            handled += 1
        return handled

    def handle(self, job: dict) -> None:
        """Answer one claimed job, retry it later, or answer that it failed.

        The room reads sentences for people that say who asked and what for.
        The log gets the job's id and what kind of thing went wrong (a status,
        an errno, the service's host, a bug's traceback without its words),
        once per failure, and never the argument or anything else people
        typed; the job's last_error, in the row that holds the argument
        anyway, gets the whole detail (the URL, what the service sent).
        """
        started = time.monotonic()
        argument, attempts = job["argument"], job["attempts"]
        requester = self._requester(job)
        if attempts > self.max_attempts:
            # Claimed this often without an answer: the bots that took it died on it.
            died = BotFailure(
                f"the {self.bot.name} bot stopped before it could answer",
                cause=f"claimed {attempts - 1} times and never answered: its bots died on it",
            )
            self._failed(job, requester, died, TELL_SOMEONE, started, tries=attempts - 1)
            return
        try:
            text = self.bot.answer(argument, self.config)
        except Transient as exc:
            self._failed(job, requester, exc, TRY_AGAIN, started, retry=True)
        except Failed as exc:  # retrying will not mend it
            self._failed(job, requester, exc, TELL_SOMEONE, started)
        except Exception as exc:  # a bug: retried like a blip, reported once attempts run out
            # Its traceback without its words: an exception's message may quote
            # the argument or what the service sent (they go to last_error).
            log.error(
                "%s bot: job %d failed with a bug (its words are in bot_jobs.last_error)\n%s",
                self.bot.name,
                job["id"],
                _traceback_without_words(exc),
            )
            bug = BotFailure(
                f"the {self.bot.name} bot ran into a problem",
                f"{type(exc).__name__}: {exc}",
                type(exc).__name__,
            )
            self._failed(job, requester, bug, TELL_SOMEONE, started, retry=True, logged=True)
        else:
            self._finish(job, self.bot.reply(requester, argument, text), started)

    def _failed(
        self,
        job: dict,
        requester: str,
        failure: BotFailure,
        advice: str,
        started: float,
        retry: bool = False,
        logged: bool = False,
        tries: int | None = None,
    ) -> None:
        """Log a failure, then retry the job if it may be, or say in the room that it failed:
        "eren asked for AAPL.US: <reason> (tried 3 times); <advice>."

        The log line is the job's id, the reason and the cause, never the detail."""
        reason = failure.reason
        if not logged:
            log.warning(
                "%s bot: job %d attempt %d of %d failed: %s",
                self.bot.name,
                job["id"],
                job["attempts"],
                self.max_attempts,
                f"{reason} ({failure.cause})" if failure.cause else reason,
            )
        error = failure.detail or failure.cause or reason
        if retry and job["attempts"] < self.max_attempts:
            self._retry(job, error)
            return
        if retry:
            tries = job["attempts"]
        said = f"{reason} ({_tries(tries)})" if tries else reason
        text = self.bot.reply(requester, job["argument"], f"{said}; {advice}.")
        self._finish(job, text, started, error=error)

    def _requester(self, job: dict) -> str:
        with self.pool.connection() as conn:
            row = conn.execute(SQL_REQUESTER, (job["id"],)).fetchone()
        return row["username"] if row else "someone"

    def _retry(self, job: dict, error: str) -> None:
        delay = min(RETRY_DELAY_MAX, self.retry_delay * 2 ** (job["attempts"] - 1))
        with self.pool.connection() as conn:
            actions.retry_job(conn, job, delay, error)
        log.info("%s bot: job %d will be tried again in %.1fs", self.bot.name, job["id"], delay)

    def _finish(self, job: dict, text: str, started: float, error: str | None = None) -> None:
        with self.pool.connection() as conn:
            sent = actions.answer_job(conn, job["id"], self.user, text, error)
        if sent is None:
            log.info("%s bot: job %d was answered by another bot", self.bot.name, job["id"])
            return
        log.info(
            "%s bot: job %d %s in #%s as seq %d after %.2fs",
            self.bot.name,
            job["id"],
            "failed" if error else "answered",
            job["room_name"],
            sent.seq,
            time.monotonic() - started,
        )


def _traceback_without_words(exc: BaseException) -> str:
    """Where a bug happened (the frames, as a traceback shows them) and its type,
    without its message."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"Traceback (most recent call last):\n{frames}{type(exc).__qualname__}"


def _tries(count: int) -> str:
    return "tried once" if count == 1 else f"tried {count} times"


def run_bot(
    bot: Bot, config: Mapping, pool: ConnectionPool, schema_pending: Callable[[], bool]
) -> None:
    """`flask --app app <name>-bot`: serve the bot's queue until SIGTERM or Ctrl-C.

    `config` is the app's settings; `pool` is closed on the way out;
    `schema_pending()` says whether migrations still wait for the database.
    Raises SystemExit when the bot's account cannot be used."""
    bot.check(config)
    runner = Runner(bot, config, pool)

    def stop(signum, frame) -> None:
        log.info(
            "%s bot: %s, stopping after the current job", bot.name, signal.Signals(signum).name
        )
        runner.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("%s bot: started", bot.name)
    # PostgreSQL was down at start: create_app migrates in the background; the
    # queue's table may not exist before that is done.
    while schema_pending() and not runner.stop.wait(BACKOFF_MIN):
        pass
    try:
        runner.run()
    except ChatError as exc:  # the bot's account cannot be used
        raise SystemExit(f"{bot.name} bot: {exc.message}") from None
    finally:
        pool.close()
    log.info("%s bot: stopped", bot.name)
