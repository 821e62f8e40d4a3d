"""A preview job's result (docs/files.md): a message's link preview card stored
(`link_previews`) and announced as its `preview` event (a `link_preview` frame).

One transaction under the room's lock, then the job's (the order of
chat/actions/variants.py). The card is written only if it still belongs: the
message is there and not deleted, its first link is still the one fetched (an
edit may have changed it), it has no preview yet, and the job is still pending
(so it is written exactly once).
"""

from psycopg import Connection

from chat.actions.channels import publish_stored
from chat.actions.work import finish_work, lock_work
from chat.domain.entities import Message, Preview
from chat.domain.kinds import KIND_PREVIEW, MESSAGE_KINDS
from chat.domain.links import first_link
from chat.protocol import outbound
from chat.storage import bus

# The schema's bounds (migration 0017's CHECKs); chat/bots/preview.py cuts
# texts shorter still, these only make sure a row never fails them.
TITLE_MAX, DESCRIPTION_MAX, SITE_NAME_MAX, IMAGE_URL_MAX = 300, 1000, 200, 2048

SQL_LOCK_ROOM = "SELECT id, name FROM rooms WHERE id = %s FOR NO KEY UPDATE"
SQL_TARGET = """
    SELECT m.user_id, u.username, m.kind, m.html, m.deleted_at, m.thread_seq,
           EXISTS (SELECT 1 FROM link_previews p
                   WHERE p.room_id = m.room_id AND p.seq = m.seq) AS has_preview
    FROM messages m JOIN users u ON u.id = m.user_id
    WHERE m.room_id = %s AND m.seq = %s
"""
SQL_INSERT_PREVIEW = """
    INSERT INTO link_previews (room_id, seq, url, title, description, site_name, image_url)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
SQL_NEXT_SEQ = "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq"
SQL_INSERT_PREVIEW_EVENT = """
    INSERT INTO messages (room_id, seq, user_id, content, kind, target_seq, thread_seq)
    VALUES (%s, %s, %s, '', 'preview', %s, %s)
    RETURNING created_at
"""


def preview_wanted(conn: Connection, room_id: int, seq: int, url: str) -> str | None:
    """Why message `seq` needs no preview of `url` any more (None: it does).
    A read before the fetch, so that a deleted or edited message costs no request."""
    return _unwanted(conn.execute(SQL_TARGET, (room_id, seq)).fetchone(), url)


def _unwanted(target: dict | None, url: str) -> str | None:
    if target is None or target["kind"] not in MESSAGE_KINDS:
        return "the message is gone"
    if target["deleted_at"] is not None:
        return "the message was deleted"
    if first_link(target["html"] or "") != url:
        return "the message's first link changed"
    if target["has_preview"]:
        return "the message has a preview"
    return None


def store_preview(conn: Connection, job: dict, preview: Preview | None) -> int | None:
    """Store message job["seq"]'s preview card and write its `preview` event, and
    close the job, in one transaction; the event's seq. With `preview` None (the
    page had nothing to show), or when the message no longer wants it (deleted,
    its first link changed, a preview there), the job is closed and nothing
    else is written: None."""
    room_id, target_seq = job["room_id"], job["seq"]
    with conn.transaction():
        room = conn.execute(SQL_LOCK_ROOM, (room_id,)).fetchone()
        if room is None or not lock_work(conn, job["id"]):
            return None
        target = conn.execute(SQL_TARGET, (room_id, target_seq)).fetchone()
        skip = _unwanted(target, job["url"])
        if skip is None and preview is None:
            skip = "the page has nothing to show"
        if skip is not None:
            finish_work(conn, job["id"], skip)
            return None
        preview = _bounded(preview)
        conn.execute(
            SQL_INSERT_PREVIEW,
            (
                room_id,
                target_seq,
                preview.url,
                preview.title,
                preview.description,
                preview.site_name,
                preview.image_url,
            ),
        )
        seq = conn.execute(SQL_NEXT_SEQ, (room_id,)).fetchone()["last_seq"]
        created_at = conn.execute(
            SQL_INSERT_PREVIEW_EVENT,
            (room_id, seq, target["user_id"], target_seq, target["thread_seq"]),
        ).fetchone()["created_at"]
        written = Message(
            seq,
            target["username"],
            "",
            created_at,
            kind=KIND_PREVIEW,
            target_seq=target_seq,
            thread_seq=target["thread_seq"],
            preview=preview,
        )
        frame = outbound.row_frame(room["name"], written)
        publish_stored(conn, [bus.Stored(room_id, seq, frame, bus.now_ms())])
        finish_work(conn, job["id"])
    return seq


def _cut(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def _bounded(preview: Preview) -> Preview:
    image = (
        preview.image_url if preview.image_url and len(preview.image_url) <= IMAGE_URL_MAX else None
    )
    return Preview(
        preview.url,
        _cut(preview.title, TITLE_MAX),
        _cut(preview.description, DESCRIPTION_MAX),
        _cut(preview.site_name, SITE_NAME_MAX),
        image,
    )
