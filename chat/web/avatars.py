"""People's avatars (docs/files.md "Avatars"): `GET /avatars/<username>`, the
square thumbnail the worker cut from their picture, for every logged-in user.

The URL carries `?v=` and the start of the file's key, so a new picture is a
new URL and the old one can be cached long; the answer is what a file's is
(docs/files.md "How a file is served"): its ETag is the SHA-256, and it is
sandboxed and never sniffed. An avatar is a 128-pixel WebP of a few KB, one
chunk: it is read whole.
"""

from flask import Blueprint, Flask, Response, abort, request, url_for
from flask_login import login_required

from chat.domain.users import USERNAME_RE
from chat.storage import media
from chat.web import worker

bp = Blueprint("avatars", __name__)

# The URL changes with the picture (`v`), so a browser may keep one a day
# without asking; `private`: only the logged-in reader's browser keeps it.
CACHE_CONTROL = "private, max-age=86400"
# What a file's answer says (docs/files.md): no sniffing into HTML, and if it
# is opened as a page, a sandbox that runs nothing.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": CACHE_CONTROL,
}
# Enough of the key to tell one picture from the next.
VERSION_CHARS = 8


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(avatar_url)


def avatar_url(username: str, key: str | None) -> str | None:
    """Where `username`'s avatar is served, for the file `key`; None without one."""
    if not key:
        return None
    return url_for("avatars.avatar", username=username, v=key[:VERSION_CHARS])


@bp.get("/avatars/<username>")
@login_required
def avatar(username: str):
    """A person's avatar (a square WebP), for anyone logged in; 404 when they have
    none yet (their initials are shown)."""
    if not USERNAME_RE.match(username):
        abort(404)
    with worker.connection() as conn:
        found = media.avatar(conn, username)
        if found is None or found["state"] != "ready" or found["sha256"] is None:
            abort(404)
        data = b"".join(media.chunks(conn, found["id"], "thumb"))
    response = Response(data, mimetype=found["media_type"])
    response.set_etag(found["sha256"].hex())
    response.headers.update(FILE_HEADERS)
    return response.make_conditional(request)
