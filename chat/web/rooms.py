"""Room pages: the list, creating a room, the live page and the history pages (DESIGN §4)."""

from datetime import UTC

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from chat import actions
from chat.domain.entities import Room
from chat.domain.errors import ChatError
from chat.domain.render import for_reader
from chat.domain.threads import ROOT_SNIPPET_CHARS, snippet
from chat.domain.validate import validate_content
from chat.protocol.outbound import timestamp
from chat.realtime import commands
from chat.storage import media, queries, thread_pages
from chat.web import worker
from chat.web.access import my_rooms, room_or_404, seq_arg, with_title
from chat.web.errors import HTTP_STATUS, retry_after
from chat.web.forms import ActionForm, MessageForm, RoomForm, UsernameForm
from chat.web.limits import take_send_token
from chat.web.thread_pages import quote_url

bp = Blueprint("rooms", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_filter(timestamp, "timestamp")
    app.add_template_filter(for_reader, "for_reader")
    app.add_template_filter(lambda dt: dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M"), "utc_minute")


@bp.route("/")
def home():
    """Send people to their rooms, or to the login page."""
    return redirect(url_for("rooms.index"))


@bp.route("/rooms", methods=["GET", "POST"])
@login_required
def index():
    """The user's rooms and the directory of public rooms; POST creates a room
    (public or private)."""
    form = RoomForm()
    if form.validate_on_submit():
        try:
            with worker.connection() as conn:
                actions.create_room(conn, form.name.data, current_user.id, form.private.data)
        except ChatError as exc:
            form.name.errors.append(exc.message)
        else:
            return redirect(url_for("rooms.room", name=form.name.data))
    status = 400 if form.errors else 200
    with worker.connection() as conn:
        directory = queries.directory(conn, current_user.id)
    page = render_template(
        "rooms.html", rooms=my_rooms(), directory=directory, form=form, dm_form=UsernameForm()
    )
    return page, status


@bp.route("/direct", methods=["POST"])
@login_required
def direct():
    """Open (creating on first use) the direct conversation with another user."""
    form = UsernameForm()
    if not form.validate_on_submit():
        abort(400, description="say whom to message")
    try:
        with worker.connection() as conn:
            name = actions.open_direct(conn, current_user.entity, form.username.data.strip())
    except ChatError as exc:
        flash(exc.message)
        return redirect(url_for("rooms.index")), 303
    return redirect(url_for("rooms.room", name=name))


@bp.route("/rooms/<name>")
@login_required
def room(name: str):
    """The live chat page."""
    return room_page(room_or_404(name))


def room_page(room: Room, draft: str = "", refusal: str | None = None, status: int = 200):
    """The live chat page of the Room; `draft` fills the message box and `refusal`
    says why it was not sent (the form without JavaScript keeps the text)."""
    rooms = my_rooms()
    current = with_title(room, rooms)
    with worker.connection() as conn:
        members = queries.members_with_status(conn, room.id)
        last_read_seq = queries.read_seq(conn, room.id, current_user.id)
    invite_form = UsernameForm() if current.is_member and not room.is_direct else None
    # The owner may delete anyone's message (actions.delete_message); a direct room has none.
    moderator = room.created_by == current_user.id and not room.is_direct
    page = render_template(
        "room.html",
        moderator=moderator,
        room=current,
        rooms=rooms,
        member=current.is_member,
        members=members,
        last_read_seq=last_read_seq,
        invite_form=invite_form,
        form=MessageForm(),
        draft=draft,
        refusal=refusal,
    )
    return page, status


@bp.route("/rooms/<name>/join", methods=["POST"])
@login_required
def join(name: str):
    """Become a member of a public room (the Join button)."""
    room = room_or_404(name)
    ActionForm().validate_or_400()
    try:
        with worker.connection() as conn:
            actions.join(conn, room, current_user.entity)
    except ChatError as exc:
        flash(exc.message)
    return redirect(url_for("rooms.room", name=room.name), 303)


@bp.route("/rooms/<name>/leave", methods=["POST"])
@login_required
def leave(name: str):
    """Stop being a member of a room (it leaves the sidebar)."""
    room = room_or_404(name)
    ActionForm().validate_or_400()
    try:
        with worker.connection() as conn:
            actions.leave(conn, room, current_user.entity)
    except ChatError as exc:
        flash(exc.message)
        return redirect(url_for("rooms.room", name=room.name), 303)
    flash(f"You left #{room.name}.")
    return redirect(url_for("rooms.index"), 303)


@bp.route("/rooms/<name>/mute", methods=["POST"])
@login_required
def mute(name: str):
    """Mute or unmute a room of yours (form field muted: true or false)."""
    room = room_or_404(name)
    ActionForm().validate_or_400()
    muted = request.form.get("muted")
    if muted not in ("true", "false"):
        abort(400, description="muted is true or false")
    try:
        with worker.connection() as conn:
            actions.set_muted(conn, room, current_user.entity, muted == "true")
    except ChatError as exc:
        flash(exc.message)
    return redirect(url_for("rooms.room", name=room.name), 303)


@bp.route("/rooms/<name>/settings", methods=["POST"])
@login_required
def settings(name: str):
    """The room's creator sets its topic (field topic), renames it (field
    name) or archives it (field archived: true or false)."""
    room = room_or_404(name)
    ActionForm().validate_or_400()
    form = request.form
    topic, archived, new_name = form.get("topic"), form.get("archived"), form.get("name")
    if archived not in (None, "true", "false") or (topic, archived, new_name) == (None,) * 3:
        abort(400, description="send a topic, a name, or archived: true or false")
    if new_name is not None:
        new_name = new_name.strip().lower()  # as the form that creates a room
    try:
        with worker.connection() as conn:
            current = actions.update_room(
                conn,
                room,
                current_user.entity,
                topic,
                None if archived is None else archived == "true",
                new_name,
            )
    except ChatError as exc:
        flash(exc.message)
        current = room.name
    else:
        if new_name is not None:
            flash(f"#{room.name} is #{current} now; links to #{room.name} lead here.")
        elif topic is not None:
            flash("Topic set.")
        else:
            flash(f"#{room.name} {'archived' if archived == 'true' else 'is open again'}.")
    return redirect(url_for("rooms.room", name=current), 303)


@bp.route("/rooms/<name>/remove", methods=["POST"])
@login_required
def remove(name: str):
    """Leave a room, or (its creator) remove someone from it."""
    room = room_or_404(name)
    form = UsernameForm()
    if not form.validate_on_submit():
        abort(400, description="say whom to remove")
    try:
        with worker.connection() as conn:
            removed = actions.remove_member(conn, room, current_user.entity, form.username.data)
    except ChatError as exc:
        flash(exc.message)
        return redirect(url_for("rooms.room", name=room.name))
    flash(f"{removed} is no longer in #{room.name}.")
    if removed.lower() == current_user.username.lower():
        return redirect(url_for("rooms.index"))
    return redirect(url_for("rooms.room", name=room.name))


@bp.route("/rooms/<name>/invite", methods=["POST"])
@login_required
def invite(name: str):
    """A member adds someone to the room."""
    room = room_or_404(name)
    form = UsernameForm()
    if not form.validate_on_submit():
        abort(400, description="say whom to add")
    try:
        with worker.connection() as conn:
            added = actions.add_member(conn, room, current_user.entity, form.username.data.strip())
    except ChatError as exc:
        flash(exc.message)
    else:
        flash(f"{added} is now a member of #{room.name}.")
    return redirect(url_for("rooms.room", name=room.name))


@bp.route("/rooms/<name>/messages", methods=["POST"])
@login_required
def post_message(name: str):
    """Send from the plain HTML form (the page without JavaScript). A refused text
    comes back in the box with the reason (400): it is never lost."""
    room = room_or_404(name)
    text = MessageForm().content.data or ""  # CSRF is checked for every form (forms.csrf)
    history = url_for("rooms.history", name=room.name)
    try:
        take_send_token()
    except ChatError as err:  # over the send rate
        page, _ = room_page(room, draft=text, refusal=f"Not sent: {err.message}")
        return page, HTTP_STATUS[err.code], retry_after(err)
    try:
        content = validate_content(text, current_app.config["MAX_MESSAGE_CHARS"])
        command = commands.parse(content)
        outcome = commands.dispatch(
            command, room, current_user.entity, None, worker.connection, worker.writer()
        )
    except ChatError as err:  # nothing was stored: the text comes back to be corrected
        return room_page(room, draft=text, refusal=f"Not sent: {err.message}.", status=400)
    if outcome.notice is not None:  # /help, or a request a bot will answer
        flash(outcome.notice.content)
        return redirect(history)
    flash("Sent.")
    if outcome.absent:
        names = ", ".join(outcome.absent)
        flash(
            f"Not notified: {names} (not in #{room.name}). Add them from the room's people panel."
        )
    return redirect(f"{history}#m{outcome.sent.seq}")


# A history page shows at most this many membership lines (joins, leaves...)
# among its messages: a page stays readable, and bounded, even when hundreds
# joined between two messages (the earliest are shown).
MEMBER_LINES_MAX = 200


@bp.route("/rooms/<name>/history")
@login_required
def history(name: str):
    """Server-rendered history: newest page first, `?before=<seq>` for older pages.
    A page holds its messages and the membership events among them: those from
    its first message (from seq 1 on the oldest page) up to `before`."""
    room = room_or_404(name)
    page_size = current_app.config["HISTORY_PAGE_SIZE"]
    last_seq = room.last_seq
    before = seq_arg("before")
    if before is None:
        before = last_seq + 1
    with worker.connection() as conn:
        messages = queries.history_before(conn, room.id, before, page_size)
        edited = [m.seq for m in messages if m.edited_at is not None]
        versions = queries.versions(conn, room.id, edited) if edited else {}
        # Their authors' avatars ({username: file key}), for the avatar macro.
        pictures = media.avatars_of(conn, (m.username for m in messages))
        # The roots its replies also sent to the room name, in one read.
        named = {m.thread_seq for m in messages if m.thread_seq is not None}
        roots = thread_pages.roots_at(conn, room.id, named)
        since = messages[0].seq - 1 if messages and messages[0].seq > 1 else 0
        events = queries.member_events_between(conn, room.id, since, before, MEMBER_LINES_MAX)
        top = messages[-1].seq if messages else max(0, min(before, last_seq + 1) - 1)
        newer = None
        if queries.has_message_after(conn, room.id, top):
            # The next page up ends page_size messages further on (events are not shown).
            end = queries.nth_message_after(conn, room.id, top, page_size)
            newer = min(end + 1, last_seq + 1) if end is not None else last_seq + 1
    older = messages[0].seq if messages and messages[0].seq > 1 else None
    on_page = {m.seq for m in messages}
    return render_template(
        "history.html",
        room=with_title(room, my_rooms()),
        messages=messages,
        items=sorted([*messages, *events], key=lambda m: m.seq),
        versions=versions,
        pictures=pictures,
        before=before,
        older=older,
        newer=newer,
        latest=before > last_seq,
        quote_url=lambda quote: quote_url(room.name, quote, on_page),
        thread_roots=roots,
        root_snippet=lambda root: snippet(root.content, ROOT_SNIPPET_CHARS),
    )
