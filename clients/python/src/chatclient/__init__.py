"""A typed client for the chat server's JSON API and live WebSocket stream.

    from chatclient import Client

    with Client("https://chat.example.com", token) as chat:
        chat.send("general", "deploy finished")
        for frame in chat.stream("general"):
            print(frame.seq, frame.username, frame.content)

The same calls, awaited: chatclient.AsyncClient. docs/client.md in the
repository says what each call guarantees.
"""

from chatclient.aio import AsyncClient, AsyncStream
from chatclient.client import Client, new_client_id
from chatclient.errors import (
    AuthError,
    ChatClientError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    RefusedError,
    StreamClosedError,
    UnavailableError,
)
from chatclient.models import STORED_TYPES, Frame, Me, Room, Sent
from chatclient.resume import ALL, STORED, FrameFilter
from chatclient.retry import Backoff
from chatclient.stream import Stream

__all__ = [
    "ALL",
    "STORED",
    "STORED_TYPES",
    "AsyncClient",
    "AsyncStream",
    "AuthError",
    "Backoff",
    "ChatClientError",
    "Client",
    "ForbiddenError",
    "Frame",
    "FrameFilter",
    "Me",
    "NotFoundError",
    "RateLimitedError",
    "RefusedError",
    "Room",
    "Sent",
    "Stream",
    "StreamClosedError",
    "UnavailableError",
    "new_client_id",
]
