"""The worker (chat/bots/work.py) in this process on the real PostgreSQL, with real
Pillow and a real local web server: image variants (EXIF stripped and applied,
animation, bombs, broken files), the `files` event, exactly once across a
worker that died mid-job, link previews end to end, refusals, and the queue."""

import io
import resource

import orjson
import pytest
from PIL import Image

from chat import actions
from chat.bots.work import KINDS, Worker
from chat.domain.threads import ReplyTo

from ..actions.notifies import heard, stored_frames
from ..conftest import make_user, room_row, send_as
from . import media
from .pages import Page, PageServer

MAX_PIXELS = 50_000_000


@pytest.fixture
def pages():
    server = PageServer()
    yield server
    server.close()


@pytest.fixture
def make_worker(make_app, pages):
    """A worker whose retries fall due at once; the five upload settings of issue 17
    are passed explicitly (their defaults live with the upload route)."""

    def make(**overrides):
        settings = {
            "BOT_RETRY_DELAY": 0.0,
            "BOT_MAX_ATTEMPTS": 3,
            "BOT_POLL_INTERVAL": 60.0,
            "BOT_VISIBILITY_TIMEOUT": 30.0,
            "UPLOAD_MAX_BYTES": 25 * 1024 * 1024,
            "IMAGE_MAX_PIXELS": MAX_PIXELS,
            "LINK_PREVIEWS": True,
            "UPLOAD_UNSENT_HOURS": 24,
            "EGRESS_ALLOW": pages.allow,
            **overrides,
        }
        app = make_app(**settings)
        return Worker(app.config, app.extensions["db_pool"])

    return make


@pytest.fixture
def eren(db):
    return make_user(db)


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- images ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_photo_is_turned_upright_and_loses_its_exif_gps_and_text(db, eren, make_worker, fmt):
    data = media.photo(fmt, size=(640, 480), orientation=6)
    assert b"PhoneMaker" in data
    file = media.insert_file(db, eren, data, f"image/{fmt.lower()}", width=480, height=640)
    assert make_worker().drain() == 1

    assert media.file_row(db, file["id"])["state"] == "ready"
    assert media.work_row(db, file["job"])["state"] == "done"
    row, clean = media.variant(db, file["id"], "clean")
    image = opened(clean)
    assert image.format == fmt and row["media_type"] == f"image/{fmt.lower()}"
    # Orientation 6: the camera was turned a quarter; upright, 480 wide and 640 high,
    # and the left half (red) is now the top.
    assert image.size == (480, 640) == (row["width"], row["height"])
    assert image.convert("RGB").getpixel((240, 100))[0] > 150
    assert image.convert("RGB").getpixel((240, 540))[2] > 150
    assert not image.getexif() and "exif" not in image.info
    assert not {"icc_profile", "xmp", "comment", "Comment"} & set(image.info)
    for marker in (b"PhoneMaker", b"Exif", b"taken at home", b"GPS"):
        assert marker not in clean
    assert row["size"] == len(clean) and len(row["sha256"]) == 32

    row, thumb = media.variant(db, file["id"], "thumb")
    image = opened(thumb)
    assert image.format == "WEBP" and row["media_type"] == "image/webp"
    assert max(image.size) <= 400 and image.size == (300, 400)
    assert b"PhoneMaker" not in thumb


def test_an_animated_gif_keeps_its_frames_without_its_comment(db, eren, make_worker):
    file = media.insert_file(
        db, eren, media.animated_gif(frames=3), "image/gif", width=60, height=40
    )
    make_worker().drain()
    _, clean = media.variant(db, file["id"], "clean")
    image = Image.open(io.BytesIO(clean))
    assert image.format == "GIF" and image.n_frames == 3
    assert b"made by someone" not in clean
    _, thumb = media.variant(db, file["id"], "thumb")
    assert opened(thumb).format == "WEBP"


def test_an_animation_over_the_pixel_limit_keeps_its_first_frame(db, eren, make_worker):
    # 4 frames of 60x40 = 9,600 pixels: a limit of 5,000 allows one frame only.
    file = media.insert_file(db, eren, media.animated_gif(frames=4), "image/gif")
    make_worker(IMAGE_MAX_PIXELS=5_000).drain()
    _, clean = media.variant(db, file["id"], "clean")
    assert getattr(Image.open(io.BytesIO(clean)), "n_frames", 1) == 1


def test_a_webp_with_transparency_stays_webp_and_transparent(db, eren, make_worker):
    file = media.insert_file(db, eren, media.webp(), "image/webp", width=900, height=300)
    make_worker().drain()
    _, clean = media.variant(db, file["id"], "clean")
    image = opened(clean)
    assert image.format == "WEBP" and image.mode == "RGBA" and image.size == (900, 300)
    row, thumb = media.variant(db, file["id"], "thumb")
    assert (row["width"], row["height"]) == (400, 133)
    assert opened(thumb).mode == "RGBA"


@pytest.mark.parametrize(
    "side, limit",
    [(30_000, MAX_PIXELS), (40, 1_000), (30, 899)],
    ids=["30000x30000-pillow-error", "1.6x-the-limit-pillow-warning", "just-over"],
)
def test_a_decompression_bomb_is_refused_without_decoding_it(
    db, eren, make_worker, caplog, side, limit
):
    bomb = media.png_bomb(side)
    assert len(bomb) < 200_000  # a small file...
    file = media.insert_file(db, eren, bomb, "image/png")
    worker = make_worker(IMAGE_MAX_PIXELS=limit)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert worker.drain() == 1
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    # ...that would be 900 megapixels (110 MB as 1-bit, 900 MB as 8-bit) decoded.
    assert grown_kb < 50_000
    assert media.file_row(db, file["id"])["state"] == "failed"
    job = media.work_row(db, file["job"])
    assert job["state"] == "done" and "decompression bomb" in job["last_error"]
    assert media.variant(db, file["id"], "thumb") == (None, b"")
    assert "refused" in caplog.text and "picture" not in caplog.text  # never the file's name


@pytest.mark.parametrize(
    "data, media_type",
    [
        (media.truncated(media.photo("JPEG", size=(800, 600), orientation=None)), "image/jpeg"),
        (media.truncated(media.photo("PNG", size=(300, 300), orientation=None), 0.6), "image/png"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png"),
        (b"GIF89a" + b"\xff" * 40, "image/gif"),
        (b"not an image at all", "image/webp"),
    ],
    ids=["truncated-jpeg", "truncated-png", "png-garbage", "gif-garbage", "no-image"],
)
def test_broken_images_fail_without_a_crash(db, eren, make_worker, data, media_type):
    file = media.insert_file(db, eren, data, media_type)
    assert make_worker().drain() == 1
    assert media.file_row(db, file["id"])["state"] == "failed"
    job = media.work_row(db, file["job"])
    assert job["state"] == "done" and job["attempts"] == 1
    assert "not a readable image" in job["last_error"]


def test_a_broken_image_already_sent_tells_its_readers_it_failed(
    db, eren, make_worker, database_url
):
    """A page shows a sent image's box until its thumbnail comes: when none ever
    will, a `files` event says so (state failed), as a thumbnail's would."""
    file = media.insert_file(db, eren, media.photo()[:300], "image/jpeg")
    seq = send_as(db, eren, "look")
    media.attach(db, room_row(db), seq, file["id"])
    with heard(database_url) as found:
        make_worker().drain()
    [frame] = stored_frames(found)
    assert (frame["type"], frame["target_seq"]) == ("chat_files", seq)
    assert [(f["state"], f["thumb"]) for f in frame["files"]] == [("failed", None)]


def test_an_original_over_the_upload_limit_is_refused_unread(db, eren, make_worker):
    file = media.insert_file(db, eren, media.webp(), "image/webp")
    make_worker(UPLOAD_MAX_BYTES=100).drain()
    assert media.file_row(db, file["id"])["state"] == "failed"


# --- the files event -------------------------------------------------------------------


def test_a_file_sent_before_its_thumbnail_gets_a_files_event(db, eren, make_worker, database_url):
    room = room_row(db)
    file = media.insert_file(
        db, eren, media.photo(), "image/jpeg", name="cat.jpg", width=480, height=640
    )
    seq = send_as(db, eren, "look")
    media.attach(db, room, seq, file["id"])
    with heard(database_url) as found:
        make_worker().drain()
    [event] = media.events(db, room, "files")
    assert event["target_seq"] == seq and event["user_id"] == eren.id
    [frame] = stored_frames(found)
    assert frame["type"] == "chat_files" and frame["room"] == "general"
    assert frame["seq"] == event["seq"] and frame["target_seq"] == seq
    assert frame["username"] == "eren"
    assert frame["files"] == [
        {
            "id": file["key"],
            "name": "cat.jpg",
            "size": len(media.photo()),
            "type": "image/jpeg",
            "width": 480,
            "height": 640,
            "url": f"/files/{file['key']}/cat.jpg",
            "thumb": f"/thumbs/{file['key']}",
            "state": "ready",
        }
    ]
    assert room_row(db).last_seq == event["seq"]


def test_a_file_sent_after_its_thumbnail_gets_no_event(db, eren, make_worker, database_url):
    room = room_row(db)
    file = media.insert_file(db, eren, media.photo(), "image/jpeg")
    make_worker().drain()
    seq = send_as(db, eren, "look")
    media.attach(db, room, seq, file["id"])
    assert media.events(db, room, "files") == []
    assert room_row(db).last_seq == seq


def test_a_job_whose_worker_died_is_done_once_by_another(db, eren, make_worker, database_url):
    room = room_row(db)
    file = media.insert_file(db, eren, media.photo(), "image/jpeg")
    seq = send_as(db, eren, "look")
    media.attach(db, room, seq, file["id"])
    worker = make_worker()
    # A worker claims the job and dies: its claim runs out (a visibility of 0
    # stands in for the wait), and another worker takes it up.
    with worker.pool.connection() as conn:
        lost = actions.claim_work(conn, KINDS, 0.0)
    assert lost["attempts"] == 1
    with heard(database_url) as found:
        assert worker.drain() == 1
        # The first worker was only slow: it comes back with its result, too late.
        with worker.pool.connection() as conn:
            late = actions.store_variants(conn, lost["id"], file["id"], [])
        assert not late.written
    assert len(media.events(db, room, "files")) == 1
    assert [f["type"] for f in stored_frames(found)] == ["chat_files"]
    job = media.work_row(db, file["job"])
    assert job["state"] == "done" and job["attempts"] == 2


def test_a_job_whose_workers_keep_dying_is_given_up(db, eren, make_worker):
    file = media.insert_file(db, eren, media.photo(), "image/jpeg")
    worker = make_worker(BOT_MAX_ATTEMPTS=2)
    for _ in range(2):
        with worker.pool.connection() as conn:
            actions.claim_work(conn, KINDS, 0.0)
    assert worker.drain() == 1
    assert media.work_row(db, file["job"])["state"] == "failed"
    assert media.file_row(db, file["id"])["state"] == "failed"


def test_a_file_deleted_before_its_job_is_nothing_to_do(db, eren, make_worker):
    file = media.insert_file(db, eren, media.photo(), "image/jpeg")
    db.execute("DELETE FROM files WHERE id = %s", (file["id"],))
    assert make_worker().drain() == 0  # its job went with it


def test_finished_jobs_older_than_a_week_are_cleaned_up(db, eren, make_worker):
    old = media.insert_file(db, eren, media.webp(), "image/webp")
    new = media.insert_file(db, eren, media.webp(), "image/webp")
    worker = make_worker()
    worker.drain()
    db.execute(
        "UPDATE work_jobs SET finished_at = now() - interval '8 days' WHERE id = %s", (old["job"],)
    )
    worker.clean_up()
    assert media.work_row(db, old["job"]) is None
    assert media.work_row(db, new["job"])["state"] == "done"


def test_uploads_never_sent_are_cleaned_up_but_not_avatars_or_recent_ones(db, eren, make_worker):
    def aged(hours: int, job: bool = False) -> dict:
        file = media.insert_file(db, eren, media.webp(), "image/webp", job=job)
        db.execute(
            "UPDATE files SET created_at = now() - make_interval(hours => %s) WHERE id = %s",
            (hours, file["id"]),
        )
        return file

    forgotten, recent, avatar = aged(25), aged(23), aged(48)
    db.execute("UPDATE users SET avatar_file_id = %s WHERE id = %s", (avatar["id"], eren.id))
    make_worker().clean_up()
    left = {r["id"] for r in db.execute("SELECT id FROM files")}
    assert left == {recent["id"], avatar["id"]}
    assert (
        db.execute(
            "SELECT count(*) AS n FROM file_chunks WHERE file_id = %s", (forgotten["id"],)
        ).fetchone()["n"]
        == 0
    )


# --- link previews ---------------------------------------------------------------------

PAGE = (
    "<html><head><title>Ignored</title>"
    '<meta property="og:title" content="Eren &amp; the Walls">'
    '<meta property="og:description" content="A story about walls.">'
    '<meta property="og:site_name" content="Paradis">'
    '<meta property="og:image" content="/wall.png">'
    "</head><body>secret body</body></html>"
)


def queue_preview(db, room, seq: int, url: str) -> int:
    """Message seq's pending preview job: the one its send queued (for `url`, its
    first link), or a new one if that was handled already (as a repeat would be)."""
    queued = db.execute(
        "SELECT id, url FROM work_jobs WHERE kind = 'preview' AND room_id = %s AND seq = %s"
        " AND state = 'pending'",
        (room.id, seq),
    ).fetchone()
    if queued is not None:
        assert queued["url"] == url
        return queued["id"]
    return db.execute(
        "INSERT INTO work_jobs (kind, room_id, seq, url) VALUES ('preview', %s, %s, %s)"
        " RETURNING id",
        (room.id, seq, url),
    ).fetchone()["id"]


def test_a_link_gets_its_preview_event(db, eren, make_worker, pages, database_url):
    pages.pages["/walls"] = Page(PAGE)
    url = pages.url("/walls?id=7")
    room = room_row(db)
    seq = send_as(db, eren, f"read {url} now")
    job_id = queue_preview(db, room, seq, url)
    with heard(database_url) as found:
        assert make_worker().drain() == 1
    [frame] = stored_frames(found)
    assert frame == {
        "type": "link_preview",
        "room": "general",
        "seq": seq + 1,
        "target_seq": seq,
        "username": "eren",
        "preview": {
            "url": url,
            "title": "Eren & the Walls",
            "description": "A story about walls.",
            "site_name": "Paradis",
            "image": pages.url("/wall.png"),
        },
        "ts": frame["ts"],
    }
    row = db.execute("SELECT * FROM link_previews WHERE room_id = %s", (room.id,)).fetchone()
    assert (row["seq"], row["url"], row["title"]) == (seq, url, "Eren & the Walls")
    assert media.work_row(db, job_id)["state"] == "done"
    assert [e["target_seq"] for e in media.events(db, room, "preview")] == [seq]
    # Done once: another drain finds nothing, and a second job for it writes nothing.
    queue_preview(db, room, seq, url)
    make_worker().drain()
    assert len(media.events(db, room, "preview")) == 1


def test_a_refused_address_is_final_and_logged_without_the_path(
    db, eren, make_worker, pages, caplog
):
    url = "http://127.0.0.1:9/private/secret-path?token=abc"  # not in EGRESS_ALLOW
    room = room_row(db)
    seq = send_as(db, eren, f"see {url}")
    job_id = queue_preview(db, room, seq, url)
    assert make_worker().drain() == 1
    job = media.work_row(db, job_id)
    assert job["state"] == "failed" and job["attempts"] == 1
    assert media.events(db, room, "preview") == []
    assert "secret-path" not in caplog.text and "token=abc" not in caplog.text
    assert f"preview job {job_id}" in caplog.text


def test_not_html_is_final(db, eren, make_worker, pages):
    pages.pages["/cat.png"] = Page(b"\x89PNG....", content_type="image/png")
    url = pages.url("/cat.png")
    room = room_row(db)
    seq = send_as(db, eren, url)
    job_id = queue_preview(db, room, seq, url)
    make_worker().drain()
    assert media.work_row(db, job_id)["state"] == "failed"
    assert media.events(db, room, "preview") == []


def test_a_transient_failure_is_retried_with_backoff(db, eren, make_worker, pages):
    pages.pages["/busy"] = Page("<title>busy</title>", status=503)
    url = pages.url("/busy")
    room = room_row(db)
    seq = send_as(db, eren, url)
    job_id = queue_preview(db, room, seq, url)
    make_worker(BOT_RETRY_DELAY=100.0).drain()
    job = db.execute(
        "SELECT state, attempts, run_after - now() AS wait FROM work_jobs WHERE id = %s",
        (job_id,),
    ).fetchone()
    assert job["state"] == "pending" and job["attempts"] == 1
    assert 90 < job["wait"].total_seconds() <= 100
    # Once the page is back and the retry is due, it is made.
    pages.pages["/busy"] = Page(PAGE)
    db.execute("UPDATE work_jobs SET run_after = now() WHERE id = %s", (job_id,))
    make_worker().drain()
    assert media.work_row(db, job_id)["state"] == "done"
    assert len(media.events(db, room, "preview")) == 1


@pytest.mark.parametrize("change", ["delete", "edit"])
def test_a_message_deleted_or_edited_meanwhile_gets_no_preview(
    db, eren, make_worker, pages, change
):
    pages.pages["/walls"] = Page(PAGE)
    url = pages.url("/walls")
    room = room_row(db)
    seq = send_as(db, eren, f"read {url}")
    job_id = queue_preview(db, room, seq, url)
    if change == "delete":
        actions.delete_message(db, room, eren, seq)
    else:
        actions.edit_message(db, room, eren, seq, "read https://example.com/other instead")
    make_worker().drain()
    # The deletion, or the edit that changed the link, took the job with it.
    assert media.work_row(db, job_id) is None
    assert media.events(db, room, "preview") == []
    assert pages.requests == []  # not even fetched


def test_previews_turned_off_close_their_jobs_unfetched(db, eren, make_worker, pages):
    pages.pages["/walls"] = Page(PAGE)
    url = pages.url("/walls")
    room = room_row(db)
    job_id = queue_preview(db, room, send_as(db, eren, url), url)
    make_worker(LINK_PREVIEWS=False).drain()
    assert media.work_row(db, job_id)["state"] == "done"
    assert pages.requests == []


def test_the_preview_event_replays_from_the_table(db, eren, make_worker, pages):
    """The event row is a stored row like an edit: a resume reads it back."""
    pages.pages["/walls"] = Page(PAGE)
    url = pages.url("/walls")
    room = room_row(db)
    seq = send_as(db, eren, url)
    queue_preview(db, room, seq, url)
    make_worker().drain()
    row = db.execute(
        "SELECT kind, target_seq, content FROM messages WHERE room_id = %s AND seq = %s",
        (room.id, seq + 1),
    ).fetchone()
    assert (row["kind"], row["target_seq"], row["content"]) == ("preview", seq, "")
    assert orjson.dumps(row)  # plain values


def test_the_workers_events_of_a_reply_say_its_thread(db, eren, make_worker, pages, database_url):
    """Every event of a reply names its thread, as edits, deletes and reactions
    do: the files event and the preview event the worker writes too, live and
    as stored rows (a thread panel shows them; the room's list skips them)."""
    pages.pages["/walls"] = Page(PAGE)
    url = pages.url("/walls")
    room = room_row(db)
    root = send_as(db, eren, "plan?")
    file = media.insert_file(db, eren, media.photo(), "image/jpeg", width=480, height=640)
    seq = actions.send_message(db, room, eren, f"see {url}", None, reply=ReplyTo(root)).seq
    media.attach(db, room, seq, file["id"])
    queue_preview(db, room, seq, url)
    with heard(database_url) as found:
        make_worker().drain()
    frames = {f["type"]: f for f in stored_frames(found)}
    assert set(frames) == {"chat_files", "link_preview"}
    assert all(f["thread"] == root and f["target_seq"] == seq for f in frames.values())
    rows = db.execute(
        "SELECT kind, thread_seq FROM messages WHERE room_id = %s AND target_seq = %s",
        (room.id, seq),
    ).fetchall()
    assert sorted((r["kind"], r["thread_seq"]) for r in rows) == [
        ("files", root),
        ("preview", root),
    ]


def test_an_edit_that_changes_the_link_drops_the_preview_and_queues_the_new_one(
    db, eren, make_worker, pages
):
    """A card must never vouch for a link its message no longer has."""
    pages.pages["/walls"] = Page(PAGE)
    url = pages.url("/walls")
    room = room_row(db)
    seq = send_as(db, eren, f"read {url}")
    make_worker().drain()
    assert db.execute("SELECT count(*) AS n FROM link_previews").fetchone()["n"] == 1
    actions.edit_message(db, room, eren, seq, f"read {url} (worth it)")  # same link: kept
    assert db.execute("SELECT count(*) AS n FROM link_previews").fetchone()["n"] == 1
    other = pages.url("/other")
    actions.edit_message(db, room, eren, seq, f"no, read {other}")
    assert db.execute("SELECT count(*) AS n FROM link_previews").fetchone()["n"] == 0
    queued = db.execute(
        "SELECT url FROM work_jobs WHERE kind = 'preview' AND seq = %s AND state = 'pending'",
        (seq,),
    ).fetchall()
    assert [row["url"] for row in queued] == [other]
    actions.edit_message(db, room, eren, seq, "no link at all")
    assert (
        db.execute(
            "SELECT count(*) AS n FROM work_jobs WHERE seq = %s AND state = 'pending'", (seq,)
        ).fetchone()["n"]
        == 0
    )


def test_previews_and_sent_images_go_before_a_pile_of_unsent_uploads(db, eren, make_worker):
    """Someone's many uploads never sent cannot hold up everyone's previews and
    thumbnails: the queue takes previews, then images in messages, then the rest."""
    unsent = [media.insert_file(db, eren, media.webp(), "image/webp")["job"] for _ in range(3)]
    sent_file = media.insert_file(db, eren, media.webp(), "image/webp")
    seq = send_as(db, eren, "look")
    media.attach(db, room_row(db), seq, sent_file["id"])
    preview = queue_preview(
        db, room_row(db), send_as(db, eren, "https://example.invalid/"), "https://example.invalid/"
    )
    claimed = []
    while (job := actions.claim_work(db, ("image", "preview"), 30)) is not None:
        claimed.append(job["id"])
        actions.close_work(db, job["id"], "taken in order", failed=False)
    assert claimed == [preview, sent_file["job"], *unsent]
