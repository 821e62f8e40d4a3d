"""A worker process (`flask --app app work`): image variants, link previews and
outgoing webhooks' deliveries off the request path (docs/files.md "Work off
the request path", docs/webhooks.md "Outgoing webhooks").

The loop is the bots' (chat/bots/runner.py): LISTEN on bus.WORK_CHANNEL, claim
every due job (FOR UPDATE SKIP LOCKED: any number of workers share the
queue), handle it, then wait for the next NOTIFY or the poll interval; the
database going away only pauses it (reconnect with backoff); SIGTERM stops
it after the current job. One job at a time per process: an image's decode
takes a core and up to a few hundred MB, so more processes, not threads,
make more throughput.

It shares the bots' queue settings: BOT_POLL_INTERVAL, BOT_VISIBILITY_TIMEOUT
(a claim's life: well above the slowest image or the 10 s fetch deadline),
BOT_MAX_ATTEMPTS and BOT_RETRY_DELAY.

The log names a job by its id and kind and says what happened in words the
job did not bring: never a file's name, a URL's path or query, or anything a
page sent (chat/bots/egress errors' `reason` is made for this; their
`detail`, with the URL, goes to work_jobs.last_error).
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
from chat.bots import egress
from chat.bots.delivery import deliver
from chat.bots.preview import fetch_preview
from chat.domain import imaging
from chat.domain.entities import Preview, Room, User
from chat.domain.errors import ChatError
from chat.domain.validate import validate_content
from chat.storage import db, media, outgoing
from chat.storage.bus import WORK_CHANNEL

log = logging.getLogger(__name__)

KINDS = ("image", "preview", "webhook")
# As the bots' runner: the idle wait's slices (a local select, free), the
# reconnect backoff, and the longest a retry waits.
STOP_CHECK = 0.5
BACKOFF_MIN, BACKOFF_MAX = 0.5, 5.0
RETRY_DELAY_MAX = 300.0
# How often a worker deletes finished jobs (and, once issue 17's uploads are
# merged, unsent files): hourly keeps the tables small at the cost of one
# indexed DELETE; several workers doing it too is harmless.
CLEAN_UP_INTERVAL = 3600.0
_DB_DOWN = (psycopg.OperationalError, PoolTimeout)


class Worker:
    """One worker process's loop over `work_jobs`. `config` is the app's settings
    (the BOT_* queue settings, UPLOAD_MAX_BYTES, IMAGE_MAX_PIXELS, LINK_PREVIEWS,
    EGRESS_ALLOW, MAX_MESSAGE_CHARS for webhooks' replies); `pool` is the
    process's own; `stop` ends the loop after the current job. Runs in one
    thread."""

    def __init__(self, config: Mapping, pool: ConnectionPool):
        self.config = config
        self.pool = pool
        self.poll_interval = config["BOT_POLL_INTERVAL"]
        self.visibility = config["BOT_VISIBILITY_TIMEOUT"]
        self.max_attempts = config["BOT_MAX_ATTEMPTS"]
        self.retry_delay = config["BOT_RETRY_DELAY"]
        self.max_bytes = config["UPLOAD_MAX_BYTES"]
        self.max_pixels = config["IMAGE_MAX_PIXELS"]
        self.previews = config["LINK_PREVIEWS"]
        self.allow = config["EGRESS_ALLOW"]
        self.max_chars = config["MAX_MESSAGE_CHARS"]
        self.stop = threading.Event()
        self.clean_up_at = 0.0  # monotonic: at the first chance

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
                log.warning("work: database unavailable (%s); retrying in %.1fs", exc, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    def _serve(self, listener: psycopg.Connection) -> None:
        while not self.stop.is_set():
            # LISTEN came first: a job queued from here on also wakes the wait.
            self.drain()
            if time.monotonic() >= self.clean_up_at:
                self.clean_up()
            self._wait(listener, self._next_wait())

    @contextmanager
    def _listener(self):
        conn = psycopg.connect(
            self.config["DATABASE_URL"],
            autocommit=True,  # an open transaction would hold notifications back
            application_name="work",
            connect_timeout=max(1, int(self.config["DB_TCP_TIMEOUT"])),
            **db.tcp_options(self.config["DB_TCP_TIMEOUT"]),
        )
        try:
            conn.execute(f"LISTEN {WORK_CHANNEL}")
            yield conn
        finally:
            conn.close()

    def _next_wait(self) -> float:
        """Until the next poll, or sooner when a retry or a lapsed claim falls due."""
        with self.pool.connection() as conn:
            due = media.next_work_due(conn, KINDS)
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(0.0, float(due)))

    def _wait(self, listener: psycopg.Connection, seconds: float) -> None:
        """Until a NOTIFY for a kind served here, `seconds` pass, or stop is set."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for note in listener.notifies(timeout=min(left, STOP_CHECK)):
                if note.payload in KINDS:
                    return

    def clean_up(self) -> None:
        """Delete jobs finished more than a week ago, and uploads never sent (nor
        an avatar) older than UPLOAD_UNSENT_HOURS."""
        self.clean_up_at = time.monotonic() + CLEAN_UP_INTERVAL
        with self.pool.connection() as conn:
            deleted = actions.delete_finished_work(conn)
            unsent = actions.delete_unsent_files(conn, self.config["UPLOAD_UNSENT_HOURS"])
        if deleted or unsent:
            log.info("work: deleted %d finished jobs and %d unsent uploads", deleted, unsent)

    # --- jobs -----------------------------------------------------------------

    def drain(self) -> int:
        """Claim and handle due jobs until none is left (or stop); returns how many."""
        handled = 0
        while not self.stop.is_set():
            with self.pool.connection() as conn:
                job = actions.claim_work(conn, KINDS, self.visibility)
            if job is None:
                break
            self.handle(job)
            handled += 1
        return handled

    def handle(self, job: dict) -> None:
        """Handle one claimed job: do it, give it back for later, or give up on it."""
        started = time.monotonic()
        if job["attempts"] > self.max_attempts:
            # Claimed this often without a result: its workers died on it.
            self._give_up(job, f"claimed {job['attempts'] - 1} times, never finished")
            return
        try:
            if job["kind"] == "image":
                outcome = self._image(job)
            elif job["kind"] == "webhook":
                outcome = self._webhook(job)
            else:
                outcome = self._preview(job)
        except _DB_DOWN:
            raise  # the loop reconnects; the claim runs out and the job is taken again
        except Exception as exc:  # a bug: retried, then given up on
            # Its traceback without its words, which may quote a page or a name.
            log.error(
                "work: %s job %d failed with a bug (its words are in work_jobs.last_error)\n%s",
                job["kind"],
                job["id"],
                _traceback_without_words(exc),
            )
            self._retry_or_give_up(job, f"{type(exc).__name__}: {exc}")
            return
        log.info(
            "work: %s job %d %s after %.2fs",
            job["kind"],
            job["id"],
            outcome,
            time.monotonic() - started,
        )

    def _retry_or_give_up(self, job: dict, error: str) -> None:
        if job["attempts"] >= self.max_attempts:
            self._give_up(job, error)
            return
        delay = min(RETRY_DELAY_MAX, self.retry_delay * 2 ** (job["attempts"] - 1))
        with self.pool.connection() as conn:
            actions.retry_work(conn, job, delay, error)
        log.info("work: %s job %d will be tried again in %.1fs", job["kind"], job["id"], delay)

    def _give_up(self, job: dict, error: str) -> None:
        with self.pool.connection() as conn:
            if job["kind"] == "image":
                actions.image_failed(conn, job["id"], job["file_id"], error, gave_up=True)
            else:
                actions.close_work(conn, job["id"], error)
        log.warning(
            "work: %s job %d given up after %d attempts", job["kind"], job["id"], job["attempts"]
        )

    # --- images -----------------------------------------------------------------

    def _image(self, job: dict) -> str:
        """Make the file's clean copy and thumbnail (an avatar: its square thumbnail)."""
        with self.pool.connection() as conn:
            file = media.file_to_derive(conn, job["file_id"])
            if file is None or file["state"] != "stored":
                actions.close_work(conn, job["id"], "nothing to do: deleted or done", failed=False)
                return "had nothing to do"
            if file["size"] > self.max_bytes:
                return self._refused(conn, job, f"{file['size']} bytes is over UPLOAD_MAX_BYTES")
            original = self._original(conn, file["id"])
        if original is None:
            with self.pool.connection() as conn:
                return self._refused(conn, job, "its chunks are over UPLOAD_MAX_BYTES")
        try:
            variants = imaging.derive(original, self.max_pixels, avatar=file["avatar"])
        except imaging.Refused as exc:
            with self.pool.connection() as conn:
                return self._refused(conn, job, exc.reason)
        finally:
            del original
        with self.pool.connection() as conn:
            stored = actions.store_variants(conn, job["id"], file["id"], variants)
        if not stored.written:
            return "was done already"
        if stored.event_seq is not None:
            return f"made its variants (files event seq {stored.event_seq})"
        return "made its variants"

    def _original(self, conn: psycopg.Connection, file_id: int) -> bytes | None:
        """The original's bytes, None past UPLOAD_MAX_BYTES (one copy held: the
        chunks are joined once, then dropped)."""
        pieces, size = [], 0
        for chunk in media.chunks(conn, file_id):
            size += len(chunk)
            if size > self.max_bytes:
                return None
            pieces.append(chunk)
        return b"".join(pieces)

    def _refused(self, conn: psycopg.Connection, job: dict, reason: str) -> str:
        actions.image_failed(conn, job["id"], job["file_id"], reason)
        log.warning("work: image job %d refused: %s", job["id"], reason)
        return "refused the image"

    # --- link previews ----------------------------------------------------------

    def _preview(self, job: dict) -> str:
        """Fetch the message's first link's page and store its card and event."""
        with self.pool.connection() as conn:
            if not self.previews:
                actions.close_work(conn, job["id"], "link previews are turned off", failed=False)
                return "skipped (link previews are off)"
            skip = actions.preview_wanted(conn, job["room_id"], job["seq"], job["url"])
            if skip is not None:
                actions.close_work(conn, job["id"], skip, failed=False)
                return f"skipped ({skip})"
        try:
            found = fetch_preview(job["url"], allow=self.allow)
        except egress.EgressError as exc:
            # `reason` has no part of the URL; `detail` (with it) goes to last_error.
            log.warning(
                "work: preview job %d attempt %d of %d failed: %s",
                job["id"],
                job["attempts"],
                self.max_attempts,
                exc.reason,
            )
            if exc.transient:
                self._retry_or_give_up(job, exc.detail)
                return "will be retried"
            with self.pool.connection() as conn:
                actions.close_work(conn, job["id"], exc.detail)
            return "failed for good"
        card = None
        if found is not None:
            card = Preview(
                job["url"], found.title, found.description, found.site_name, found.image_url
            )
        with self.pool.connection() as conn:
            seq = actions.store_preview(conn, job, card)
        return f"wrote its preview (event seq {seq})" if seq else "found nothing to show"

    # --- outgoing webhooks -------------------------------------------------------

    def _webhook(self, job: dict) -> str:
        """POST the message to its webhook, and post the receiver's reply back."""
        with self.pool.connection() as conn:
            row = outgoing.delivery(conn, job["webhook_id"], job["seq"])
            skip = _not_to_deliver(row)
            if skip is not None:
                actions.close_work(conn, job["id"], skip, failed=False)
                return f"skipped ({skip})"
        try:
            delivered = deliver(job, row, allow=self.allow)
        except egress.EgressError as exc:
            return self._undelivered(job, exc)
        status = str(delivered.status)
        with self.pool.connection() as conn:
            if delivered.reply is None:
                actions.finish_delivery(conn, job["id"], job["webhook_id"], status)
                return f"delivered ({status})"
            return self._reply(conn, job, row, delivered.reply, status)

    def _undelivered(self, job: dict, exc: egress.EgressError) -> str:
        """A failed attempt: noted on the webhook, then retried or given up."""
        # `reason` has no part of the URL; `detail` (with it) goes to last_error.
        log.warning(
            "work: webhook job %d attempt %d of %d failed: %s",
            job["id"],
            job["attempts"],
            self.max_attempts,
            exc.reason,
        )
        with self.pool.connection() as conn:
            actions.record_delivery(conn, job["webhook_id"], f"failed: {exc.reason}")
        if exc.transient:
            self._retry_or_give_up(job, exc.detail)
            return "will be retried"
        with self.pool.connection() as conn:
            actions.close_work(conn, job["id"], exc.detail)
        return "failed for good"

    def _reply(self, conn: psycopg.Connection, job: dict, row: dict, text: str, status: str) -> str:
        """Post the receiver's reply as the webhook's bot, in the message's thread
        if it was in one; a reply the room refuses closes the job all the same."""
        room = Room(row["room_id"], row["room_name"], row["is_private"], row["is_direct"])
        bot = User(row["bot_user_id"], row["bot_name"])
        try:
            text = validate_content(text, self.max_chars)
            sent = actions.post_reply(
                conn, job["id"], job["webhook_id"], room, bot, text, row["thread_seq"], status
            )
        except ChatError as exc:
            why = f"{status}; its reply was refused: {exc.message}"
            actions.finish_delivery(conn, job["id"], job["webhook_id"], why, error=why)
            return "delivered (its reply was refused)"
        if sent is None:
            return "was done already"
        return f"delivered ({status}), reply seq {sent.seq}"


def _not_to_deliver(row: dict | None) -> str | None:
    """Why a delivery is dropped before it is sent (None: send it)."""
    if row is None:
        return "the message or the webhook is gone"
    if row["webhook_deleted"]:
        return "the webhook was deleted"
    if row["deleted"]:
        return "the message was deleted"
    return None


def _traceback_without_words(exc: BaseException) -> str:
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return f"Traceback (most recent call last):\n{frames}{type(exc).__qualname__}"


def run_worker(config: Mapping, pool: ConnectionPool, schema_pending: Callable[[], bool]) -> None:
    """`flask --app app work`: serve the work queue until SIGTERM or Ctrl-C.

    `config` is the app's settings; `pool` is closed on the way out;
    `schema_pending()` says whether migrations still wait for the database."""
    worker = Worker(config, pool)

    def stop(signum, frame) -> None:
        log.info("work: %s, stopping after the current job", signal.Signals(signum).name)
        worker.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("work: started (%s jobs)", ", ".join(KINDS))
    while schema_pending() and not worker.stop.wait(BACKOFF_MIN):
        pass
    try:
        worker.run()
    finally:
        pool.close()
    log.info("work: stopped")
