"""Uploads and downloads (docs/files.md) through the app on a real PostgreSQL:
limits, sniffing, hostile files, who may fetch what, ranges, memory, and
files riding on sends, deletions and previews."""

import hashlib
import tracemalloc

import orjson
import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from chat import actions
from chat.domain.entities import User
from chat.storage import queries

from ..conftest import csrf_token, make_token, make_user, room_row, tokens_blanked
from ..files_data import (
    HTML_PAGE,
    SVG_WITH_SCRIPT,
    GeneratedBody,
    gif_js_polyglot,
    jpeg,
    png,
    png_bomb,
    png_html_polyglot,
    random_bytes,
    truncated_jpeg,
)

MiB = 1024 * 1024


@pytest.fixture
def eren_user(db) -> User:
    return make_user(db, "eren")


@pytest.fixture
def headers(db, eren_user) -> dict:
    return {"Authorization": f"Bearer {make_token(db, eren_user)}"}


def bearer(db, user: User) -> dict:
    return {"Authorization": f"Bearer {make_token(db, user)}"}


def upload(client, headers, data: bytes, name: str = "file.bin", **query):
    args = "&".join(f"{k}={v}" for k, v in query.items())
    return client.post(
        f"/api/files?name={name}{'&' + args if args else ''}",
        data=data,
        headers=headers,
        # What curl --data-binary sends: the body must not be parsed as a form.
        content_type="application/x-www-form-urlencoded",
    )


def upload_key(client, headers, data: bytes, name: str = "file.bin") -> str:
    answer = upload(client, headers, data, name)
    assert answer.status_code == 201, answer.json
    return answer.json["file"]["id"]


def counts(db) -> dict:
    return db.execute(
        "SELECT (SELECT count(*) FROM files) AS files,"
        " (SELECT count(*) FROM file_chunks) AS chunks,"
        " (SELECT count(*) FROM messages) AS messages,"
        " (SELECT count(*) FROM work_jobs) AS jobs"
    ).fetchone()


def streamed_upload(headers: dict, size: int, chunked: bool = False) -> dict:
    """The environ of an upload whose body of `size` bytes is made as it is read
    (a Content-Length, or chunked as gunicorn hands a chunked body on)."""
    environ = EnvironBuilder(
        path="/api/files", query_string="name=big.bin", method="POST", headers=headers
    ).get_environ()
    environ["wsgi.input"] = GeneratedBody(size)
    environ["CONTENT_TYPE"] = "application/octet-stream"
    if chunked:
        environ.pop("CONTENT_LENGTH", None)
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(size)
    return environ


def send(client, headers, files, content="", client_id=None, room="general"):
    body = {"content": content, "files": files}
    if client_id is not None:
        body["client_id"] = client_id
    return client.post(f"/api/rooms/{room}/messages", json=body, headers=headers)


def add_variant(db, key: str, variant: str, data: bytes, media_type: str = "image/png") -> None:
    """What the image worker records (chat/actions of the worker's helper): a
    derived variant's chunks and its file_variants row."""
    file_id = db.execute("SELECT id FROM files WHERE key = %s", (key,)).fetchone()["id"]
    db.execute(
        "INSERT INTO file_chunks (file_id, variant, n, data) VALUES (%s, %s, 0, %s)",
        (file_id, variant, data),
    )
    db.execute(
        "INSERT INTO file_variants (file_id, variant, media_type, size, width, height, sha256)"
        " VALUES (%s, %s, %s, %s, 30, 20, %s)",
        (file_id, variant, media_type, len(data), hashlib.sha256(data).digest()),
    )


# --- upload -------------------------------------------------------------------------


def test_an_upload_answers_the_file_and_queues_an_image_job(client, db, headers):
    data = png(30, 20)
    answer = upload(client, headers, data, "shot.png")
    assert answer.status_code == 201
    file = answer.json["file"]
    assert file == {
        "id": file["id"],
        "name": "shot.png",
        "size": len(data),
        "type": "image/png",
        "width": 30,
        "height": 20,
        "url": f"/files/{file['id']}/shot.png",
        "thumb": None,
        "state": "stored",
    }
    row = db.execute("SELECT * FROM files WHERE key = %s", (file["id"],)).fetchone()
    assert (row["state"], row["sha256"]) == ("stored", hashlib.sha256(data).digest())
    jobs = db.execute("SELECT kind, file_id FROM work_jobs").fetchall()
    assert jobs == [{"kind": "image", "file_id": row["id"]}]


def test_a_large_upload_is_stored_in_chunks_of_256_kib(client, db, headers):
    data = random_bytes(600 * 1024)
    key = upload_key(client, headers, data, "data.bin")
    sizes = db.execute(
        "SELECT length(c.data) AS n FROM file_chunks c JOIN files f ON f.id = c.file_id"
        " WHERE f.key = %s ORDER BY c.n",
        (key,),
    ).fetchall()
    assert [s["n"] for s in sizes] == [262144, 262144, 600 * 1024 - 2 * 262144]
    assert client.get(f"/api/files/{key}", headers=headers).data == data
    assert db.execute("SELECT count(*) AS n FROM work_jobs").fetchone()["n"] == 0


def test_a_jpeg_turned_by_exif_has_its_shown_size(client, headers):
    answer = upload(client, headers, jpeg(40, 10, orientation=6), "portrait.jpg")
    assert (answer.json["file"]["width"], answer.json["file"]["height"]) == (10, 40)


@pytest.mark.parametrize(
    "data, name, media_type",
    [
        (HTML_PAGE, "cat.png", "text/html"),
        (SVG_WITH_SCRIPT, "logo.svg", "image/svg+xml"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "report.png", "application/pdf"),
        (b"2026-11-30 12:00 started\n2026-11-30 12:01 done\n", "build.exe", "text/plain"),
        (b"\x00\x01\x02\x03binary", "photo.jpg", "application/octet-stream"),
        (png(), "notes.txt", "image/png"),
    ],
)
def test_the_type_is_sniffed_from_the_content_never_the_name(
    client, headers, data, name, media_type
):
    answer = upload(client, headers, data, name)
    assert answer.status_code == 201
    assert answer.json["file"]["type"] == media_type


@pytest.mark.parametrize(
    "data, reason",
    [
        (png_bomb(), "pixels"),  # 30,000 × 30,000 announced in a 100-byte file
        (truncated_jpeg(), "cannot be read"),
    ],
)
def test_an_image_that_is_a_bomb_or_unreadable_is_refused_before_decoding(
    client, db, headers, data, reason
):
    before = counts(db)
    answer = upload(client, headers, data, "x.png")
    assert answer.status_code == 422
    assert answer.json["error"]["code"] == "bad_image"
    assert reason in answer.json["error"]["message"]
    assert counts(db) == before


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("..%2F..%2Fetc%2Fpasswd", "passwd"),
        ("C:%5CUsers%5Cme%5Creport.pdf", "report.pdf"),
        ("bell%07and%1Bescape.txt", "bellandescape.txt"),
        ("invoice%E2%80%AEfdp.exe", "invoicefdp.exe"),  # U+202E RIGHT-TO-LEFT OVERRIDE
        ("..", "file"),
        ("", "file"),
        ("a" * 300 + ".txt", "a" * 251 + ".txt"),
    ],
)
def test_names_are_cleaned(client, headers, raw, stored):
    answer = upload(client, headers, b"some text\n", raw)
    assert answer.status_code == 201
    assert answer.json["file"]["name"] == stored


def test_a_name_with_nul_is_refused_and_nothing_stored(client, db, headers):
    before = counts(db)
    answer = upload(client, headers, b"text", "a%00b.txt")
    assert answer.status_code == 400
    assert counts(db) == before


def test_an_empty_upload_is_refused(client, headers):
    answer = upload(client, headers, b"", "empty.txt")
    assert answer.status_code == 400


def test_upload_needs_a_login_and_a_session_needs_the_csrf_header(client, auth, db):
    assert upload(client, {}, b"x").status_code == 401
    make_user(db, "eren")
    auth.login("eren")
    assert upload(client, {"X-CSRFToken": "forged"}, b"x").status_code == 400
    token = csrf_token(client.get("/rooms").text)
    assert upload(client, {"X-CSRFToken": token}, b"x").status_code == 201


def test_a_body_over_the_limit_is_refused_from_its_content_length(make_app, db, eren_user):
    app = make_app(UPLOAD_MAX_BYTES=4096)
    client = app.test_client()
    before = counts(db)
    answer = upload(client, bearer(db, eren_user), random_bytes(5000), "big.bin")
    assert answer.status_code == 413
    assert answer.json["error"]["code"] == "too_large"
    assert "4,096 bytes" in answer.json["error"]["message"]
    assert counts(db) == before


def test_a_chunked_body_is_cut_as_it_passes_the_limit(make_app, db, eren_user):
    app = make_app(UPLOAD_MAX_BYTES=300 * 1024)
    environ = streamed_upload(bearer(db, eren_user), 10 * MiB, chunked=True)
    before = counts(db)
    body, status, _ = run_wsgi_app(app, environ, buffered=True)
    assert status.startswith("413")
    assert b'"code":"too_large"' in b"".join(body)
    assert counts(db) == before


def test_the_quota_counts_every_file_a_person_owns(make_app, db, eren_user):
    app = make_app(UPLOAD_QUOTA_BYTES=10_000)
    client = app.test_client()
    headers = bearer(db, eren_user)
    assert upload(client, headers, random_bytes(6000)).status_code == 201
    over = upload(client, headers, random_bytes(6000))
    assert over.status_code == 413
    assert over.json["error"]["code"] == "quota_exceeded"
    assert upload(client, headers, random_bytes(4000)).status_code == 201
    # Someone else's quota is their own.
    assert (
        upload(client, bearer(db, make_user(db, "mikasa")), random_bytes(6000)).status_code == 201
    )


def test_an_upload_holds_a_chunk_or_two_in_memory(client, db, headers):
    size = 20 * MiB
    environ = streamed_upload(headers, size)
    client.get("/api/rooms", headers=headers)  # pool and app warmed up first
    tracemalloc.start()
    try:
        body, status, _ = run_wsgi_app(client.application, environ, buffered=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    answer = b"".join(body)
    assert status.startswith("201"), answer
    assert f'"size":{size}'.encode() in answer
    print(f"upload of 20 MiB: peak traced memory {peak / MiB:.2f} MiB")
    assert peak < 3 * MiB


# --- download -----------------------------------------------------------------------


def test_a_download_streams_with_memory_flat(client, db, headers):
    size = 20 * MiB
    body, _, _ = run_wsgi_app(client.application, streamed_upload(headers, size), buffered=True)
    key = orjson.loads(b"".join(body))["file"]["id"]
    tracemalloc.start()
    try:
        response = client.get(f"/api/files/{key}", headers=headers, buffered=False)
        received = 0
        for block in response.response:
            received += len(block)
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    assert response.headers["Content-Length"] == str(size)
    print(f"download of 20 MiB: peak traced memory {peak / MiB:.2f} MiB")
    assert peak < 3 * MiB


def test_headers_of_a_file(client, headers):
    data = b"a,b\n1,2\n"
    key = upload_key(client, headers, data, "résumé 2026.csv")
    response = client.get(f"/files/{key}/whatever.csv", headers=headers)
    assert response.status_code == 200
    assert response.data == data
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%202026.csv"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Cache-Control"].startswith("private")


@pytest.mark.parametrize(
    "range_header, status, part",
    [
        ("bytes=0-9", 206, slice(0, 10)),
        ("bytes=-10", 206, slice(-10, None)),
        ("bytes=600000-", 206, slice(600000, None)),
        ("bytes=262140-262150", 206, slice(262140, 262151)),  # across a chunk boundary
        ("bytes=10-5", 200, slice(None)),  # does not parse: the whole file
        ("bytes=0-1,5-6", 200, slice(None)),  # several ranges: the whole file
        ("bytes=700000-", 416, None),
        ("bytes=-0", 416, None),
    ],
)
def test_ranges(client, headers, range_header, status, part):
    data = random_bytes(650_000)
    key = upload_key(client, headers, data)
    response = client.get(f"/api/files/{key}", headers={**headers, "Range": range_header})
    assert response.status_code == status
    if status == 416:
        assert response.headers["Content-Range"] == f"bytes */{len(data)}"
        return
    assert response.data == data[part]
    assert response.headers["Content-Length"] == str(len(data[part]))
    if status == 206:
        start = part.start if part.start >= 0 else len(data) + part.start
        end = start + len(data[part]) - 1
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"


def test_if_none_match_and_if_range(client, headers):
    data = random_bytes(1000)
    key = upload_key(client, headers, data)
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    cached = client.get(f"/api/files/{key}", headers={**headers, "If-None-Match": etag})
    assert (cached.status_code, cached.data, cached.headers["ETag"]) == (304, b"", etag)
    other = client.get(f"/api/files/{key}", headers={**headers, "If-None-Match": '"other"'})
    assert other.status_code == 200
    stale = {**headers, "Range": "bytes=0-9", "If-Range": '"other"'}
    assert client.get(f"/api/files/{key}", headers=stale).status_code == 200
    fresh = {**headers, "Range": "bytes=0-9", "If-Range": etag}
    assert client.get(f"/api/files/{key}", headers=fresh).data == data[:10]


@pytest.mark.parametrize(
    "data, name",
    [
        (SVG_WITH_SCRIPT, "logo.svg"),
        (HTML_PAGE, "cat.png"),
        (truncated_jpeg() + b"<html>", "x.jpg"),
    ],
)
def test_hostile_files_are_attachments_never_inline(client, db, headers, data, name):
    answer = upload(client, headers, data, name)
    if answer.status_code == 422:  # refused outright: as good
        return
    key = answer.json["file"]["id"]
    send(client, headers, [key])
    mikasa = bearer(db, make_user(db, "mikasa"))
    for who in (headers, mikasa):
        response = client.get(f"/files/{key}/{name}", headers=who)
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("data", [gif_js_polyglot(), png_html_polyglot()])
def test_a_polyglot_image_is_shown_to_others_only_cleaned(client, db, headers, data):
    key = upload_key(client, headers, data, "pic.gif")
    send(client, headers, [key])
    mikasa = bearer(db, make_user(db, "mikasa"))
    own = client.get(f"/files/{key}/pic.gif", headers=headers)
    assert own.status_code == 200 and own.data == data  # the owner's own bytes
    assert own.headers["Content-Disposition"].startswith("inline;")
    assert own.headers["Content-Type"] in ("image/gif", "image/png")
    assert own.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert client.get(f"/files/{key}/pic.gif", headers=mikasa).status_code == 404
    clean = png()
    add_variant(db, key, "clean", clean)
    theirs = client.get(f"/files/{key}/pic.gif", headers=mikasa)
    assert (theirs.status_code, theirs.data) == (200, clean)
    assert theirs.headers["Content-Type"] == "image/png"


def test_an_image_the_worker_could_not_clean_is_its_owners_alone(client, db, headers):
    """Its metadata (GPS, camera) could not be taken out: others never get its
    bytes, and frames say it failed so pages show why."""
    key = upload_key(client, headers, png(), "pic.png")
    sent = send(client, headers, [key])
    db.execute("UPDATE files SET state = 'failed' WHERE key = %s", (key,))
    mikasa = bearer(db, make_user(db, "mikasa"))
    for path in (f"/files/{key}/pic.png", f"/api/files/{key}", f"/thumbs/{key}"):
        theirs = client.get(path, headers=mikasa)
        missing = client.get(path.replace(key, "A" * 22), headers=mikasa)
        assert (theirs.status_code, tokens_blanked(theirs.data)) == (
            404,
            tokens_blanked(missing.data),
        )
    assert client.get(f"/files/{key}/pic.png", headers=headers).status_code == 200
    listed = client.get("/api/rooms/general/messages", headers=mikasa).json["messages"]
    (message,) = [m for m in listed if m["seq"] == sent.json["seq"]]
    assert message["files"][0]["state"] == "failed"


def test_a_thumbnail_once_made(client, db, headers):
    key = upload_key(client, headers, png(), "pic.png")
    assert client.get(f"/thumbs/{key}", headers=headers).status_code == 404
    thumb = png(4, 3)
    add_variant(db, key, "thumb", thumb)
    response = client.get(f"/thumbs/{key}", headers=headers)
    assert (response.status_code, response.data) == (200, thumb)
    assert response.headers["Content-Disposition"].startswith("inline;")


# --- who may fetch a file ---------------------------------------------------------


@pytest.fixture
def people(db) -> dict[str, User]:
    return {name: make_user(db, name) for name in ("owner", "member", "stranger", "partner")}


def _rooms(db, people) -> dict[str, str]:
    """public (general), private (owner and member), direct (owner and partner)."""
    owner = people["owner"]
    with db.transaction():
        private = actions.create_room(db, "secret", owner.id, True)
        actions.add_member(db, private, owner, "member")
    direct = actions.open_direct(db, owner, "partner")
    with db.transaction():
        actions.join(db, room_row(db, "general"), people["member"])
    return {"public": "general", "private": "secret", "direct": direct}


# (room, reader) -> may fetch
MATRIX = {
    ("public", "owner"): True,
    ("public", "member"): True,
    ("public", "stranger"): True,  # a public room is readable by anyone logged in
    ("private", "owner"): True,
    ("private", "member"): True,
    ("private", "stranger"): False,
    ("private", "partner"): False,
    ("direct", "owner"): True,
    ("direct", "partner"): True,
    ("direct", "member"): False,
    ("direct", "stranger"): False,
    ("unsent", "owner"): True,
    ("unsent", "member"): False,
    ("unsent", "stranger"): False,
}


def test_who_may_fetch_a_file(client, db, people):
    rooms = _rooms(db, people)
    owner = bearer(db, people["owner"])
    readers = {name: bearer(db, user) for name, user in people.items()}
    keys = {}
    for where in ("public", "private", "direct", "unsent"):
        key = upload_key(client, owner, b"a secret plan\n", "plan.txt")
        if where != "unsent":
            assert send(client, owner, [key], room=rooms[where]).status_code == 201
        add_variant(db, key, "thumb", png(4, 3))
        keys[where] = key
    missing = "A" * 22
    refusal = client.get(f"/files/{missing}/plan.txt", headers=owner)
    assert refusal.status_code == 404
    for (where, reader), allowed in MATRIX.items():
        key = keys[where]
        for path in (f"/files/{key}/plan.txt", f"/thumbs/{key}", f"/api/files/{key}"):
            response = client.get(path, headers=readers[reader])
            assert response.status_code == (200 if allowed else 404), (where, reader, path)
            if not allowed:  # word for word the answer to a file that does not exist
                missing_path = path.replace(key, missing)
                like = client.get(missing_path, headers=readers[reader])
                assert tokens_blanked(response.data) == tokens_blanked(like.data)


def test_a_deleted_message_takes_its_files_with_it(client, db, headers):
    key = upload_key(client, headers, random_bytes(300_000), "data.bin")
    seq = send(client, headers, [key], "with a file").json["seq"]
    assert client.delete(f"/api/rooms/general/messages/{seq}", headers=headers).status_code == 200
    assert client.get(f"/api/files/{key}", headers=headers).status_code == 404
    assert counts(db)["files"] == 0 and counts(db)["chunks"] == 0


def test_files_of_a_message_in_a_room_one_cannot_see_are_404_even_by_the_api(client, db, people):
    rooms = _rooms(db, people)
    owner = bearer(db, people["owner"])
    key = upload_key(client, owner, b"x\n", "x.txt")
    send(client, owner, [key], room=rooms["private"])
    stranger = bearer(db, people["stranger"])
    answer = client.get(f"/api/files/{key}", headers=stranger)
    assert answer.status_code == 404
    assert answer.json["error"]["code"] == "not_found"


# --- sending with files -------------------------------------------------------------


def test_a_send_with_files_shows_them_in_the_listing(client, db, headers):
    shot = upload(client, headers, png(30, 20), "shot.png").json["file"]
    log = upload(client, headers, b"line\n", "build.log").json["file"]
    answer = send(client, headers, [shot["id"], log["id"]], "", client_id="c-1")
    assert answer.status_code == 201
    listed = client.get("/api/rooms/general/messages", headers=headers).json["messages"][-1]
    assert listed["content"] == ""
    assert listed["files"] == [shot, log]
    add_variant(db, shot["id"], "thumb", png(4, 3))
    listed = client.get("/api/rooms/general/messages", headers=headers).json["messages"][-1]
    assert listed["files"][0]["thumb"] == f"/thumbs/{shot['id']}"


def test_a_send_with_a_bad_file_stores_nothing(client, db, headers):
    good = upload_key(client, headers, b"good\n", "good.txt")
    theirs = upload_key(client, bearer(db, make_user(db, "mikasa")), b"x\n", "x.txt")
    before = counts(db)
    for bad in (theirs, "B" * 22):
        answer = send(client, headers, [good, bad], "two files")
        assert answer.status_code == 400
        assert answer.json["error"]["code"] == "bad_request"
        assert counts(db) == before
    row = db.execute("SELECT seq FROM files WHERE key = %s", (good,)).fetchone()
    assert row["seq"] is None  # still unsent, may be sent again


def test_a_file_is_sent_once_and_a_repeat_is_the_first_send(client, db, headers):
    key = upload_key(client, headers, b"once\n", "once.txt")
    first = send(client, headers, [key], "here", client_id="c-1")
    again = send(client, headers, [key], "here", client_id="c-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["seq"] == first.json["seq"] and again.json["duplicate"]
    other = send(client, headers, [key], "again", client_id="c-2")
    assert other.status_code == 400
    assert "already sent" in other.json["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"files": "notalist"},
        {"files": ["short"]},
        {"files": ["A" * 22, "A" * 22]},
        {"files": ["A" * 22] * 11},
        {"files": [], "content": ""},
        {"files": ["A" * 22], "content": 5},
    ],
)
def test_bad_file_lists_are_refused(client, headers, body):
    answer = client.post("/api/rooms/general/messages", json=body, headers=headers)
    assert answer.status_code == 400


def test_files_cannot_ride_on_a_command(client, headers):
    key = upload_key(client, headers, b"x\n")
    answer = send(client, headers, [key], "/help")
    assert answer.status_code == 400


def test_one_bad_send_in_a_batch_leaves_the_others(db, eren_user, client, headers):
    key = upload_key(client, headers, b"mine\n", "mine.txt")
    room = room_row(db)
    sends = [
        actions.Send.of(room, eren_user, "bad", None, files=("C" * 22,)),
        actions.Send.of(room, eren_user, "good", None, files=(key,)),
        actions.Send.of(room, eren_user, "plain", None),
        actions.Send.of(room, eren_user, "same file again", None, files=(key,)),
    ]
    outcomes = actions.send_messages(db, sends)
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == ["ChatError", "Sent", "Sent", "ChatError"]
    assert [o.seq for o in outcomes if type(o).__name__ == "Sent"] == [1, 2]
    messages = queries.messages_between(db, room.id, 0, 100, 10)
    assert [m.content for m in messages] == ["good", "plain"]
    assert [f.key for f in messages[0].files] == [key] and messages[1].files == ()


# --- link previews --------------------------------------------------------------------


def test_a_message_with_a_link_queues_a_preview_job(client, db, headers, monkeypatch):
    monkeypatch.setenv("LINK_PREVIEWS", "1")
    seq = client.post(
        "/api/rooms/general/messages",
        json={"content": "see https://example.com/page and http://other.example"},
        headers=headers,
    ).json["seq"]
    client.post("/api/rooms/general/messages", json={"content": "no link"}, headers=headers)
    jobs = db.execute("SELECT kind, seq, url FROM work_jobs").fetchall()
    assert jobs == [{"kind": "preview", "seq": seq, "url": "https://example.com/page"}]
    monkeypatch.setenv("LINK_PREVIEWS", "0")
    client.post(
        "/api/rooms/general/messages", json={"content": "https://x.example"}, headers=headers
    )
    assert len(db.execute("SELECT 1 FROM work_jobs").fetchall()) == 1


def test_the_author_removes_a_preview(client, db, headers):
    seq = client.post(
        "/api/rooms/general/messages", json={"content": "https://example.com"}, headers=headers
    ).json["seq"]
    room = room_row(db)
    db.execute(
        "INSERT INTO link_previews (room_id, seq, url, title) VALUES (%s, %s, %s, %s)",
        (room.id, seq, "https://example.com", "Example"),
    )
    listed = client.get("/api/rooms/general/messages", headers=headers).json["messages"][-1]
    assert listed["preview"]["title"] == "Example"
    mikasa = bearer(db, make_user(db, "mikasa"))
    path = f"/api/rooms/general/messages/{seq}/preview"
    assert client.delete(path, headers=mikasa).status_code == 403
    removed = client.delete(path, headers=headers)
    assert removed.status_code == 200
    assert client.delete(path, headers=headers).status_code == 404
    messages = client.get("/api/rooms/general/messages", headers=headers).json["messages"]
    assert "preview" not in messages[-2]
    event = messages[-1]
    assert (event["type"], event["target_seq"], event["preview"]) == ("link_preview", seq, None)


# --- the clean-up, and the reads' plans ------------------------------------------------


def test_unsent_files_are_deleted_after_their_time(client, db, headers):
    old = upload_key(client, headers, b"old\n")
    sent = upload_key(client, headers, b"sent\n")
    fresh = upload_key(client, headers, b"fresh\n")
    send(client, headers, [sent])
    db.execute(
        "UPDATE files SET created_at = now() - interval '25 hours' WHERE key <> %s", (fresh,)
    )
    assert actions.delete_unsent_files(db, 24) == 1
    keys = {row["key"] for row in db.execute("SELECT key FROM files")}
    assert keys == {sent, fresh}
    assert old not in keys


def test_message_reads_use_the_files_and_previews_indexes(db):
    plan = db.execute(
        "EXPLAIN " + queries.SQL_MESSAGES_BETWEEN,
        {"room_id": 1, "after": 0, "before": 100, "limit": 50, "kinds": ["chat", "action"]},
    ).fetchall()
    text = "\n".join(row["QUERY PLAN"] for row in plan)
    assert "files_message" in text
    assert "link_previews_pkey" in text


# --- the history page and the export ---------------------------------------------------


def test_the_history_page_shows_files_without_javascript(client, auth, db):
    user = make_user(db, "eren")
    headers = bearer(db, user)
    shot = upload(client, headers, png(800, 200), "wide shot.png").json["file"]
    log = upload(client, headers, b"x\n", "build.log").json["file"]
    send(client, headers, [shot["id"], log["id"]], "files")
    add_variant(db, shot["id"], "thumb", png(400, 100))
    # An image the worker could not process: its author keeps the link, others
    # see why they have none.
    broken = upload(client, headers, png(30, 20), "broken.png").json["file"]
    send(client, headers, [broken["id"]], "this one broke")
    db.execute("UPDATE files SET state = 'failed' WHERE key = %s", (broken["id"],))
    auth.login("eren")
    page = client.get("/rooms/general/history").text
    assert f'src="/thumbs/{shot["id"]}" width="400" height="100" loading="lazy"' in page
    assert f'href="/files/{log["id"]}/build.log"' in page
    assert f'href="/files/{broken["id"]}/broken.png"' in page
    auth.logout()
    make_user(db, "mikasa")
    auth.login("mikasa")
    theirs = client.get("/rooms/general/history").text
    assert f"/files/{broken['id']}/" not in theirs
    assert 'broken.png <span class="muted">(this image could not be processed)</span>' in theirs


def test_the_export_lists_files(client, db, eren_user, headers):
    key = upload_key(client, headers, b"a,b\n", "data 1.csv")
    send(client, headers, [key], "see file")
    rows = [
        orjson.loads(line)
        for line in client.get("/api/rooms/general/export.jsonl", headers=headers).data.splitlines()
    ]
    assert rows[-1]["files"] == [
        {"name": "data 1.csv", "size": 4, "type": "text/plain", "url": f"/files/{key}/data%201.csv"}
    ]
    csv_text = client.get("/api/rooms/general/export.csv", headers=headers).text
    assert f"/files/{key}/data%201.csv" in csv_text


@pytest.mark.parametrize("name", ["thumb", "thumbs", "-", "..thumb"])
def test_every_name_downloads_its_own_file(client, headers, name):
    """A file's URL leads to that file whatever its name (a name was once a route)."""
    answer = upload(client, headers, b"just text " + name.encode(), name)
    assert answer.status_code == 201, answer.json
    download = client.get(answer.json["file"]["url"], headers=headers)
    assert download.status_code == 200 and download.data == b"just text " + name.encode()


def test_an_unsent_upload_is_deleted_by_its_owner_only(client, db, headers):
    """The chip's ×: an upload not sent yet goes, its bytes back to the quota;
    nobody else's, and nothing sent, can be deleted this way."""
    key = upload_key(client, headers, b"a draft's attachment\n", "draft.txt")
    mikasa = bearer(db, make_user(db, "mikasa"))
    assert client.delete(f"/api/files/{key}", headers=mikasa).status_code == 404
    assert client.delete(f"/api/files/{key}", headers=headers).status_code == 204
    assert client.get(f"/api/files/{key}", headers=headers).status_code == 404
    assert client.delete(f"/api/files/{key}", headers=headers).status_code == 404
    sent = upload_key(client, headers, b"sent\n", "sent.txt")
    send(client, headers, [sent])
    assert client.delete(f"/api/files/{sent}", headers=headers).status_code == 404
    assert client.get(f"/api/files/{sent}", headers=headers).status_code == 200
