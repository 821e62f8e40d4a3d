"""Full-text search across the rooms a user may read: `/search` (HTML) and `/api/search` (JSON).

The query runs in chat/storage/search.py, whose SQL applies the visibility
rule every read uses. A room filter first goes through `access.room_or_404`,
so a room the user cannot see answers exactly like one that does not exist.
"""

from flask import Blueprint, Flask, jsonify, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from chat.domain.entities import Room
from chat.domain.errors import ChatError
from chat.protocol.outbound import timestamp
from chat.storage import search as messages
from chat.storage.search import START_SEL, STOP_SEL, Cursor
from chat.web import worker
from chat.web.access import api_login_required, my_rooms, room_or_404
from chat.web.errors import HTTP_STATUS
from chat.web.thread_pages import thread_url

bp = Blueprint("search", __name__)

# Long enough for any query a person types (several words, a quoted phrase);
# short enough that a pasted essay cannot become a huge tsquery.
MAX_QUERY_CHARS = 200


def clean_query(raw: str | None) -> str:
    """The query text, stripped; ChatError('bad_request') when missing, too long
    or holding NUL."""
    q = (raw or "").strip()
    if not q:
        raise ChatError("bad_request", "q is required: the words to search for")
    if len(q) > MAX_QUERY_CHARS:
        raise ChatError("bad_request", f"q is over {MAX_QUERY_CHARS} characters")
    if "\x00" in q:
        raise ChatError("bad_request", "q must not contain NUL characters")
    return q


def snippet_html(headline: str) -> Markup:
    """ts_headline's plain text as safe HTML: escaped, then its markers made <mark>."""
    escaped = str(escape(headline)).replace(STOP_SEL + START_SEL, "")  # join adjacent marks
    return Markup(escaped.replace(START_SEL, "<mark>").replace(STOP_SEL, "</mark>"))


def history_url(room: str, seq: int) -> str:
    """The history page that ends with this message (pages are `before=<seq>`), at its anchor."""
    return url_for("rooms.history", name=room, before=seq + 1, _anchor=f"m{seq}")


def _result(row: dict) -> dict:
    partner = row["partner"]
    title = f"@{partner}" if row["is_direct"] and partner else f"#{row['room']}"
    return {
        "room": row["room"],
        "room_title": title,
        "seq": row["seq"],
        "username": row["username"],
        "kind": row["kind"],
        "ts": timestamp(row["created_at"]),
        "created_at": row["created_at"],
        "edited": row["edited_at"] is not None,
        "rank": row["rank"],
        "snippet": snippet_html(row["headline"]),
        # A reply (docs/protocol.md, Threads): its thread's root seq, and its
        # link goes into the thread, where it shows.
        "thread": row["thread_seq"],
        "url": (
            thread_url(row["room"], row["thread_seq"], row["seq"])
            if row["thread_seq"] is not None
            else history_url(row["room"], row["seq"])
        ),
    }


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _run(args) -> tuple[str, Room | None, str | None, list[dict], Cursor | None]:
    """Validate the request's arguments and search; ChatError('bad_request') for a
    bad argument, 404 for a room filter naming a room the user cannot see (or
    that does not exist)."""
    q = clean_query(args.get("q"))
    room = room_or_404(args["room"]) if args.get("room") else None
    author = (args.get("author") or "").strip().lstrip("@") or None
    if author is not None and len(author) > 64:
        raise ChatError("bad_request", "author is not a username")
    cursor = Cursor.decode(args["cursor"]) if args.get("cursor") else None
    with worker.connection() as conn:
        rows, following = messages.search(
            conn, current_user.id, q, room.id if room else None, author, cursor
        )
    results = [_result(row) for row in rows]
    return q, room, author, results, following


@bp.get("/api/search")
def api_search():
    """Search messages: ?q= (words, "phrases", -exclude, or), &room=, &author=, &cursor=."""
    api_login_required()
    q, room, author, results, following = _run(request.args)  # a refusal: errors.refused
    return jsonify(
        q=q,
        room=room.name if room else None,
        author=author,
        results=[
            {key: value for key, value in r.items() if key != "created_at"}
            | {"snippet": str(r["snippet"])}
            for r in results
        ],
        next_cursor=following.encode() if following else None,
    )


@bp.get("/search")
@login_required
def page():
    """The search page: a plain GET form and one page of results; works without JavaScript."""
    args = request.args
    context = {
        "q": args.get("q", ""),
        "room_filter": args.get("room", ""),
        "author": args.get("author", ""),
        "rooms": my_rooms(),
        "results": None,
        "next_url": None,
        "error": None,
    }
    if not args.get("q") and not args.get("cursor"):
        return render_template("search.html", **context)
    try:
        q, room, author, results, following = _run(args)
    except ChatError as err:  # the form comes back with the reason
        page = render_template("search.html", **context | {"error": err.message})
        return page, HTTP_STATUS[err.code]
    next_url = None
    if following:
        next_url = url_for(
            "search.page",
            q=q,
            room=room.name if room else None,
            author=author,
            cursor=following.encode(),
        )
    found = {"results": results, "next_url": next_url, "paged": "cursor" in args}
    return render_template("search.html", **context | found)
