"""Threads in the JSON API (docs/protocol.md, Threads): read a thread, follow
or unfollow it, mark it read, and list the threads one follows. Replying is
sending a message with `thread` (chat/web/api.py). A room the caller cannot
see answers 404 on every route, exactly like one that does not exist.
"""

from flask import Blueprint, Flask, abort, jsonify, request
from flask_login import current_user

from chat import actions
from chat.domain.errors import ChatError
from chat.domain.validate import SEQ_MAX
from chat.protocol import outbound
from chat.storage import threads
from chat.web import worker
from chat.web.access import api_login_required, limit_arg, room_or_404, seq_arg
from chat.web.forms import csrf

bp = Blueprint("threads_api", __name__, url_prefix="/api")

# Replies in one answer; a longer thread pages with `after`.
MAX_LIMIT = 200
DEFAULT_LIMIT = 100
# Lines of the Threads view: the most recent followed threads.
FOLLOWED_MAX = 100


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)


bp.before_request(api_login_required)


def _root_or_404(room_id: int, seq: int, name: str) -> int:
    with worker.connection() as conn:
        root = threads.root_of(conn, room_id, seq)
    if root is None:
        abort(404, description=f"no message {seq} in #{name}")
    return root


@bp.get("/rooms/<name>/threads/<int:seq>")
def get_thread(name: str, seq: int):
    """A thread: its `root` and a page of `replies`, oldest first: with `after=N`
    the first `limit` after it, else the newest `limit` before `before` (or
    the newest of all); `more` says whether replies lie beyond the page (after
    it, paging forward; before it, paging back). The caller's `state` of it
    (null when they never followed it). A reply's seq names its thread."""
    room = room_or_404(name)
    after, before = seq_arg("after"), seq_arg("before")
    limit = limit_arg(DEFAULT_LIMIT, MAX_LIMIT)
    root = _root_or_404(room.id, min(seq, SEQ_MAX), room.name)
    newest = after is None
    with worker.connection() as conn:
        root_message = threads.message_at(conn, room.id, root)
        page = threads.replies(
            conn,
            room.id,
            root,
            after or 0,
            SEQ_MAX if before is None else before,
            limit + 1,
            newest,
        )
        state = threads.thread_state(conn, current_user.id, room.id, root)
    more = len(page) > limit
    page = page[1:] if more and newest else page[:limit]
    return jsonify(
        room=room.name,
        thread=root,
        root=outbound.row_message(room.name, root_message),
        replies=[outbound.row_message(room.name, m) for m in page],
        more=more,
        state=outbound.thread_state_json(state) if state else None,
    )


def _following(name: str, seq: int, following: bool):
    room = room_or_404(name)
    with worker.connection() as conn:
        state = actions.set_following(conn, room, current_user.entity, seq, following)
    return jsonify(outbound.thread_state_json(state))


@bp.put("/rooms/<name>/threads/<int:seq>/follow")
def follow(name: str, seq: int):
    """Follow the thread (its replies count as unread for the caller); the state now."""
    return _following(name, seq, True)


@bp.delete("/rooms/<name>/threads/<int:seq>/follow")
def unfollow(name: str, seq: int):
    """Stop following the thread (replying or being mentioned follows it again)."""
    return _following(name, seq, False)


@bp.post("/rooms/<name>/threads/<int:seq>/read")
def read(name: str, seq: int):
    """Mark the thread read up to {"seq": N} (never backwards); the state now,
    or 404 when the caller does not follow it."""
    room = room_or_404(name)
    body = request.get_json(silent=True)
    upto = body.get("seq") if isinstance(body, dict) else None
    if type(upto) is not int or not 0 <= upto <= SEQ_MAX:
        abort(400, description='send {"seq": N}: the last reply read')
    with worker.connection() as conn:
        state = actions.read_thread(conn, room, current_user.entity, seq, upto)
    if state is None:
        raise ChatError("not_found", "you do not follow that thread")
    return jsonify(outbound.thread_state_json(state))


@bp.get("/threads")
def followed():
    """The caller's followed threads, those with unread replies first, then the
    most recent: each with its room, root message and counts."""
    with worker.connection() as conn:
        lines = threads.followed_threads(conn, current_user.id, FOLLOWED_MAX)
    return jsonify(
        threads=[
            {
                **outbound.thread_state_json(line.state),
                "root": outbound.row_message(line.state.room, line.root),
                "replies": outbound.replies_json(line.replies),
            }
            for line in lines
        ],
        unread=sum(line.state.unread for line in lines),
        mentions=sum(line.state.mentions for line in lines),
    )
