"""Thread pages that work without JavaScript (docs/protocol.md, Threads): a
thread's root and replies (`GET /rooms/<name>/threads/<seq>`), and the
Threads view, the threads one follows (`GET /threads`). The live thread
panel is the room page's (`/rooms/<name>?thread=<seq>`).

A room the user may not see, and a seq that is not a message of it, answer
404 like every room route (access.room_or_404).
"""

from flask import Blueprint, Flask, abort, redirect, render_template, url_for
from flask_login import current_user, login_required

from chat.domain import threads as threads_domain
from chat.domain.entities import Message, Quote
from chat.domain.validate import SEQ_MAX
from chat.storage import media, queries, thread_pages, threads
from chat.web import worker
from chat.web.access import my_rooms, room_or_404, seq_arg, with_title

bp = Blueprint("thread_pages", __name__)

# Replies on one thread page: a long thread reads in pages (`?after=`), as
# the JSON API serves it (chat/web/threads.py MAX_LIMIT).
REPLIES_PER_PAGE = 200
# Lines of the Threads view: as the JSON API's (chat/web/threads.py FOLLOWED_MAX).
FOLLOWED_MAX = 100


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def thread_url(room: str, root: int, seq: int | None = None) -> str:
    """The thread page of the root, at message `seq`'s anchor if given (a reply
    past the first page is found by its seq: the page redirects there)."""
    anchor = f"m{seq}" if seq is not None and seq != root else None
    return url_for("thread_pages.thread", name=room, seq=seq or root, _anchor=anchor)


def quote_url(room: str, quote: Quote, on_page: set[int]) -> str:
    """Where a quote-reply's link goes on a page without script: the quoted
    message on this page, else its thread's page for a reply, else the
    history page that ends with it."""
    if quote.seq in on_page:
        return f"#m{quote.seq}"
    if quote.thread is not None:
        return thread_url(room, quote.thread, quote.seq)
    return url_for("rooms.history", name=room, before=quote.seq + 1, _anchor=f"m{quote.seq}")


@bp.get("/rooms/<name>/threads/<int:seq>")
@login_required
def thread(name: str, seq: int):
    """A thread as a page: its root (or "original message deleted") and its
    replies oldest first, REPLIES_PER_PAGE a page (`?after=<seq>`). A reply's
    seq redirects to its thread's page, at the reply."""
    room = room_or_404(name)
    after = seq_arg("after") or 0
    seq = min(seq, SEQ_MAX)
    with worker.connection() as conn:
        root = threads.root_of(conn, room.id, seq)
        if root is None:
            abort(404, description=f"no message {seq} in #{room.name}")
        if root != seq:
            return redirect(_reply_url(conn, room.name, room.id, root, seq), 302)
        # The root, a page of replies, and one more: whether a next page follows.
        rows = thread_pages.thread_page(conn, room.id, root, after, REPLIES_PER_PAGE + 2)
        root_message = next((m for m in rows if m.seq == root), None)
        replies = [m for m in rows if m.seq != root]
        more = len(replies) > REPLIES_PER_PAGE
        replies = replies[:REPLIES_PER_PAGE]
        if root_message is None:  # a page past the first: the root on top all the same
            root_message = thread_pages.thread_root(conn, room.id, root)
        shown = [root_message, *replies]
        edited = [m.seq for m in shown if m.edited_at is not None]
        versions = queries.versions(conn, room.id, edited) if edited else {}
        pictures = media.avatars_of(conn, (m.username for m in shown))
        state = threads.thread_state(conn, current_user.id, room.id, root)
    page_url = url_for("thread_pages.thread", name=room.name, seq=root, after=after or None)
    on_page = {m.seq for m in shown}
    return render_template(
        "thread.html",
        room=with_title(room, my_rooms()),
        root=root_message,
        replies=replies,
        versions=versions,
        pictures=pictures,
        page_url=page_url,
        quote_url=lambda quote: quote_url(room.name, quote, on_page),
        paged=after > 0,
        next_after=replies[-1].seq if more else None,
        state=state,
    )


def _reply_url(conn, name: str, room_id: int, root: int, seq: int) -> str:
    """Where reply `seq` shows: its root's page (from the reply itself when
    the first page cannot hold it), at its anchor."""
    before = thread_pages.replies_before(conn, room_id, root, seq, REPLIES_PER_PAGE)
    after = seq - 1 if before >= REPLIES_PER_PAGE else None
    return url_for("thread_pages.thread", name=name, seq=root, after=after, _anchor=f"m{seq}")


@bp.get("/threads")
@login_required
def followed():
    """The Threads view: the threads the user follows, those with unread
    replies first, then by their last reply; each links to the live thread."""
    with worker.connection() as conn:
        lines = threads.followed_threads(conn, current_user.id, FOLLOWED_MAX)
    rooms = my_rooms()
    titles = {r.name: r.title for r in rooms}
    return render_template(
        "threads.html",
        lines=lines,
        titles=titles,
        snippet=snippet,
        unread=sum(line.state.unread for line in lines),
    )


# The start of a root's text the Threads view shows: a line's worth.
SNIPPET_CHARS = 140


def snippet(message: Message) -> str:
    """The start of the message's text, as text (the page escapes it)."""
    return threads_domain.snippet(message.content, SNIPPET_CHARS)
