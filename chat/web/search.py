"""Full-text search across the rooms a user may read: `/search` (HTML) and `/api/search` (JSON).

Visibility is decided in the search SQL itself, by the same rule as
`queries.SQL_VISIBLE_ROOM`: public rooms, and private or direct rooms the user
is a member of. A room filter first goes through `rooms.room_or_404`, so a room
the user cannot see answers exactly like one that does not exist.
"""

import math
from dataclasses import dataclass

import psycopg
from flask import Blueprint, Flask, jsonify, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from psycopg import Connection

from chat.domain.errors import ChatError
from chat.protocol.outbound import timestamp
from chat.storage.queries import SQL_MESSAGE_KINDS
from chat.web import worker
from chat.web.api import authenticate
from chat.web.errors import HTTP_STATUS
from chat.web.rooms import room_or_404, visible_rooms

bp = Blueprint("search", __name__)

# A screenful of results; more is what the next page is for.
PAGE_SIZE = 20
# Long enough for any query a person types (several words, a quoted phrase);
# short enough that a pasted essay cannot become a huge tsquery.
MAX_QUERY_CHARS = 200
# A query matching a large share of a big installation (a very common word
# across every public room) must rank every match; this bounds that work so
# one search cannot hold a pooled connection for long.
SEARCH_TIMEOUT_MS = "5000"
# ts_headline marks matches with these; they are removed from the text first,
# so after HTML-escaping the snippet every one of them is ours to turn into
# <mark>. (Control characters: escaping leaves them alone.)
START_SEL, STOP_SEL = "\x01", "\x02"

SQL_STATEMENT_TIMEOUT = "SELECT set_config('statement_timeout', %s, true)"
# querytree() is the part of a query an index can answer: '' when the query has
# no words at all ("!!!"), 'T' when it only excludes words ("-dog"), which
# would mean reading every message.
SQL_QUERY_TREE = "SELECT querytree(websearch_to_tsquery('simple', %s)) AS tree"

# One page of matches, best first. `visible` is the visibility rule (public,
# or a member), narrowed to one room when a room filter is given; the kind and
# deleted_at conditions repeat migration 0007's so its partial GIN index
# applies, and keep events and deleted messages out even if a row's vector
# were stale. The keyset (rank, room_id, seq) continues after the previous
# page's last row: stable while new messages arrive. The snippet is made only
# for the page's rows.
SQL_SEARCH = (
    """
    WITH visible AS (
        SELECT r.id, r.name, r.is_direct
        FROM rooms r
        WHERE (NOT r.is_private OR EXISTS (
                SELECT 1 FROM room_members rm
                WHERE rm.room_id = r.id AND rm.user_id = %(user_id)s))
          AND (%(room_id)s::bigint IS NULL OR r.id = %(room_id)s::bigint)
    ),
    page AS (
        SELECT m.room_id, m.seq, m.user_id, m.kind, m.content, m.created_at, m.edited_at,
               ts_rank_cd(m.search, websearch_to_tsquery('simple', %(q)s))::float8 AS rank
        FROM messages m
        JOIN visible v ON v.id = m.room_id
        JOIN users u ON u.id = m.user_id
        WHERE m.search @@ websearch_to_tsquery('simple', %(q)s)
          AND m.kind IN """
    + SQL_MESSAGE_KINDS
    + """
          AND m.deleted_at IS NULL
          AND (%(author)s::text IS NULL OR lower(u.username) = lower(%(author)s::text))
          AND (%(after_rank)s::float8 IS NULL
               OR (ts_rank_cd(m.search, websearch_to_tsquery('simple', %(q)s))::float8,
                   m.room_id, m.seq)
                  < (%(after_rank)s::float8, %(after_room)s::bigint, %(after_seq)s::bigint))
        ORDER BY rank DESC, m.room_id DESC, m.seq DESC
        LIMIT %(limit)s
    )
    SELECT p.rank, p.room_id, p.seq, p.kind, p.created_at, p.edited_at,
           v.name AS room, v.is_direct, u.username,
           CASE WHEN v.is_direct THEN (
               SELECT o.username FROM room_members om JOIN users o ON o.id = om.user_id
               WHERE om.room_id = p.room_id AND om.user_id <> %(user_id)s
               LIMIT 1
           ) END AS partner,
           ts_headline('simple', translate(p.content, E'\\x01\\x02', ''),
                       websearch_to_tsquery('simple', %(q)s),
                       'StartSel="\x01", StopSel="\x02", MaxWords=35, MinWords=15, ShortWord=2')
               AS headline
    FROM page p
    JOIN visible v ON v.id = p.room_id
    JOIN users u ON u.id = p.user_id
    ORDER BY p.rank DESC, p.room_id DESC, p.seq DESC
"""
)


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after this (rank, room_id, seq), in that order descending."""

    rank: float
    room_id: int
    seq: int

    def encode(self) -> str:
        return f"{self.rank!r}_{self.room_id}_{self.seq}"  # repr: the float round-trips exactly

    @classmethod
    def decode(cls, raw: str) -> "Cursor":
        """The cursor `encode` wrote; ChatError('bad_request') for any other text."""
        parts = raw.split("_")
        if len(parts) != 3 or not all(_whole(p) for p in parts[1:]):
            raise ChatError("bad_request", "cursor is not one this server gave out")
        try:
            rank = float(parts[0])
        except ValueError:
            raise ChatError("bad_request", "cursor is not one this server gave out") from None
        if not math.isfinite(rank) or rank < 0:
            raise ChatError("bad_request", "cursor is not one this server gave out")
        return cls(rank, int(parts[1]), int(parts[2]))


def _whole(raw: str) -> bool:
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


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


def search(
    conn: Connection,
    user_id: int,
    q: str,
    room_id: int | None = None,
    author: str | None = None,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[dict], Cursor | None]:
    """One page of the user's matches, best first, and the cursor of the next page (or None).

    Raises ChatError('bad_request') for a query with no word to look for, or
    one that matches too much to rank within SEARCH_TIMEOUT_MS.
    """
    tree = conn.execute(SQL_QUERY_TREE, (q,)).fetchone()["tree"]
    if tree == "":
        raise ChatError("bad_request", "the query has no words to search for")
    if tree == "T":
        raise ChatError("bad_request", "search for at least one word, not only -excluded ones")
    conn.execute(SQL_STATEMENT_TIMEOUT, (SEARCH_TIMEOUT_MS,))  # this transaction only
    params = {
        "user_id": user_id,
        "q": q,
        "room_id": room_id,
        "author": author,
        "after_rank": after.rank if after else None,
        "after_room": after.room_id if after else None,
        "after_seq": after.seq if after else None,
        "limit": limit + 1,  # one more tells whether there is a next page
    }
    try:
        rows = conn.execute(SQL_SEARCH, params).fetchall()
    except psycopg.errors.QueryCanceled:
        raise ChatError(
            "bad_request", "that search matches too much: add words or filter by room"
        ) from None
    more = len(rows) > limit
    rows = rows[:limit]
    following = Cursor(rows[-1]["rank"], rows[-1]["room_id"], rows[-1]["seq"]) if more else None
    return [_result(row) for row in rows], following


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
        "url": history_url(row["room"], row["seq"]),
    }


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _run(args) -> tuple[str, dict | None, str | None, list[dict], Cursor | None]:
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
        results, following = search(
            conn, current_user.id, q, room.id if room else None, author, cursor
        )
    return q, room, author, results, following


@bp.get("/api/search")
def api_search():
    """Search messages: ?q= (words, "phrases", -exclude, or), &room=, &author=, &cursor=."""
    authenticate()
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
        "rooms": visible_rooms(),
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
