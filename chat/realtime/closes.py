"""Why the server closes a socket: one table from a ChatError's code to the close
code it gets (RFC 6455 §7.4; docs/protocol.md "Close codes"), and the closes
the sessions decide, each with the reason the close frame carries.

The WebSocket layer's own closes (1002 and 1007 from the frame parser, 1009
for a message over the limit, 1008 for a flood of pings) are decided in
chat/realtime/wire.py, below any session, and never pass through here.
"""

from chat.domain.errors import ChatError
from chat.realtime.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TRY_AGAIN_LATER,
)

CLOSE_CODES = {
    # The worker is stopping: reconnect with `after`, another worker answers.
    "restarting": CLOSE_GOING_AWAY,
    # The credential the socket was opened with was revoked, or its user was
    # removed from a private room it follows.
    "revoked": CLOSE_POLICY_VIOLATION,
    # A failure nobody expected (logged): reconnect with `after`.
    "internal_error": CLOSE_INTERNAL_ERROR,
    # The database is unreachable: reconnect with `after`, later.
    "unavailable": CLOSE_TRY_AGAIN_LATER,
    # The client fell OUTBOUND_QUEUE frames behind: reconnect with `after`.
    "too_slow": CLOSE_TRY_AGAIN_LATER,
}

RESTARTING = ChatError("restarting", "server restarting; reconnect with after")
DATABASE_DOWN = ChatError("unavailable", "database unavailable; reconnect with after")
INTERNAL_ERROR = ChatError("internal_error", "internal error; reconnect with after")
TOO_SLOW = ChatError("too_slow", "too slow; reconnect with after")
REMOVED = ChatError("revoked", "removed from a room this socket follows; reconnect for the others")
REVOKED = ChatError("revoked", "access revoked; log in again")


def close_code(err: ChatError) -> int:
    """The close code a connection ending for `err` gets; KeyError for a code
    that does not close a socket (those are answered with an error frame)."""
    return CLOSE_CODES[err.code]
