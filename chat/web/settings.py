"""A person's own account: the settings page (display name, picture, password,
login sessions, API tokens) and its JSON API (`/api/me`, `/api/tokens`).

The page works without JavaScript: each section is a form that posts to its
own route and comes back to the page (303: Post/Redirect/Get, so a reload of
the page repeats nothing). A new token is kept in the session for that one
page and shown once, never again.
"""

from datetime import UTC, datetime

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user

from chat import actions
from chat.domain import imaging
from chat.domain.entities import ApiToken
from chat.domain.errors import ChatError
from chat.domain.validate import validate_display_name, validate_token_name
from chat.protocol.outbound import timestamp
from chat.storage import media, queries
from chat.web import worker
from chat.web.access import api_login_required, id_or_404
from chat.web.auth import Account, check_password, user_agent
from chat.web.forms import DisplayNameForm, PasswordChangeForm, TokenForm, csrf

bp = Blueprint("settings", __name__)
api_bp = Blueprint("settings_api", __name__, url_prefix="/api")
api_bp.before_request(api_login_required)


def init_app(app: Flask) -> None:
    csrf.exempt(api_bp)  # api_login_required checks CSRF on session-authenticated writes
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)


@bp.app_template_filter("ago")
def ago(moment: datetime, now: datetime | None = None) -> str:
    """How long ago, as a person reads it at a glance: "just now", "5 minutes
    ago", "3 hours ago", "2 days ago"; past a month, the date."""
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 90:  # last_seen_at moves once a minute: closer than that is "now"
        return "just now"
    for unit, size, limit in (("minute", 60, 60), ("hour", 3600, 24), ("day", 86400, 31)):
        count = round(seconds / size)
        if count < limit:
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return moment.astimezone(UTC).strftime("on %Y-%m-%d")


# --- the page -----------------------------------------------------------------


@bp.get("/settings")
@login_required
def page():
    """The settings page (with a token just made, the one time it is shown)."""
    return _render(new_token=session.pop(NEW_TOKEN_KEY, None))


# The session's key for a token made by the form, until the page shows it. The
# session cookie already carries a credential as strong (the login session's
# token), for one request more; the page that pops it is never cached.
NEW_TOKEN_KEY = "new_token"


def _render(status: int = 200, new_token: dict | None = None, **forms):
    """The page with `forms` as submitted (errors and all) and fresh ones for the
    other sections; `new_token` ({"token", "name"}) is shown once, in this answer only."""
    with worker.connection() as conn:
        display_name = queries.display_name(conn, current_user.id)
        picture = media.avatar(conn, current_user.username)
        sessions = queries.login_sessions(conn, current_user.id, current_user.session_hash)
        tokens = queries.api_tokens(conn, current_user.id)
    # formdata=None: a form other than the one posted must not read its fields
    # from this request.
    forms.setdefault("name_form", DisplayNameForm(formdata=None, display_name=display_name))
    forms.setdefault("password_form", PasswordChangeForm(formdata=None))
    forms.setdefault("token_form", TokenForm(formdata=None))
    html = render_template(
        "settings.html",
        display_name=display_name,
        picture=picture,
        sessions=sessions,
        tokens=tokens,
        new_token=new_token,
        **forms,
    )
    # The page can carry a new token: no cache may keep a copy of it.
    return html, status, {"Cache-Control": "no-store"}


def _back(anchor: str):
    return redirect(url_for("settings.page", _anchor=anchor), 303)


@bp.post("/settings/display-name")
@login_required
def display_name():
    """Set the display name, or remove it (the Remove button)."""
    form = DisplayNameForm()
    if form.remove.data:
        with worker.connection() as conn:
            actions.set_display_name(conn, current_user.id, None)
        flash("Display name removed: people see your username.")
        return _back("profile")
    if not form.validate_on_submit():
        return _render(400, name_form=form)
    with worker.connection() as conn:
        actions.set_display_name(conn, current_user.id, form.display_name.data)
    flash("Display name saved.")
    return _back("profile")


# What an avatar's file is called (files.name): it is never downloaded by name.
AVATAR_NAME = "avatar"


@bp.post("/settings/avatar")
@login_required
def avatar():
    """Upload a picture (PNG, JPEG, GIF or WebP, at most UPLOAD_MAX_BYTES) as your
    avatar, or remove it (the Remove button): people see your initials meanwhile.

    The body may be UPLOAD_MAX_BYTES (chat/web/limits.py LARGE_BODIES), held in
    memory once; the type comes from the content (Pillow reads its header),
    never the name or the browser's claim. The worker cuts it square."""
    if request.form.get("remove"):
        with worker.connection() as conn:
            actions.remove_avatar(conn, current_user.id)
        flash("Picture removed: people see your initials.")
        return _back("picture")
    upload = request.files.get("avatar")
    data = upload.read() if upload is not None else b""
    if not data:
        return _render(400, avatar_error="Choose a picture to upload.")
    try:
        media_type, width, height = imaging.probe(data, current_app.config["IMAGE_MAX_PIXELS"])
    except imaging.Refused:
        return _render(
            400, avatar_error="That is not a picture we can use: send a PNG, JPEG, GIF or WebP."
        )
    with worker.connection() as conn:
        actions.set_avatar(conn, current_user.id, AVATAR_NAME, [data], media_type, width, height)
    flash("Picture saved: people see it in a moment.")
    return _back("picture")


@bp.post("/settings/password")
@login_required
def password():
    """Change the password: the current one first. Every login session ends but
    this browser's, which continues under a new session token."""
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return _render(400, password_form=form)
    try:
        user = check_password(current_user.username, form.current_password.data)
    except ChatError as exc:  # too many wrong passwords: the login throttle
        form.current_password.errors.append(exc.message)
        page, status, headers = _render(429, password_form=form)
        return page, status, {**headers, "Retry-After": str(exc.retry_after)}
    if user is None:
        form.current_password.errors.append("That is not your current password.")
        return _render(400, password_form=form)
    with worker.connection() as conn:
        token = actions.change_password(conn, user.id, form.new_password.data, user_agent())
    remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    login_user(Account(current_user.entity, token), remember=remember_cookie in request.cookies)
    flash("Password changed. Every other session is logged out.")
    return _back("password")


@bp.post("/settings/sessions/<int:session_id>/logout")
@login_required
def log_out_session(session_id: int):
    """Log out one of your other sessions: its cookie stops working and its
    open pages lose their connection at once."""
    with worker.connection() as conn:
        actions.end_other_session(
            conn, current_user.id, id_or_404(session_id), current_user.session_hash
        )
    flash("That session is logged out.")
    return _back("sessions")


@bp.post("/settings/tokens")
@login_required
def create_token():
    """Make a personal API token; the page it leads to shows it, once."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _render(400, token_form=form)
    try:
        with worker.connection() as conn:
            made = actions.new_token(conn, current_user.id, form.name.data)
    except ChatError as exc:  # too many tokens
        form.name.errors.append(exc.message)
        return _render(400, token_form=form)
    session[NEW_TOKEN_KEY] = {"token": made.token, "name": made.listing.name}
    return _back("tokens")


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of your API tokens: requests carrying it are refused from now on."""
    with worker.connection() as conn:
        token = actions.revoke_token(conn, current_user.id, id_or_404(token_id))
    flash(f"Token {_token_label(token)} revoked.")
    return _back("tokens")


def _token_label(token: ApiToken) -> str:
    return f"“{token.name}”" if token.name else f"#{token.id}"


# --- the JSON API ---------------------------------------------------------------


def _me_json():
    with worker.connection() as conn:
        name = queries.display_name(conn, current_user.id)
    return jsonify(username=current_user.username, display_name=name)


def _token_json(token: ApiToken) -> dict:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": timestamp(token.created_at),
        "last_used_at": timestamp(token.last_used_at) if token.last_used_at else None,
    }


def _json_object(example: str) -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description=f"send a JSON object: {example}")
    return body


@api_bp.get("/me")
def me():
    """Who the caller is: {"username", "display_name"} (null when not set)."""
    return _me_json()


@api_bp.patch("/me")
def update_me():
    """Set the display name: {"display_name": "..."}, or null to remove it."""
    body = _json_object('{"display_name": "..."} (null removes it)')
    if "display_name" not in body:
        abort(400, description='send {"display_name": "..."} (null removes it)')
    value = body["display_name"]
    name = None if value is None else validate_display_name(value)
    with worker.connection() as conn:
        actions.set_display_name(conn, current_user.id, name)
    return _me_json()


@api_bp.get("/tokens")
def list_tokens():
    """The caller's API tokens, newest first (never the tokens themselves)."""
    with worker.connection() as conn:
        tokens = queries.api_tokens(conn, current_user.id)
    return jsonify(tokens=[_token_json(t) for t in tokens])


@api_bp.post("/tokens")
def make_token():
    """Make a token: {"name": "..."}; 201 with the token, which is never shown again."""
    name = validate_token_name(_json_object('{"name": "..."}').get("name"))
    with worker.connection() as conn:
        made = actions.new_token(conn, current_user.id, name)
    response = jsonify(**_token_json(made.listing), token=made.token)
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@api_bp.delete("/tokens/<int:token_id>")
def delete_token(token_id: int):
    """Revoke one of the caller's tokens (the one in use too): 204."""
    with worker.connection() as conn:
        actions.revoke_token(conn, current_user.id, id_or_404(token_id))
    return "", 204
