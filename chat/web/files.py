"""Uploading and downloading files (docs/files.md; docs/security.md says what
each rule here defends against).

`POST /api/files?name=<name>`: the body is the file's bytes (a session with
its CSRF token, or a Bearer token). Limits are answered from Content-Length
before a byte is read (chat/web/limits.py `open_stream`), and counted while
the body streams into PostgreSQL (chat/actions/files.py), a block at a time.

`GET /files/<key>/<name>`, `GET /thumbs/<key>`, and `GET /api/files/<key>`
for scripts: the same rules. A file the reader may not fetch is the same 404
as one that does not exist. Only raster images are ever shown inline, and to
anyone but their owner only as the worker's cleaned copy; everything else is
an attachment. The bytes stream out a chunk at a time, each chunk read on a
pooled connection of its own, so a slow reader holds no connection.
"""

import threading
from collections.abc import Iterator
from urllib.parse import quote

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from flask_login import current_user, login_required
from psycopg_pool import ConnectionPool
from werkzeug.exceptions import TooManyRequests

from chat import actions
from chat.domain.errors import ChatError
from chat.domain.files import file_name, is_key
from chat.domain.media import INLINE_TYPES
from chat.protocol import outbound
from chat.storage import files as stored_files
from chat.web import worker
from chat.web.access import api_login_required
from chat.web.forms import csrf
from chat.web.limits import streams_body, too_large

bp = Blueprint("files", __name__)

# Bytes asked of the request body per read: a quarter of a chunk, so a slow
# client's progress is seen often and memory holds little beyond one chunk.
READ_BYTES = 64 * 1024
# Each upload holds a pooled connection (DB_POOL_SIZE, 10 by default) and an
# open transaction for as long as its body takes; a few at a time per worker
# leave the rest of the pool to the chat. More get 429.
MAX_UPLOADS_PER_WORKER = 4
# A client told "busy" tries again after about this long: an upload takes seconds.
RETRY_AFTER_SECONDS = 5
# Files are immutable under their key; an hour of a browser's private cache
# saves refetching a room's images on every visit, and a deleted message's
# files leave the caches of those who saw it within the hour.
CACHE_CONTROL = "private, max-age=3600"
# Every file response: nothing in it runs (no script, no plugin, no form, as if
# in a sandboxed frame with no origin), and the browser never guesses a type.
FILE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Accept-Ranges": "bytes",
    "Cache-Control": CACHE_CONTROL,
}
NOT_FOUND = "no file here"


def init_app(app: Flask) -> None:
    csrf.exempt(bp)  # api_login_required checks the CSRF token of session uploads
    app.register_blueprint(bp)
    app.extensions["upload_slots"] = threading.BoundedSemaphore(MAX_UPLOADS_PER_WORKER)


# --- upload ---------------------------------------------------------------------


@bp.post("/api/files")
@streams_body("UPLOAD_MAX_BYTES")
def upload():
    """Store the body as a file named `?name=`; 201 with its JSON (docs/files.md)."""
    api_login_required()
    if "avatar" in request.args:
        # The avatars' work: `?avatar=1` stores an image the same way, then
        # makes it the uploader's avatar (an `avatar` job crops it square).
        raise ChatError("bad_request", "avatar uploads are not available yet")
    config = current_app.config
    limit, quota = config["UPLOAD_MAX_BYTES"], config["UPLOAD_QUOTA_BYTES"]
    name = file_name(request.args.get("name", ""))
    slots = current_app.extensions["upload_slots"]
    if not slots.acquire(blocking=False):
        raise TooManyRequests(
            description="this server is busy with other uploads; try again shortly",
            retry_after=RETRY_AFTER_SECONDS,
        )
    try:
        with worker.connection() as conn:
            used = stored_files.quota_used(conn, current_user.id)
        length = request.content_length
        if length is not None and used + length > quota:
            raise actions.quota_exceeded(quota)
        body = _body(request.stream, limit, quota - used, quota)
        with worker.connection() as conn:
            file = actions.store_upload(
                conn, current_user.entity, name, body, quota, config["IMAGE_MAX_PIXELS"]
            )
    finally:
        slots.release()
    return jsonify(file=outbound.file_json(file)), 201


def _body(stream, limit: int, room: int, quota: int) -> Iterator[bytes]:
    """The request body in blocks, cut as soon as it passes `limit` bytes (413
    too_large) or the `room` left in the quota (413 quota_exceeded); each read
    must arrive within REQUEST_BODY_TIMEOUT (408), so a stalled client does
    not hold its connection and transaction for long."""
    import gevent

    seconds = current_app.config["REQUEST_BODY_TIMEOUT"]
    total = 0
    while True:
        try:
            with gevent.Timeout(seconds):
                block = stream.read(READ_BYTES)
        except gevent.Timeout:
            abort(408, description=f"the upload stalled for {seconds:g} seconds")
        if not block:
            return
        total += len(block)
        if total > limit:
            abort(413, description=too_large(limit))
        if total > room:
            raise actions.quota_exceeded(quota)
        yield block


# --- download -------------------------------------------------------------------


@bp.get("/thumbs/<key>")
@login_required
def thumbnail(key: str):
    """An image's thumbnail (404 until the worker has made it)."""
    return _serve(key, thumb=True)


@bp.get("/files/<key>/<name>")
@login_required
def download(key: str, name: str):
    """A file, for those who may read its message (the name is for the save dialog)."""
    return _serve(key, thumb=False)


@bp.get("/api/files/<key>")
def api_download(key: str):
    """The same download for scripts (Bearer token)."""
    api_login_required()
    return _serve(key, thumb=False)


@bp.delete("/api/files/<key>")
def api_delete(key: str):
    """Delete an upload of yours not sent yet (the chip's ×): 204; 404 for any
    other (someone else's, sent, missing)."""
    api_login_required()
    with worker.connection() as conn:
        actions.delete_upload(conn, current_user.entity, key)
    return "", 204


def _serve(key: str, thumb: bool) -> Response:
    if not is_key(key):
        abort(404, description=NOT_FOUND)
    with worker.connection() as conn:
        file = stored_files.readable_file(conn, key, current_user.id)
    if file is None:
        abort(404, description=NOT_FOUND)
    variant, media_type, inline = _choose(file, thumb)
    headers = {
        **FILE_HEADERS,
        "Content-Type": media_type,
        "Content-Disposition": _disposition(file.name, inline),
        "ETag": f'"{variant.sha256}"',
    }
    if _matches(request.headers.get("If-None-Match"), variant.sha256):
        return Response(status=304, headers=headers)
    size = variant.size
    start, stop, status = 0, size, 200
    wanted = _range(size, variant.sha256)
    if wanted == "unsatisfiable":
        headers["Content-Range"] = f"bytes */{size}"
        headers["Content-Type"] = "text/plain; charset=utf-8"
        del headers["Content-Disposition"]
        return Response(f"the file has {size} bytes", status=416, headers=headers)
    if wanted is not None:
        start, stop = wanted
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["Content-Length"] = str(stop - start)
    body = _chunks(worker.pool(), file.id, variant.name, start, stop)
    return Response(body, status=status, headers=headers, direct_passthrough=True)


def _choose(file: stored_files.StoredFile, thumb: bool):
    """(variant, Content-Type, inline) of what this reader gets, or 404."""
    if thumb:
        variant = file.variants.get("thumb")
        if variant is None:
            abort(404, description=NOT_FOUND)
        return variant, variant.media_type, variant.media_type in INLINE_TYPES
    original = file.original
    if original.media_type not in INLINE_TYPES:
        return original, original.media_type, False
    if file.owner_id == current_user.id:
        return original, original.media_type, True  # their own bytes, metadata and all
    clean = file.variants.get("clean")
    if clean is not None:
        return clean, clean.media_type, clean.media_type in INLINE_TYPES
    # Not cleaned yet (the page shows its box), or never to be (failed: the
    # worker could not read it, so its metadata could not be taken out):
    # others are never served an image's original bytes.
    abort(404, description=NOT_FOUND)


def _disposition(name: str, inline: bool) -> str:
    """RFC 6266 with RFC 8187's UTF-8 form: every name as it was stored, safely."""
    return f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(name, safe='')}"


def _matches(if_none_match: str | None, sha256: str) -> bool:
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or f'"{sha256}"' in tags


def _range(size: int, sha256: str) -> tuple[int, int] | str | None:
    """The one byte range asked for as (start, stop), "unsatisfiable", or None
    for the whole file (no Range, an If-Range for other bytes, several ranges,
    or one that does not parse: RFC 9110 lets a server ignore those)."""
    header = request.headers.get("Range")
    if not header or request.method not in ("GET", "HEAD"):
        return None
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != f'"{sha256}"':
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        length = int(last)  # the last `length` bytes
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - length), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    stop = size if last == "" else min(int(last) + 1, size)
    return start, stop


def _chunks(pool: ConnectionPool, file_id: int, variant: str, start: int, stop: int):
    """Bytes start..stop of a variant, a chunk read (and let go) at a time."""
    n = offset = 0
    if start:
        with pool.connection() as conn:
            sizes = stored_files.chunk_sizes(conn, file_id, variant)
        while n < len(sizes) and offset + sizes[n] <= start:
            offset += sizes[n]
            n += 1
    while offset < stop:
        with pool.connection() as conn:
            data = stored_files.chunk(conn, file_id, variant, n)
        if data is None:  # deleted meanwhile: the client sees a short body
            return
        low, high = max(start - offset, 0), min(stop - offset, len(data))
        if low < high:
            yield data if (low, high) == (0, len(data)) else data[low:high]
        offset += len(data)
        n += 1
        del data
