"""Who is asking and what they may see, for every view: the room visibility rule
(chat/storage/queries.py SQL_READABLE_BY) behind every route, JSON API login,
and the query arguments every paged view reads.

A room the user may not see answers exactly like one that does not exist (404)
on every route, so room names never leak. A room asked for by a name it had
before a rename is found too: a page redirects to its current name, the JSON
API and sockets act on it and answer with the current name.
"""

from flask import abort, g, redirect, request, url_for
from flask_login import current_user

from chat.domain.entities import Room, RoomListing
from chat.domain.errors import ChatError
from chat.storage import queries
from chat.web import worker
from chat.web.forms import csrf


def find_room(name: str) -> Room | None:
    """The Room if it exists and the current user may see it, else None."""
    with worker.reading() as conn:
        return queries.visible_room(conn, name, current_user.id)


def room_or_404(name: str) -> Room:
    """The Room the current user may see; aborts with 404 otherwise."""
    room = find_room(name)
    if room is None:
        # The same answer, word for word, for a room that exists but is not visible.
        abort(404, description="no room by that name")
    if room.name != name and _is_page_by_name(name):
        # An old link: the page lives at the room's current name. 302, not 301:
        # a rename back makes the old name current again.
        args = {**request.view_args, "name": room.name}
        abort(redirect(url_for(request.endpoint, **args, **request.args.to_dict(flat=False)), 302))
    return room


def member_room_or_404(name: str) -> Room:
    """The Room, if the current user is a member (its webhooks are the members'
    business): 404 if they may not see it, ChatError('forbidden') (403) if they
    may (a public room) but are not a member."""
    room = room_or_404(name)
    with worker.connection() as conn:
        if not queries.is_member(conn, room.id, current_user.id):
            raise ChatError("forbidden", f"only members of #{room.name} manage its webhooks")
    return room


# Ids are PostgreSQL bigints: a larger number in a URL names nothing, and must
# not reach a query, where it would not fit.
ID_MAX = 2**63 - 1


def id_or_404(value: int, description: str | None = None) -> int:
    """A path's id, or 404 (with `description`) for one no bigint can be."""
    if value > ID_MAX:
        abort(404, description=description)
    return value


def _is_page_by_name(name: str) -> bool:
    """A GET of a page whose URL names the room (not the JSON API, not a socket)."""
    return (
        request.method in ("GET", "HEAD")
        and not request.path.startswith("/api/")
        and (request.view_args or {}).get("name") == name
    )


def my_rooms() -> list[RoomListing]:
    """The rooms the current user is a member of (their sidebar), as RoomListings:
    each Room with its title, unread and mention counts (queries.member_rooms)."""
    with worker.connection() as conn:
        return queries.member_rooms(conn, current_user.id)


def with_title(room: Room, rooms: list[RoomListing]) -> RoomListing:
    """The Room as the reader's list has it (its title: #name, or @someone for
    a direct room); a listing of its own if the list lacks it."""
    return next((r for r in rooms if r.id == room.id), RoomListing(room))


def seq_arg(name: str) -> int | None:
    """An optional non-negative integer query argument; aborts with 400 for anything else."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        abort(400, description=f"{name} must be a non-negative whole number")
    return int(raw)


def limit_arg(default: int, most: int) -> int:
    """The optional `limit` query argument: 1 to `most`, `default` when left
    out; aborts with 400 for anything else."""
    limit = seq_arg("limit")
    if limit is None:
        return default
    if not 1 <= limit <= most:
        abort(400, description=f"limit must be 1 to {most}")
    return limit


def api_login_required() -> None:
    """For JSON routes: a Bearer token or a session, else 401; a session-authenticated
    write also needs the CSRF token (a token-authenticated call carries no cookie)."""
    if not current_user.is_authenticated:
        abort(401, description="log in or send Authorization: Bearer <token>")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not g.get("auth_by_token"):
        csrf.protect()
