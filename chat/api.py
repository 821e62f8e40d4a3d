"""The JSON API for bots and scripts (DESIGN §4). Errors are JSON too."""

import psycopg
from flask import Blueprint, Flask, abort, current_app, g, jsonify, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from . import commands, db, protocol, queries, writer
from .forms import csrf
from .rooms import room_or_404, seq_arg

bp = Blueprint("api", __name__, url_prefix="/api")

# Enough for a screenful; more is a bulk export, which pages with `after`.
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
_NO_UPPER_BOUND = 2**62


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)
    app.register_error_handler(HTTPException, _error)
    app.register_error_handler(psycopg.OperationalError, _database_down)


def _database_down(exc: psycopg.OperationalError):
    """PostgreSQL is restarting or unreachable: 503, which clients may retry."""
    current_app.logger.warning("%s %s: database unavailable: %s", request.method, request.path, exc)
    return _error(ServiceUnavailable("the database is unavailable; retry (same client_id)"))


def _error(exc: HTTPException):
    """JSON errors under /api/, the usual HTML page elsewhere."""
    if not request.path.startswith("/api/"):
        return exc
    code = {
        400: "bad_request",
        401: "unauthorized",
        404: "not_found",
        408: "timeout",
        413: "too_large",
        503: "unavailable",
    }.get(exc.code, "error")
    return jsonify(error={"code": code, "message": exc.description}), exc.code


@bp.before_request
def authenticate():
    """Bearer token or session; a session-authenticated write needs the CSRF token."""
    if not current_user.is_authenticated:
        abort(401, description="log in or send Authorization: Bearer <token>")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.get("auth_by_token"):
        csrf.protect()


def message_json(room: dict, row: dict) -> dict:
    return protocol.chat_message(
        room["name"],
        row["seq"],
        row["username"],
        row["content"],
        row["created_at"],
        row["client_id"],
        row["html"],
        row["kind"],
    )


@bp.get("/rooms")
def list_rooms():
    """The rooms the caller can see."""
    with db.connection() as conn:
        rooms = queries.visible_rooms(conn, current_user.id)
    return jsonify(
        rooms=[
            {
                "name": r["name"],
                "private": r["is_private"],
                "last_seq": r["last_seq"],
                "unread": r["unread"],
                "mentions": r["mentions"],
            }
            for r in rooms
        ]
    )


@bp.get("/rooms/<name>/messages")
def list_messages(name: str):
    """Messages oldest first: `after=N` pages forward, else the newest before `before`."""
    room = room_or_404(name)
    after, before = seq_arg("after"), seq_arg("before")
    limit = seq_arg("limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        abort(400, description=f"limit must be 1 to {MAX_LIMIT}")
    with db.connection() as conn:
        if after is not None:
            rows = queries.messages_between(
                conn, room["id"], after, before or _NO_UPPER_BOUND, limit
            )
        else:
            rows = queries.messages_before(conn, room["id"], before or room["last_seq"] + 1, limit)
    return jsonify(
        room=room["name"],
        last_seq=room["last_seq"],
        messages=[message_json(room, r) for r in rows],
    )


@bp.post("/rooms/<name>/messages")
def send_message(name: str):
    """Send a message: {"content": "...", "client_id": "..."}; a repeat is answered 200."""
    room = room_or_404(name)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description='send a JSON object: {"content": "...", "client_id": "..."}')
    try:
        client_id = protocol.validate_client_id(body.get("client_id"))
        content = protocol.validate_content(
            body.get("content"), current_app.config["MAX_MESSAGE_CHARS"], client_id
        )
        command = commands.parse(content, client_id)
        outcome = commands.dispatch(
            command, room, current_user.as_row(), client_id, db.connection, writer.current()
        )
    except protocol.FrameError as exc:
        status = 429 if exc.code == "too_many_requests" else 400
        return jsonify(error={"code": exc.code, "message": exc.message}), status
    if outcome.notice is not None:
        # Nothing stored: /help (200), or a request a bot will answer in the room (202).
        notice = {"code": outcome.notice.code, "content": outcome.notice.content}
        status = 202 if outcome.notice.code == "queued" else 200
        return jsonify(
            room=room["name"], client_id=client_id, notice=notice, duplicate=outcome.duplicate
        ), status
    sent = outcome.sent
    status = 200 if sent.duplicate else 201
    return jsonify(
        room=room["name"], seq=sent.seq, client_id=client_id, duplicate=sent.duplicate
    ), status
