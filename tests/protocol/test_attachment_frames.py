"""Frames of attachments and link previews (docs/files.md): built by the same
code live and on catch-up, a message without files unchanged."""

from datetime import UTC, datetime

from chat.domain import kinds
from chat.domain.entities import Attachment, Message, Preview
from chat.protocol import outbound

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SHOT = Attachment("A" * 22, "shot 1.png", 80211, "image/png", 1280, 800, True, "ready")
REPORT = Attachment("B" * 22, "r/é.pdf", 48213, "application/pdf")
CARD = Preview("https://example.org/a", "A title", None, "Example", "https://example.org/i.png")


def test_a_message_without_files_has_no_files_key():
    frame = outbound.row_message("general", Message(3, "eren", "hi", WHEN, "<p>hi</p>"))
    assert "files" not in frame and "preview" not in frame


def test_a_message_lists_its_files_in_order_with_their_urls():
    message = Message(3, "eren", "", WHEN, "", files=(SHOT, REPORT))
    frame = outbound.row_message("general", message)
    assert frame["files"] == [
        {
            "id": "A" * 22,
            "name": "shot 1.png",
            "size": 80211,
            "type": "image/png",
            "width": 1280,
            "height": 800,
            "url": f"/files/{'A' * 22}/shot%201.png",
            "thumb": f"/thumbs/{'A' * 22}",
            "state": "ready",
        },
        {
            "id": "B" * 22,
            "name": "r/é.pdf",
            "size": 48213,
            "type": "application/pdf",
            "width": None,
            "height": None,
            "url": f"/files/{'B' * 22}/r%2F%C3%A9.pdf",
            "thumb": None,
            "state": "stored",
        },
    ]
    live = outbound.chat_message("general", 3, "eren", "", WHEN, None, "", files=(SHOT, REPORT))
    assert live == frame


def test_a_deleted_message_shows_neither_files_nor_preview():
    message = Message(3, "eren", "x", WHEN, "x", files=(SHOT,), preview=CARD, deleted_at=WHEN)
    frame = outbound.row_message("general", message)
    assert "files" not in frame and "preview" not in frame and frame["deleted"] is True


def test_events_carry_the_message_s_files_and_preview_now():
    files = Message(9, "eren", "", WHEN, kind=kinds.KIND_FILES, target_seq=3, files=(SHOT,))
    assert outbound.row_message("general", files)["type"] == "chat_files"
    assert outbound.row_message("general", files)["files"][0]["thumb"] is not None
    added = Message(10, "eren", "", WHEN, kind=kinds.KIND_PREVIEW, target_seq=3, preview=CARD)
    frame = outbound.row_message("general", added)
    assert (frame["type"], frame["target_seq"]) == ("link_preview", 3)
    assert frame["preview"] == {
        "url": "https://example.org/a",
        "title": "A title",
        "description": None,
        "site_name": "Example",
        "image": "https://example.org/i.png",
    }
    removed = Message(11, "eren", "", WHEN, kind=kinds.KIND_PREVIEW_REMOVE, target_seq=3)
    assert outbound.row_message("general", removed)["preview"] is None
