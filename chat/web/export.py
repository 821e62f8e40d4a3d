"""Export a room's history as JSON Lines or CSV, streamed from a server-side cursor.

`GET /rooms/<name>/export.jsonl|csv` (session) and `/api/rooms/<name>/export.jsonl|csv`
(Bearer token). Members only: a room the user cannot see is 404 like everywhere
(`access.room_or_404`); a public room the user never joined is 403.

The rows come from a named (server-side) cursor, FETCH_ROWS at a time, and each
batch is encoded and written before the next is fetched: memory stays at one
batch whatever the room's size. The export holds one pooled connection and one
read-only transaction (a consistent snapshot of the room) until the download
ends; `ExportStream.close()`, which the WSGI server calls however the download
ends (done, error, client gone), gives both back.
"""

import csv
import io
import threading
from urllib.parse import quote

import orjson
import psycopg
from flask import Blueprint, Flask, Response, abort, current_app
from flask_login import current_user, login_required
from psycopg import Connection
from psycopg_pool import ConnectionPool
from werkzeug.exceptions import TooManyRequests

from chat.storage import export as exported
from chat.storage import queries
from chat.web import worker
from chat.web.access import api_login_required, room_or_404

bp = Blueprint("export", __name__)

# Rows per FETCH and per chunk written: ~200-400 KB of output, enough that
# round trips to PostgreSQL and socket writes are not the cost, small enough
# that a worker holds little while a client reads slowly.
FETCH_ROWS = 2000
# Each export holds a pooled connection (DB_POOL_SIZE, 10 by default) for the
# whole download and keeps a core busy encoding; two at a time per worker
# leave the rest of the pool and the loop to the chat. More get 429.
MAX_EXPORTS_PER_WORKER = 2
# A client told "busy" tries again after about this long: a big export takes
# seconds to tens of seconds (docs/search.md has the benchmark).
RETRY_AFTER_SECONDS = 10
# Spreadsheets run a cell starting with one of these as a formula (=HYPERLINK,
# +cmd|...); OWASP's CSV injection advice: prefix such a cell with a quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = (
    "seq",
    "time",
    "username",
    "kind",
    "content",
    "edited_at",
    "deleted",
    "reactions",
    "files",
    "thread",
    "also_in_room",
    "quote",
)
MEDIA_TYPES = {"jsonl": "application/jsonl", "csv": "text/csv; charset=utf-8"}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # One per app, that is per worker process; gevent's semaphore in a worker.
    app.extensions["export_slots"] = threading.BoundedSemaphore(MAX_EXPORTS_PER_WORKER)


def spreadsheet_safe(cell: str) -> str:
    """The cell with a leading quote if a spreadsheet would run it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def files_listed(files: list[dict] | None) -> list[dict] | None:
    """A message's files as the export lists them: name, size, type and the URL
    that downloads them (for whoever may read the message: chat/web/files.py)."""
    if not files:
        return None
    return [
        {
            "name": f["name"],
            "size": f["size"],
            "type": f["type"],
            "url": f"/files/{f['key']}/{quote(f['name'], safe='')}",
        }
        for f in files
    ]


def jsonl_chunks(conn: Connection, room_id: int):
    """The room's messages as JSON Lines, one chunk (bytes) per FETCH_ROWS messages."""
    for batch in exported.batches(conn, room_id, FETCH_ROWS, as_tuples=False):
        # One buffer, each row appended and its bytes freed at once: orjson
        # gives every dumps() result a 4 KB allocation, so holding a batch of
        # them before joining would take 4 KB per row.
        chunk = bytearray()
        for row in batch:
            row["files"] = files_listed(row["files"])
            chunk += orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE)
        del batch  # not kept alive while the next one is fetched
        yield bytes(chunk)


def csv_chunks(conn: Connection, room_id: int):
    """The room's messages as CSV (RFC 4180, a header row first), one chunk per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for batch in exported.batches(conn, room_id, FETCH_ROWS, as_tuples=True):
        writer.writerows(
            (
                seq,
                time,
                spreadsheet_safe(username),
                kind,
                spreadsheet_safe(content or ""),
                edited_at or "",
                "true" if deleted else "false",
                orjson.dumps(reactions).decode() if reactions else "",
                orjson.dumps(files_listed(files)).decode() if files else "",
                "" if thread is None else thread,
                "true" if also_in_room else "false",
                "" if quote is None else quote,
            )
            for (
                seq,
                time,
                username,
                kind,
                content,
                edited_at,
                deleted,
                reactions,
                files,
                thread,
                also_in_room,
                quote,
            ) in batch
        )
        del batch  # not kept alive while the next one is fetched
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # the header of an empty room
        yield buffer.getvalue().encode()


CHUNKS = {"jsonl": jsonl_chunks, "csv": csv_chunks}


class ExportStream:
    """The response body of one export. It takes its pooled connection at once
    (so an exhausted pool is a 503 before any byte) and gives it back, with
    the export slot, in close(): the WSGI server calls that when the download
    completes, fails, or the client goes away mid-way."""

    def __init__(self, pool: ConnectionPool, slots: threading.Semaphore, room_id: int, fmt: str):
        self._pool = pool
        self._slots = slots
        self._conn = pool.getconn()
        self._chunks = CHUNKS[fmt](self._conn, room_id)
        self._closed = False

    def __iter__(self):
        return self._chunks

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._chunks.close()  # closes the server-side cursor if it is open
        except psycopg.Error:
            pass  # the connection broke mid-export: putconn() below discards it
        finally:
            try:
                self._conn.rollback()  # read-only; ends the transaction and its snapshot
            except psycopg.Error:
                pass  # same: a broken connection is the pool's to replace
            self._pool.putconn(self._conn)
            self._slots.release()


def export(name: str, fmt: str) -> Response:
    """The room's history as a streamed download, for its members."""
    room = room_or_404(name)
    with worker.connection() as conn:
        member = queries.is_member(conn, room.id, current_user.id)
    if not member:
        abort(403, description=f"only members can export #{room.name}: join the room first")
    slots = current_app.extensions["export_slots"]
    if not slots.acquire(blocking=False):
        raise TooManyRequests(
            description="this server is busy with other exports; try again shortly",
            retry_after=RETRY_AFTER_SECONDS,
        )
    try:
        body = ExportStream(worker.pool(), slots, room.id, fmt)
    except BaseException:
        slots.release()
        raise
    response = Response(body, content_type=MEDIA_TYPES[fmt])
    response.headers.set("Content-Disposition", "attachment", filename=f"{room.name}.{fmt}")
    response.headers["Cache-Control"] = "no-store"  # private history: no copies in caches
    return response


@bp.get("/rooms/<name>/export.<any(jsonl, csv):fmt>")
@login_required
def room_export(name: str, fmt: str):
    """Download the room's history (members only) as JSON Lines or CSV."""
    return export(name, fmt)


@bp.get("/api/rooms/<name>/export.<any(jsonl, csv):fmt>")
def api_export(name: str, fmt: str):
    """The same download for scripts: Bearer token (or session)."""
    api_login_required()
    return export(name, fmt)
