"""The WebSocket protocol (DESIGN §5, docs/protocol.md): frames in and out.

`inbound` reads what clients send (text → ChatIn, JoinIn, ...; refusals are
ChatError); `outbound` encodes what the server sends (a message or event row,
acks, notices, errors, presence). The fields both check and the message kinds
both name are the domain's (chat/domain/validate.py, chat/domain/kinds.py).

Import the module you use: `from chat.protocol import inbound, outbound`.

The names below are re-exported for the modules that predate the split
(chat/actions, chat/realtime/writer.py, chat/realtime/hub.py), which other
branches are reworking; once those have merged they import `outbound` and
`chat.domain.kinds` directly, and this list goes.
"""

from chat.domain.kinds import (
    KIND_CHAT,
    KIND_DELETE,
    KIND_EDIT,
    KIND_REACTION_ADD,
    KIND_REACTION_REMOVE,
    MESSAGE_KINDS,
)
from chat.protocol.outbound import (
    chat_frame,
    online_users_frame,
    ready_frame,
    row_frame,
    typing_frame,
    user_joined_frame,
    user_left_frame,
)

__all__ = [
    "KIND_CHAT",
    "KIND_DELETE",
    "KIND_EDIT",
    "KIND_REACTION_ADD",
    "KIND_REACTION_REMOVE",
    "MESSAGE_KINDS",
    "chat_frame",
    "online_users_frame",
    "ready_frame",
    "row_frame",
    "typing_frame",
    "user_joined_frame",
    "user_left_frame",
]
