"""The JSON API's contract, for people and programs: `GET /api/openapi.json`,
the OpenAPI 3.1 description written in chat/web/openapi.yaml, and `GET /docs/api`,
a reference page drawn from it by Swagger UI (vendored in static/vendor/swagger-ui:
no CDN, and the site's Content-Security-Policy holds). The WebSocket's frames
have theirs beside it: `GET /api/frames.schema.json`, the JSON Schemas written in
chat/protocol/frames.schema.yaml (whose `openapi.json#/...` references resolve
to the description next to it).

It is public (no login): it says what the API does, nothing about anyone's
data. Read and encoded once per process, like /emoji.json: it changes only
with a deployment, so browsers and tools revalidate it by its ETag.
"""

import hashlib
from functools import cache
from pathlib import Path

import orjson
import yaml
from flask import Blueprint, Flask, render_template

from chat import protocol
from chat.web.lookup import etagged_json

SPEC_PATH = Path(__file__).with_name("openapi.yaml")
FRAMES_PATH = Path(protocol.__file__).with_name("frames.schema.yaml")
# An hour fresh, then revalidated by ETag: a deployment may change it, and a
# viewer open across one should see the new description soon.
SPEC_CACHE_CONTROL = "public, max-age=3600"

bp = Blueprint("reference", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@cache
def description() -> dict:
    """The OpenAPI description as data (chat/web/openapi.yaml), read once per process."""
    with SPEC_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@cache
def frames_schema() -> dict:
    """The frames' JSON Schemas as data (chat/protocol/frames.schema.yaml), read once
    per process."""
    with FRAMES_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _etagged(document: dict) -> tuple[bytes, str]:
    """A document's JSON bytes (keys in the file's order) and their ETag."""
    body = orjson.dumps(document)
    return body, hashlib.sha256(body).hexdigest()[:32]


@cache
def _spec_body() -> tuple[bytes, str]:
    return _etagged(description())


@cache
def _frames_body() -> tuple[bytes, str]:
    return _etagged(frames_schema())


@bp.get("/api/openapi.json")
def openapi():
    """The JSON API's OpenAPI 3.1 description; no login needed."""
    return etagged_json(*_spec_body(), SPEC_CACHE_CONTROL)


@bp.get("/api/frames.schema.json")
def frames():
    """The WebSocket frames' JSON Schemas (draft 2020-12); no login needed."""
    return etagged_json(*_frames_body(), SPEC_CACHE_CONTROL)


@bp.get("/docs/api")
def page():
    """The API reference for people, drawn from /api/openapi.json; no login needed."""
    return render_template("api_docs.html")
