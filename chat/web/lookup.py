"""What the composer looks up while someone types (static/autocomplete.js,
static/emoji_picker.js): the emoji and their shortcodes, the slash commands,
a room's members and people by name.

`/emoji.json` is the same for everyone and changes only with the pinned `emoji`
package: built once per process, cached by browsers and proxies, revalidated by
its ETag. The others are JSON API routes (login, or a Bearer token), and a
room's members follow the visibility rule of every route: a room the caller
cannot see is a 404, exactly like one that does not exist.
"""

import hashlib
import re
from functools import cache

import orjson
from flask import Blueprint, Flask, Response, jsonify, request

from chat.domain import shortcodes
from chat.domain.errors import ChatError
from chat.domain.validate import DISPLAY_NAME_MAX
from chat.realtime import commands
from chat.storage import people
from chat.web import worker
from chat.web.access import api_login_required

bp = Blueprint("lookup", __name__)
api = Blueprint("lookup_api", __name__, url_prefix="/api")

# A day fresh, then a week served while it is revalidated (a 304 by ETag):
# the list changes only when the pinned package does, at a deployment.
EMOJI_CACHE_CONTROL = "public, max-age=86400, stale-while-revalidate=604800"
# A screenful of suggestions: the popup shows a few, the rest come with more letters.
MAX_USERS = 20
# A help line that names a command: "/name ...: what it does".
_COMMAND_LINE = re.compile(r"(/([A-Za-z][A-Za-z0-9_-]*)[^:]*): (.+)\Z")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(api)


api.before_request(api_login_required)


@cache
def _emoji_body() -> tuple[bytes, str]:
    """/emoji.json's bytes and their ETag, built once per process."""
    body = orjson.dumps({"emoji": shortcodes.catalogue()})
    return body, hashlib.sha256(body).hexdigest()[:32]


@bp.get("/emoji.json")
def emoji_list():
    """Every emoji the picker offers with its shortcodes: {"emoji": [[emoji, name...]]}."""
    return etagged_json(*_emoji_body(), EMOJI_CACHE_CONTROL)


def etagged_json(body: bytes, etag: str, cache_control: str) -> Response:
    """A JSON body built once per process, with its ETag (a matching
    If-None-Match gets 304) and `cache_control`."""
    response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    return response.make_conditional(request)


def command_list() -> list[dict]:
    """The slash commands as /help lists them (chat/realtime/commands.py):
    name, usage and what each does."""
    found = []
    for line in commands.help_text().splitlines():
        match = _COMMAND_LINE.match(line)
        if match:
            usage, name, what = match.groups()
            found.append({"name": name.lower(), "usage": usage, "help": what})
    return found


@api.get("/commands")
def list_commands():
    """The slash commands a message may start with."""
    return jsonify(commands=command_list())


@api.get("/users")
def list_users():
    """Enabled users whose username, or a word of whose display name, starts with
    `prefix`, by username (at most 20): `users` (usernames) and `people` (each
    with its display name)."""
    prefix = request.args.get("prefix", "")
    if not prefix:
        raise ChatError("bad_request", "prefix is required: the first letters of a name")
    if len(prefix) > DISPLAY_NAME_MAX:
        raise ChatError(
            "bad_request", f"prefix is over {DISPLAY_NAME_MAX} characters, longer than any name"
        )
    if prefix.isspace():
        return jsonify(users=[], people=[])  # no name starts so: nothing to look up
    with worker.connection() as conn:
        found = people.people_by_prefix(conn, prefix, MAX_USERS)
    return jsonify(
        users=[username for username, _ in found],
        people=[{"username": username, "display_name": name} for username, name in found],
    )
