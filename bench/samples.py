"""A typical chat message, for the benchmarks that need one without a server."""

from datetime import UTC, datetime

from chat.domain.render import render
from chat.protocol import outbound


def typical_content(seq: int) -> str:
    """A message's text (about 50 characters), numbered so that no two are equal."""
    return f"Shall we move the standup to 10:30 tomorrow? ({seq})"


def typical_frame(seq: int = 123456) -> str:
    """A `chat` frame as the server encodes one (about 250 bytes of JSON)."""
    content = typical_content(seq)
    created = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    html = render(content)
    return outbound.chat_frame("general", seq, "alice", content, created, f"c-{seq}", html)
