"""The JSON API for bots and scripts (DESIGN §4). Errors are JSON too (chat/web/errors.py):
a refusal (ChatError, nothing stored) answers with the status of its code and
the code a socket's error frame would carry."""

from flask import Blueprint, Flask, abort, current_app, jsonify, request
from flask_login import current_user

from chat import actions
from chat.domain.entities import Message, Room
from chat.domain.validate import (
    SEQ_MAX,
    validate_client_id,
    validate_content,
    validate_emoji,
    validate_file_keys,
    validate_reply_to,
    validate_room_name,
)
from chat.protocol import outbound
from chat.realtime import commands
from chat.storage import queries
from chat.web import worker
from chat.web.access import api_login_required, limit_arg, room_or_404, seq_arg
from chat.web.avatars import avatar_url
from chat.web.forms import csrf
from chat.web.limits import send_limited

bp = Blueprint("api", __name__, url_prefix="/api")

# Enough for a screenful; more is a bulk export, which pages with `after`.
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)


bp.before_request(api_login_required)


def message_json(room: Room, message: Message) -> dict:
    """A stored Message (current state) or event of the Room, as the socket's frame for it."""
    return outbound.row_message(room.name, message)


@bp.get("/rooms")
def list_rooms():
    """The rooms the caller is a member of, with counts (the sidebar; the /ws
    `rooms` frame has the same entries)."""
    with worker.connection() as conn:
        rooms = queries.member_rooms(conn, current_user.id)
    return jsonify(rooms=[outbound.listing_json(r) for r in rooms])


@bp.post("/rooms")
def create_room():
    """Create a room: {"name": "...", "private": false, "topic": ""}; 201 with its listing."""
    body = _json_body('{"name": "design", "private": false}')
    name = validate_room_name(body.get("name"))
    private = body.get("private", False)
    topic = body.get("topic")
    if not isinstance(private, bool) or not (topic is None or isinstance(topic, str)):
        abort(400, description="private is true or false; topic is a string")
    with worker.connection() as conn:
        with conn.transaction():
            room = actions.create_room(conn, name, current_user.id, private)
            if topic:
                actions.update_room(conn, room, current_user.entity, topic=topic)
        listing = queries.member_room(conn, current_user.id, room.id)
    return jsonify(room=outbound.listing_json(listing)), 201


@bp.get("/directory")
def directory():
    """The public rooms anyone may join (not archived), with topic and member count."""
    with worker.connection() as conn:
        rooms = queries.directory(conn, current_user.id)
    return jsonify(
        rooms=[
            {"name": room.name, "topic": room.topic, "members": count, "joined": joined}
            for room, count, joined in rooms
        ]
    )


@bp.post("/rooms/<name>/join")
def join_room(name: str):
    """Become a member of a public room: 201 with the join's seq, 200 if already one."""
    room = room_or_404(name)
    with worker.connection() as conn:
        seq = actions.join(conn, room, current_user.entity)
    return jsonify(room=room.name, seq=seq, joined=seq is not None), 200 if seq is None else 201


@bp.post("/rooms/<name>/leave")
def leave_room(name: str):
    """Stop being a member of a room: 200 with the leave's seq; 404 if not a member."""
    room = room_or_404(name)
    with worker.connection() as conn:
        seq = actions.leave(conn, room, current_user.entity)
    return jsonify(room=room.name, seq=seq)


@bp.get("/rooms/<name>/members")
def list_members(name: str):
    """The room's members with their status (online, away, offline), display
    name and avatar's URL (each null when not set), by username."""
    room = room_or_404(name)
    with worker.connection() as conn:
        members = queries.members_with_status(conn, room.id)
    return jsonify(
        room=room.name,
        private=room.is_private,
        members=[
            {
                "username": m.username,
                "status": m.status,
                "display_name": m.display_name,
                "avatar": avatar_url(m.username, m.avatar_key),
            }
            for m in members
        ],
    )


@bp.post("/rooms/<name>/members")
def add_member(name: str):
    """A member adds someone: {"username": "..."}; 201."""
    room = room_or_404(name)
    username = _json_body('{"username": "dave"}').get("username")
    if not isinstance(username, str) or not username.strip():
        abort(400, description="username: whom to add")
    with worker.connection() as conn:
        added = actions.add_member(conn, room, current_user.entity, username.strip())
    return jsonify(room=room.name, username=added), 201


@bp.delete("/rooms/<name>/members/<username>")
def remove_member(name: str, username: str):
    """Remove someone (the room's creator), or yourself (leaving)."""
    room = room_or_404(name)
    with worker.connection() as conn:
        removed = actions.remove_member(conn, room, current_user.entity, username)
    return jsonify(room=room.name, username=removed)


@bp.patch("/rooms/<name>")
def update_room(name: str):
    """{"muted": bool} for yourself; {"topic": str, "name": str, "archived": bool}
    for its creator (a new name keeps the old one working as an alias)."""
    room = room_or_404(name)
    body = _json_body('{"muted": true}')
    fields = ("muted", "topic", "archived", "name")
    if set(body) - set(fields) or all(body.get(key) is None for key in fields):
        abort(400, description="send any of muted, topic, name, archived (not null)")
    muted, topic, archived = body.get("muted"), body.get("topic"), body.get("archived")
    new_name = body.get("name")
    if not all(v is None or isinstance(v, bool) for v in (muted, archived)) or not all(
        v is None or isinstance(v, str) for v in (topic, new_name)
    ):
        abort(400, description="muted and archived are true or false; topic and name strings")
    with worker.connection() as conn:
        with conn.transaction():
            if topic is not None or archived is not None or new_name is not None:
                actions.update_room(conn, room, current_user.entity, topic, archived, new_name)
            if muted is not None:
                actions.set_muted(conn, room, current_user.entity, muted)
        listing = queries.member_room(conn, current_user.id, room.id)
    return jsonify(room=outbound.listing_json(listing))


@bp.post("/direct")
def open_direct():
    """The direct conversation with {"username": "..."}, created on first use."""
    username = _json_body('{"username": "dave"}').get("username")
    if not isinstance(username, str) or not username.strip():
        abort(400, description="username: whom to message")
    with worker.connection() as conn:
        name = actions.open_direct(conn, current_user.entity, username.strip())
    return jsonify(room=name)


@bp.get("/rooms/<name>/messages")
def list_messages(name: str):
    """Messages and events oldest first: `after=N` pages forward, else the newest
    before `before`; `only=messages` leaves the events out, `only=main` the
    events and the replies not also sent to the room."""
    room = room_or_404(name)
    after, before = seq_arg("after"), seq_arg("before")
    limit = limit_arg(DEFAULT_LIMIT, MAX_LIMIT)
    only = request.args.get("only", "")
    if only not in ("", "messages", "main"):
        abort(
            400,
            description="only must be 'messages' or 'main' (or left out, for messages and events)",
        )
    # main: the room's main flow (no events; replies only when also sent to the room).
    which = {"messages_only": only == "messages", "main_only": only == "main"}
    with worker.connection() as conn:
        # `before=0` is a bound like any other (nothing is below seq 0), not "no bound".
        if after is not None:
            upto = SEQ_MAX if before is None else before
            rows = queries.messages_between(conn, room.id, after, upto, limit, **which)
        else:
            upto = room.last_seq + 1 if before is None else before
            rows = queries.messages_before(conn, room.id, upto, limit, **which)
    return jsonify(
        room=room.name,
        last_seq=room.last_seq,
        messages=[message_json(room, r) for r in rows],
    )


@bp.post("/rooms/<name>/messages")
@send_limited
def send_message(name: str):
    """Send a message: {"content": "...", "client_id": "...", "files": ["<id>", ...],
    "thread": <seq>, "also_in_room": false, "quote": <seq>} (content may be empty
    with files; thread, also_in_room and quote: docs/protocol.md, Threads); a
    repeat is answered 200."""
    room = room_or_404(name)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description='send a JSON object: {"content": "...", "client_id": "..."}')
    client_id = validate_client_id(body.get("client_id"))
    files = validate_file_keys(body.get("files"))
    reply = validate_reply_to(body)
    max_chars = current_app.config["MAX_MESSAGE_CHARS"]
    content = validate_content(body.get("content"), max_chars, blank_ok=bool(files))
    command = commands.parse(content)
    outcome = commands.dispatch(
        command,
        room,
        current_user.entity,
        client_id,
        worker.connection,
        worker.writer(),
        files,
        reply,
    )
    if outcome.notice is not None:
        # Nothing stored: /help (200), or a request a bot will answer in the room (202).
        notice = {"code": outcome.notice.code, "content": outcome.notice.content}
        status = 202 if outcome.notice.code == "queued" else 200
        return jsonify(
            room=room.name, client_id=client_id, notice=notice, duplicate=outcome.duplicate
        ), status
    sent = outcome.sent
    status = 200 if sent.duplicate else 201
    answer = {
        "room": room.name,
        "seq": sent.seq,
        "client_id": client_id,
        "duplicate": sent.duplicate,
    }
    if outcome.absent:
        answer["not_members"] = list(outcome.absent)
    return jsonify(answer), status


# --- edits, deletions, reactions ------------------------------------------------


def _json_body(example: str) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description=f"send a JSON object: {example}")
    return body


def _optional_json_body(example: str) -> dict:
    """An optional body: {} when there is none, else a JSON object (400 for
    anything else: a body that does not parse may have carried the client_id
    that makes a resend safe, so it is refused, never ignored)."""
    if not request.get_data():
        return {}
    return _json_body(example)


def _event_answer(room: Room, client_id: str | None, write) -> tuple:
    """Run one event action in the Room; its outcome as JSON (a refusal: errors.refused)."""
    with worker.connection() as conn:
        event = write(conn)
    answer = {
        "room": room.name,
        "seq": event.seq,
        "target_seq": event.target_seq,
        "client_id": client_id,
        "duplicate": event.duplicate,
    }
    if event.on is not None:
        answer["on"] = event.on
    return jsonify(answer), 200


def _target_seq(seq: int) -> int:
    if seq > SEQ_MAX:
        abort(404, description=f"no message {seq}")
    return seq


@bp.patch("/rooms/<name>/messages/<int:seq>")
@send_limited
def edit_message(name: str, seq: int):
    """Edit your own message: {"content": "...", "client_id": "..."}."""
    room = room_or_404(name)
    seq = _target_seq(seq)
    body = _json_body('{"content": "...", "client_id": "..."}')
    client_id = validate_client_id(body.get("client_id"))
    content = validate_content(body.get("content"), current_app.config["MAX_MESSAGE_CHARS"])
    user = current_user.entity
    return _event_answer(
        room,
        client_id,
        lambda conn: actions.edit_message(conn, room, user, seq, content, client_id),
    )


@bp.delete("/rooms/<name>/messages/<int:seq>")
@send_limited
def delete_message(name: str, seq: int):
    """Delete a message: your own, or any in a room you own. Optional body {"client_id"}."""
    room = room_or_404(name)
    seq = _target_seq(seq)
    body = _optional_json_body('{"client_id": "..."} (or no body)')
    client_id = validate_client_id(body.get("client_id"))
    user = current_user.entity
    return _event_answer(
        room, client_id, lambda conn: actions.delete_message(conn, room, user, seq, client_id)
    )


@bp.post("/rooms/<name>/messages/<int:seq>/reactions")
@send_limited
def toggle_reaction(name: str, seq: int):
    """Toggle your reaction: {"emoji": "👍", "client_id": "..."}; the answer's `on`
    says whether it is now there."""
    room = room_or_404(name)
    seq = _target_seq(seq)
    body = _json_body('{"emoji": "👍", "client_id": "..."}')
    client_id = validate_client_id(body.get("client_id"))
    emoji = validate_emoji(body.get("emoji"))
    user = current_user.entity
    return _event_answer(
        room,
        client_id,
        lambda conn: actions.toggle_reaction(conn, room, user, seq, emoji, client_id),
    )


@bp.delete("/rooms/<name>/messages/<int:seq>/preview")
@send_limited
def remove_preview(name: str, seq: int):
    """Remove your message's link preview (a `preview_remove` event). Optional body
    {"client_id"}."""
    room = room_or_404(name)
    seq = _target_seq(seq)
    body = _optional_json_body('{"client_id": "..."} (or no body)')
    client_id = validate_client_id(body.get("client_id"))
    user = current_user.entity
    return _event_answer(
        room, client_id, lambda conn: actions.remove_preview(conn, room, user, seq, client_id)
    )
