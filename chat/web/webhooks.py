"""Incoming webhooks (docs/webhooks.md): the room's page of them, their JSON API,
and the URL a tool posts to.

- `/rooms/<name>/webhooks`: a member's page listing the room's webhooks, with
  forms to make one and to revoke one (Post/Redirect/Get; a new webhook's URL
  is kept in the session for that one page and shown once, like a new API
  token on the settings page).
- the same page lists the room's outgoing webhooks (chat/web/outgoing.py draws
  that part, `_outgoing_webhooks.html`); their forms post to routes here.
- `/api/rooms/<name>/webhooks`: the same for scripts.
- `POST /api/hooks/<secret>`: what a tool posts, with no other credential than
  the secret in the URL. The body is Slack's (`{"text": ..., "username": ...,
  "attachments": [...], "blocks": [...]}`, as JSON, or as a form's `payload`
  field) or plain text; it is posted through the same send path and limits as
  a person's message (chat/realtime/commands.py `dispatch`, the per-user send
  budget on the bot's account).
"""

import re

import orjson
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
from flask_login import current_user, login_required

from chat import actions
from chat.domain import slack
from chat.domain.entities import IncomingWebhook, Room
from chat.domain.errors import ChatError
from chat.domain.validate import validate_client_id, validate_content, validate_webhook_name
from chat.protocol.outbound import timestamp
from chat.realtime import commands
from chat.storage import queries
from chat.web import outgoing as outgoing_web
from chat.web import worker
from chat.web.access import api_login_required, id_or_404, member_room_or_404
from chat.web.forms import ActionForm, WebhookForm, csrf
from chat.web.limits import take_send_token
from chat.web.outgoing import OutgoingWebhookForm, outgoing_context

bp = Blueprint("webhooks", __name__)
api_bp = Blueprint("webhooks_api", __name__, url_prefix="/api")
api_bp.before_request(api_login_required)
# The URL tools post to: its secret is the only credential (no session, no CSRF).
hooks_bp = Blueprint("hooks", __name__, url_prefix="/api")

# What actions.create_incoming makes: "hook_" and 32 random bytes, URL-safe base64.
_SECRET = re.compile(r"hook_[A-Za-z0-9_-]{43}")
# The session's key for a webhook URL the form made, until the page shows it.
NEW_WEBHOOK_KEY = "new_webhook"
# A text longer than MAX_MESSAGE_CHARS is cut to fit and ends with this: an
# alert is worth more shortened than refused (Slack does the same).
CUT = "\n… (cut: the webhook's text was too long)"
FENCE_CLOSE = "\n```"


def init_app(app: Flask) -> None:
    csrf.exempt(api_bp)  # api_login_required checks CSRF on session-authenticated writes
    csrf.exempt(hooks_bp)
    app.register_blueprint(bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(hooks_bp)


def hook_url(token: str) -> str:
    """The full URL a tool posts to (the scheme and host as this request came,
    behind the proxy's X-Forwarded-* when TRUST_PROXY says so)."""
    return url_for("hooks.post", token=token, _external=True)


def webhook_json(webhook: IncomingWebhook) -> dict:
    """A webhook as the API lists it: {"id", "name", "username" (its bot's),
    "created_by", "created_at", "last_used_at"} (times ISO 8601, null when never)."""
    return {
        "id": webhook.id,
        "name": webhook.name,
        "username": webhook.username,
        "created_by": webhook.created_by,
        "created_at": timestamp(webhook.created_at),
        "last_used_at": timestamp(webhook.last_used_at) if webhook.last_used_at else None,
    }


# --- the page -------------------------------------------------------------------


@bp.get("/rooms/<name>/webhooks")
@login_required
def page(name: str):
    """The room's incoming webhooks (with a URL just made, the one time it is shown)."""
    room = member_room_or_404(name)
    new = session.pop(NEW_WEBHOOK_KEY, None)
    if new is not None and new.get("room") != room.id:
        new = None
    return _render(room, new_webhook=new)


def _render(
    room: Room,
    status: int = 200,
    new_webhook: dict | None = None,
    form: WebhookForm | None = None,
    outgoing_form: OutgoingWebhookForm | None = None,
):
    """The page: both kinds of webhook, with the form that was posted (errors and
    all) in place of its fresh one."""
    with worker.connection() as conn:
        webhooks = queries.incoming_webhooks(conn, room.id)
    html = render_template(
        "webhooks.html",
        room=room,
        webhooks=webhooks,
        new_webhook=new_webhook,
        form=form or WebhookForm(formdata=None),
        **outgoing_context(room, current_user.entity, outgoing_form),
        # actions.revoke_incoming's rule: its maker or the room's creator.
        may_revoke=lambda w: (
            w.created_by == current_user.username or room.created_by == current_user.id
        ),
    )
    # The page can carry a webhook's secret URL: no cache may keep a copy of it.
    return html, status, {"Cache-Control": "no-store"}


@bp.post("/rooms/<name>/webhooks")
@login_required
def create(name: str):
    """Make an incoming webhook; the page it leads to shows its URL, once."""
    room = member_room_or_404(name)
    form = WebhookForm()
    if not form.validate_on_submit():
        return _render(room, 400, form=form)
    try:
        with worker.connection() as conn:
            made = actions.create_incoming(conn, room, current_user.entity, form.name.data)
    except ChatError as exc:  # too many, archived
        form.name.errors.append(exc.message)
        return _render(room, 400 if exc.code != "forbidden" else 403, form=form)
    session[NEW_WEBHOOK_KEY] = {
        "room": room.id,
        "name": made.listing.name,
        "url": hook_url(made.token),
    }
    return redirect(url_for("webhooks.page", name=room.name), 303)


@bp.post("/rooms/<name>/webhooks/<int:webhook_id>/revoke")
@login_required
def revoke(name: str, webhook_id: int):
    """Revoke one of the room's webhooks: its URL stops working at once."""
    room = member_room_or_404(name)
    webhook_id = id_or_404(webhook_id, "no such webhook")
    with worker.connection() as conn:
        webhook = actions.revoke_incoming(conn, room, current_user.entity, webhook_id)
    flash(f"Webhook “{webhook}” revoked: its URL no longer posts.")
    return redirect(url_for("webhooks.page", name=room.name), 303)


@bp.post("/rooms/<name>/outgoing-webhooks")
@login_required
def create_outgoing(name: str):
    """Make an outgoing webhook from the form; a refusal comes back beside its field."""
    room = member_room_or_404(name)
    form = OutgoingWebhookForm()
    if not form.validate_on_submit():
        return _render(room, 400, outgoing_form=form)
    try:
        made = outgoing_web.create(room, form.name.data, form.url.data, form.trigger_words.data)
    except ChatError as exc:
        fields = {"name": form.name, "url": form.url, "trigger_words": form.trigger_words}
        fields.get(exc.message.split(":", 1)[0], form.url).errors.append(exc.message)
        return _render(room, 400, outgoing_form=form)
    session[outgoing_web.NEW_SECRET_KEY] = {
        "id": made.id,
        "name": made.bot_name,
        "secret": made.secret,
    }
    return redirect(url_for("webhooks.page", name=room.name, _anchor="outgoing-webhooks"), 303)


@bp.post("/rooms/<name>/outgoing-webhooks/<int:webhook_id>/delete")
@login_required
def delete_outgoing(name: str, webhook_id: int):
    """Delete an outgoing webhook from the page's button (any member may)."""
    room = member_room_or_404(name)
    ActionForm().validate_or_400()
    webhook_id = id_or_404(webhook_id, "no such webhook")
    with worker.connection() as conn:
        bot = actions.delete_webhook(conn, room, current_user.entity, webhook_id)
    flash(f"The outgoing webhook {bot} is deleted; it left #{room.name}.")
    return redirect(url_for("webhooks.page", name=room.name, _anchor="outgoing-webhooks"), 303)


# --- the JSON API -----------------------------------------------------------------


@api_bp.get("/rooms/<name>/webhooks")
def list_webhooks(name: str):
    """The room's incoming webhooks, oldest first (never their URLs)."""
    room = member_room_or_404(name)
    with worker.connection() as conn:
        webhooks = queries.incoming_webhooks(conn, room.id)
    return jsonify(webhooks=[webhook_json(w) for w in webhooks])


@api_bp.post("/rooms/<name>/webhooks")
def create_webhook(name: str):
    """Make an incoming webhook: {"name": "..."}; 201 with its `url`, never shown again."""
    room = member_room_or_404(name)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description='send a JSON object: {"name": "alerts"}')
    webhook_name = validate_webhook_name(body.get("name"))
    with worker.connection() as conn:
        made = actions.create_incoming(conn, room, current_user.entity, webhook_name)
    response = jsonify(**webhook_json(made.listing), url=hook_url(made.token))
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@api_bp.delete("/rooms/<name>/webhooks/<int:webhook_id>")
def delete_webhook(name: str, webhook_id: int):
    """Revoke one of the room's incoming webhooks: 204."""
    room = member_room_or_404(name)
    webhook_id = id_or_404(webhook_id, "no such webhook")
    with worker.connection() as conn:
        actions.revoke_incoming(conn, room, current_user.entity, webhook_id)
    return "", 204


# --- what tools post ----------------------------------------------------------------


@hooks_bp.post("/hooks/<token>")
def post(token: str):
    """Post the body into the webhook's room as its bot (see the module's
    docstring); 200 with {"ok": true, "room", "seq", "client_id", "duplicate"}.
    400 for a body with no text or a field of the wrong type, 404 for a secret
    that is not (or no longer) a webhook's, 403 for an archived room, 429 over
    the bot's send budget."""
    text, username, client_id = _hook_body()
    if not _SECRET.fullmatch(token):
        abort(404, description="no webhook has this URL (was it revoked?)")
    with worker.connection() as conn:
        use = actions.use_incoming(conn, token)
    if use is None:
        abort(404, description="no webhook has this URL (was it revoked?)")
    take_send_token(use.bot.id)
    if username is not None:
        with worker.connection() as conn:
            actions.rename_incoming_bot(conn, use, username)
    outcome = commands.dispatch(
        commands.Text(text), use.room, use.bot, client_id, worker.connection, worker.writer()
    )
    sent = outcome.sent
    with worker.connection() as conn:
        actions.note_incoming_use(conn, use)
    # 200 either way: Slack answers 200, and some tools check for exactly that.
    return jsonify(
        ok=True, room=use.room.name, seq=sent.seq, client_id=client_id, duplicate=sent.duplicate
    )


def _hook_body() -> tuple[str, str | None, str | None]:
    """The message text, the `username` to show (None: keep the bot's) and the
    `client_id` (None: none given) of a webhook's request. Raises
    ChatError('bad_request') for a body that is none of the kinds taken."""
    payload = _payload()
    if payload is None:
        text = _plain_text()
        username = client_id = None
    else:
        text = slack.text_of(payload)
        username = _shown_name(payload.get("username"))
        client_id = _client_id(payload.get("client_id"))
    if not text.strip():
        raise ChatError(
            "bad_request", 'the body has no text to post: send {"text": "..."} or plain text'
        )
    return (
        validate_content(_fit(text), current_app.config["MAX_MESSAGE_CHARS"]),
        username,
        client_id,
    )


def _fit(text: str) -> str:
    """The text cut to MAX_MESSAGE_CHARS if longer, ending with CUT (after
    closing a code fence left open, so the note reads as text)."""
    max_chars = current_app.config["MAX_MESSAGE_CHARS"]
    if len(text) <= max_chars:
        return text
    kept = text[: max_chars - len(CUT) - len(FENCE_CLOSE)].rstrip()
    return kept + (FENCE_CLOSE if kept.count("```") % 2 else "") + CUT


def _client_id(value: object) -> str | None:
    """A body's `client_id`, refused as this route's other fields are (bad_request)."""
    try:
        return validate_client_id(value)
    except ChatError as exc:
        raise ChatError("bad_request", exc.message) from None


def _shown_name(value: object) -> str | None:
    """A body's `username`: the name its bot shows from now on (None: unchanged)."""
    if value is None or value == "":
        return None
    try:
        return validate_webhook_name(value)
    except ChatError as exc:
        raise ChatError("bad_request", f"username: {exc.message}") from None


def _payload() -> dict | None:
    """The body's Slack-style JSON object; None for a body of plain text.

    JSON is taken whatever the Content-Type says (`curl -d '{"text": ...}'`
    sends it as a form), and so is a form's `payload` field (Slack's older
    way); any other form body is plain text (`curl -d 'Deploy done'`).
    Raises ChatError('bad_request') for JSON that is not an object, aborts
    with 415 for a body of another type."""
    raw = request.get_data(cache=True)
    if raw.lstrip()[:1] == b"{":
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if request.mimetype == "text/plain":
                return None
            raise ChatError("bad_request", f"the body is not valid JSON: {exc}") from None
        return payload
    if request.mimetype == "application/x-www-form-urlencoded" and "payload" in request.form:
        try:
            payload = orjson.loads(request.form["payload"])
        except orjson.JSONDecodeError as exc:
            raise ChatError("bad_request", f"the payload field is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise ChatError("bad_request", 'the payload field must be a JSON object: {"text": ...}')
        return payload
    # Plain text, or what `curl -d 'Deploy done' URL` sends (a form's type, no payload).
    if request.mimetype in ("", "text/plain", "application/x-www-form-urlencoded"):
        return None
    abort(415, description=f'send JSON ({{"text": "..."}}) or text/plain, not {request.mimetype}')


def _plain_text() -> str:
    try:
        return request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        raise ChatError("bad_request", "a text body must be UTF-8") from None
