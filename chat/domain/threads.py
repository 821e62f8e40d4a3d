"""Threads and quote-replies: what a send says about them, and their limits.

A reply is a message of the room's sequence whose `thread_seq` is its thread's
root (docs/protocol.md, "Threads"). Threads are one level deep: a reply to a
reply belongs to the root's thread (the writer resolves it under the room's
lock). A quote-reply names the message it answers; it is shown with a
snippet of that message, in the main flow or in a thread.
"""

from dataclasses import dataclass

# The start of a quoted message a quote-reply shows: enough to recognise it,
# short enough that a quote never outweighs the reply.
QUOTE_CHARS = 200
# The start of a thread's root shown beside a reply also sent to the room
# ("replied in a thread: eren: Who takes…"): a line's worth beside the reply's
# name and time (static/thread_roots.js shows as much).
ROOT_SNIPPET_CHARS = 80
# What a root's snippet is read from: enough text that collapsing its spaces
# still leaves ROOT_SNIPPET_CHARS, bounded so that a long root is not read whole.
ROOT_READ_CHARS = 4 * ROOT_SNIPPET_CHARS
# Faces (or initials) of the latest repliers shown under a root: what fits on
# a phone's line beside "N replies".
THREAD_FACES = 5
# Followed threads with unread replies the `threads` frame lists on connect;
# totals count all of them. A person with more unread threads than this sees
# the rest in the Threads view.
THREADS_FRAME_MAX = 200


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """Where a message goes besides the room: `thread` the seq of the message it
    replies to in a thread (a reply's seq means that reply's thread), None for
    the main flow; `also_in_room` (a reply only) shows it in the main flow too;
    `quote` the seq of the message it quotes (a quote-reply)."""

    thread: int | None = None
    also_in_room: bool = False
    quote: int | None = None

    def __bool__(self) -> bool:
        return self.thread is not None or self.quote is not None


NO_REPLY = ReplyTo()


def snippet(text: str, chars: int) -> str:
    """The start of a message's text on one line, `chars` characters at most
    and an ellipsis if cut; as text (the page escapes it)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= chars else flat[: chars - 1] + "…"
