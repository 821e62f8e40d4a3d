"""Outgoing webhooks of a room (docs/webhooks.md "Outgoing webhooks"): the JSON
API (`/api/rooms/<name>/outgoing-webhooks`) and the HTML forms, for the
room's members only.

What a new webhook may be is checked here, before anything is written: the
bot's name, the trigger words, and the URL (https only; read as strictly as
the outbound guard reads it; an IP literal that is loopback, private,
link-local or otherwise not public is refused at once). A host name is not
looked up here: the guard resolves and checks it at every delivery (a name
can point elsewhere by then), and an answer now would tell whoever asks
which internal names exist. Refusals are 400 with the reason, and nothing
changes.

The room's Webhooks page (chat/web/webhooks.py, with the forms' routes) draws
the partial template `_outgoing_webhooks.html` from `outgoing_context(room,
user)`, which shows a new webhook's secret once.
"""

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    jsonify,
    request,
    session,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from chat import actions
from chat.bots import egress
from chat.domain import outgoing
from chat.domain.entities import Room, User
from chat.domain.errors import ChatError
from chat.protocol.outbound import timestamp
from chat.storage import outgoing as stored
from chat.web import worker
from chat.web.access import api_login_required, id_or_404, member_room_or_404
from chat.web.forms import csrf

api = Blueprint("outgoing_api", __name__, url_prefix="/api")
api.before_request(api_login_required)

# The session's key for a webhook just made by the form, until the page shows
# its secret (as settings.py does with a new API token): one request more.
NEW_SECRET_KEY = "new_webhook_secret"


def init_app(app: Flask) -> None:
    csrf.exempt(api)
    app.register_blueprint(api)


class OutgoingWebhookForm(FlaskForm):
    """A new outgoing webhook: its bot's name, the receiver's URL, trigger words."""

    name = StringField("Bot name", validators=[Length(max=32)])
    url = StringField("Receiver URL (https)", validators=[Length(max=outgoing.URL_MAX)])
    trigger_words = StringField("Trigger words (optional, separated by spaces)")


# --- shared by the API and the forms ------------------------------------------------


def create(room: Room, name: object, url: object, trigger_words: object) -> actions.Created:
    """Check a new webhook's fields and make it (chat/actions/outgoing.py);
    ChatError('bad_request' or 'taken') with the reason, nothing written."""
    bot_name = outgoing.validate_bot_name(name)
    url = outgoing.validate_url(url)
    try:
        egress.check_static(url, allow=current_app.config["EGRESS_ALLOW"])
    except egress.Refused as exc:
        raise ChatError("bad_request", f"url: {exc.reason}") from None
    words = outgoing.validate_trigger_words(trigger_words)
    with worker.connection() as conn:
        return actions.create_webhook(conn, room, current_user.entity, bot_name, url, words)


def webhook_json(hook: stored.Webhook) -> dict:
    """A webhook as the API lists it (never its secret)."""
    return {
        "id": hook.id,
        "name": hook.bot_name,
        "url": hook.url,
        "trigger_words": list(hook.trigger_words),
        "created_by": hook.created_by,
        "created_at": timestamp(hook.created_at),
        "last_status": hook.last_status,
        "last_delivery_at": timestamp(hook.last_delivery_at) if hook.last_delivery_at else None,
    }


# --- the JSON API -------------------------------------------------------------------


@api.get("/rooms/<name>/outgoing-webhooks")
def list_webhooks(name: str):
    """The room's outgoing webhooks, oldest first (members only; no secrets)."""
    room = member_room_or_404(name)
    with worker.connection() as conn:
        hooks = stored.room_webhooks(conn, room.id)
    return jsonify(room=room.name, webhooks=[webhook_json(h) for h in hooks])


@api.post("/rooms/<name>/outgoing-webhooks")
def create_webhook(name: str):
    """Make one: {"name": "deploybot", "url": "https://...", "trigger_words":
    ["!deploy"]}; 201 with it and its secret, the only time the secret is shown."""
    room = member_room_or_404(name)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(
            400,
            description='send a JSON object: {"name": "deploybot", "url": "https://...",'
            ' "trigger_words": ["!deploy"]}',
        )
    made = create(room, body.get("name"), body.get("url"), body.get("trigger_words"))
    with worker.connection() as conn:
        hook = next(h for h in stored.room_webhooks(conn, room.id) if h.id == made.id)
    return jsonify(room=room.name, webhook=webhook_json(hook), secret=made.secret), 201


@api.delete("/rooms/<name>/outgoing-webhooks/<int:webhook_id>")
def delete_webhook(name: str, webhook_id: int):
    """Delete one (any member may): it is sent nothing more, and its bot leaves."""
    room = member_room_or_404(name)
    webhook_id = id_or_404(webhook_id, "no such webhook")
    with worker.connection() as conn:
        actions.delete_webhook(conn, room, current_user.entity, webhook_id)
    return "", 204


# --- the page's part ------------------------------------------------------------------


def outgoing_context(room: Room, user: User, form: OutgoingWebhookForm | None = None) -> dict:
    """What `_outgoing_webhooks.html` draws for `user` (a member) in `room`: the
    webhooks, the create form (`form` as submitted, errors and all, or a new
    one), and a webhook just made with its secret (shown in this answer only:
    the page that shows it must be sent with Cache-Control: no-store)."""
    with worker.connection() as conn:
        hooks = stored.room_webhooks(conn, room.id)
    return {
        "outgoing_room": room,
        "outgoing_webhooks": hooks,
        "outgoing_form": form or OutgoingWebhookForm(formdata=None),
        "outgoing_new": session.pop(NEW_SECRET_KEY, None),
        "outgoing_limits": {
            "words": outgoing.TRIGGER_WORDS_MAX,
            "per_room": outgoing.WEBHOOKS_PER_ROOM_MAX,
        },
    }
