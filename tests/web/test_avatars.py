"""Avatars (chat/web/settings.py, chat/web/avatars.py, the members API, the
history page, the people panel): uploading a picture on the settings page, the
worker cutting it square (chat/bots/work.py, real Pillow), serving it with a
file's headers, and showing it where initials were."""

import io
import random
import re

import pytest
from PIL import Image

from chat.bots.work import Worker

from ..bots import media
from ..conftest import csrf_token, make_user, send_as

UPLOAD_SETTINGS = {
    "UPLOAD_MAX_BYTES": 2 * 1024 * 1024,
    "IMAGE_MAX_PIXELS": 50_000_000,
    "LINK_PREVIEWS": False,
    "BOT_RETRY_DELAY": 0.0,
}


@pytest.fixture
def app(make_app):
    """The app with issue 17's upload settings given explicitly (their defaults
    live with the upload route)."""
    return make_app(**UPLOAD_SETTINGS)


@pytest.fixture
def people(db):
    return {name: make_user(db, name) for name in ("eren", "mikasa")}


def logged_in(app, username: str):
    client = app.test_client()
    token = csrf_token(client.get("/login").text)
    data = {"csrf_token": token, "username": username, "password": "correct horse"}
    assert client.post("/login", data=data).status_code == 302
    return client


def upload(client, data: bytes, **extra):
    form = {"csrf_token": csrf_token(client.get("/settings").text), **extra}
    if data is not None:
        form["avatar"] = (io.BytesIO(data), "me.jpg")
    return client.post("/settings/avatar", data=form, content_type="multipart/form-data")


def work(app) -> int:
    return Worker(app.config, app.extensions["db_pool"]).drain()


def test_a_picture_uploaded_becomes_a_square_avatar_for_everyone(app, db, people):
    eren = logged_in(app, "eren")
    photo = media.photo("JPEG", size=(1200, 800), orientation=6)  # upright: 800 x 1200
    answer = upload(eren, photo)
    assert answer.status_code == 303 and answer.location.endswith("/settings#picture")
    assert "being prepared" in eren.get("/settings").text
    mikasa = logged_in(app, "mikasa")
    assert mikasa.get("/avatars/eren").status_code == 404  # not cut yet: initials meanwhile
    assert work(app) == 1

    row = db.execute(
        "SELECT f.* FROM users u JOIN files f ON f.id = u.avatar_file_id WHERE u.username = 'eren'"
    ).fetchone()
    assert (row["media_type"], row["width"], row["height"]) == ("image/jpeg", 800, 1200)
    assert (row["state"], row["room_id"]) == ("ready", None)
    page = eren.get("/settings").text
    url = f"/avatars/eren?v={row['key'][:8]}"
    assert f'src="{url}"' in page and "This is your picture" in page

    served = mikasa.get(url)
    assert served.status_code == 200 and served.mimetype == "image/webp"
    image = Image.open(io.BytesIO(served.data))
    assert image.size == (128, 128) and not image.getexif()
    assert b"PhoneMaker" not in served.data
    headers = served.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert headers["Cache-Control"] == "private, max-age=86400"
    assert headers["Content-Length"] == str(len(served.data))
    etag = headers["ETag"].strip('"')
    assert re.fullmatch(r"[0-9a-f]{64}", etag)
    again = mikasa.get(url, headers={"If-None-Match": f'"{etag}"'})
    assert again.status_code == 304 and again.data == b""
    # Logged out, nothing.
    assert app.test_client().get(url).status_code in (302, 401, 404)


def test_the_avatar_shows_in_the_members_api_the_people_panel_and_history(app, db, people):
    eren = logged_in(app, "eren")
    send_as(db, people["eren"], "hello")
    send_as(db, people["mikasa"], "hi")
    upload(eren, media.webp(size=(300, 200)))
    work(app)
    key = db.execute(
        "SELECT f.key FROM users u JOIN files f ON f.id = u.avatar_file_id"
        " WHERE u.username = 'eren'"
    ).fetchone()["key"]
    url = f"/avatars/eren?v={key[:8]}"
    mikasa = logged_in(app, "mikasa")

    members = {m["username"]: m for m in mikasa.get("/api/rooms/general/members").json["members"]}
    assert members["eren"]["avatar"] == url and members["mikasa"]["avatar"] is None

    room = mikasa.get("/rooms/general").text
    assert 'data-user="eren" data-status' in room and f'data-avatar="{url}"' in room
    assert '<span class="avatar small picture" data-colour="' in room
    assert f'<img src="{url}" alt="">' in room

    history = mikasa.get("/rooms/general/history").text
    assert f'<img src="{url}" alt="">' in history
    # mikasa has none: her initials, as before.
    assert re.search(r'<span class="avatar" data-colour="\d+" aria-hidden="true">M</span>', history)


def test_removing_the_picture_brings_the_initials_back(app, db, people):
    eren = logged_in(app, "eren")
    upload(eren, media.webp())
    work(app)
    file_id = db.execute("SELECT avatar_file_id FROM users WHERE username = 'eren'").fetchone()
    answer = upload(eren, None, remove="Remove")
    assert answer.status_code == 303
    assert db.execute("SELECT avatar_file_id FROM users WHERE username = 'eren'").fetchone() == {
        "avatar_file_id": None
    }
    assert media.file_row(db, file_id["avatar_file_id"]) is None  # chunks and all
    assert logged_in(app, "mikasa").get("/avatars/eren").status_code == 404
    assert "You have no picture" in eren.get("/settings").text


def test_a_new_picture_replaces_the_old_one(app, db, people):
    eren = logged_in(app, "eren")
    upload(eren, media.webp())
    work(app)
    first = db.execute("SELECT avatar_file_id FROM users WHERE username = 'eren'").fetchone()
    upload(eren, media.photo("PNG", orientation=None))
    work(app)
    second = db.execute("SELECT avatar_file_id FROM users WHERE username = 'eren'").fetchone()
    assert first != second and media.file_row(db, first["avatar_file_id"]) is None
    assert db.execute("SELECT count(*) AS n FROM files").fetchone()["n"] == 1


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"%PDF-1.7 not a picture",
        media.png_bomb(30_000),
    ],
    ids=["nothing", "svg", "pdf", "bomb"],
)
def test_anything_but_a_picture_is_refused(app, db, people, data):
    eren = logged_in(app, "eren")
    answer = upload(eren, data)
    assert answer.status_code == 400
    assert 'role="alert"' in answer.text
    assert db.execute("SELECT count(*) AS n FROM files").fetchone()["n"] == 0


def test_a_picture_over_the_upload_limit_is_refused(make_app, db, people):
    app = make_app(**{**UPLOAD_SETTINGS, "UPLOAD_MAX_BYTES": 300 * 1024})
    eren = logged_in(app, "eren")
    noise = Image.frombytes("RGB", (400, 400), random.Random(17).randbytes(400 * 400 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    assert len(out.getvalue()) > 300 * 1024
    assert upload(eren, out.getvalue()).status_code == 413
    # Within the limit, though above MAX_CONTENT_LENGTH (256 KiB), it is taken.
    small = io.BytesIO()
    noise.crop((0, 0, 300, 300)).save(small, "PNG")
    assert 256 * 1024 < len(small.getvalue()) < 290 * 1024
    assert upload(eren, small.getvalue()).status_code == 303


def test_a_picture_the_worker_cannot_read_says_so_on_the_settings_page(app, db, people):
    eren = logged_in(app, "eren")
    upload(eren, media.truncated(media.photo("PNG", size=(400, 400), orientation=None), 0.7))
    work(app)
    assert "could not be read" in eren.get("/settings").text
    assert logged_in(app, "mikasa").get("/avatars/eren").status_code == 404
