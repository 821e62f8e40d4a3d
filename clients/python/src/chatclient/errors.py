"""What can go wrong, as exceptions a script can catch by kind.

Every exception of the client is a ChatClientError. A refusal by the server
(an HTTP error answer, or a WebSocket handshake refused before the upgrade)
is a RefusedError carrying the server's status, its error `code` (the codes of
docs/protocol.md, e.g. `not_found`, `too_large`) and its message; the kinds a
script most often handles have their own subclasses. Failures that a retry
could cure (a dropped connection, a 503) are retried by the client itself and
surface only once its retries are spent, as UnavailableError.
"""


class ChatClientError(Exception):
    """The base of every exception this package raises."""


class RefusedError(ChatClientError):
    """The server refused the request: `status` is the HTTP status (or the
    WebSocket handshake's), `code` the API's error code (`bad_request`,
    `too_large`, `unknown_command`...; for a socket handshake, whose refusals
    are plain text, the code the JSON API gives that status), `message` the
    server's explanation."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class AuthError(RefusedError):
    """401: the token is missing, wrong or revoked. Retrying cannot help: make
    a new token (docs/client.md, Tokens)."""


class ForbiddenError(RefusedError):
    """403: not allowed (someone else's message, an archived room, a foreign
    Origin on a socket)."""


class NotFoundError(RefusedError):
    """404: the room (or message) does not exist or is not visible to this
    token's user; the server answers both the same way."""


class RateLimitedError(RefusedError):
    """429 that the client did not wait out: the server asked for a longer wait
    than the client's `max_retry_after`, or the retries were spent.
    `retry_after` is the server's Retry-After in seconds (None if it gave none)."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


class UnavailableError(ChatClientError):
    """The server could not be reached or kept answering 5xx (or, for a
    socket, refusing to upgrade) through every retry. `attempts` is how many
    were made; the last failure is chained as `__cause__`."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class StreamClosedError(ChatClientError):
    """The server closed the live stream with a code that reconnecting cannot
    cure (1002, 1003, 1007, 1009, 1010: the client broke the protocol or a
    limit, and would again). `code` and `reason` are the close frame's."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"stream closed by the server with {code}: {reason or 'no reason'}")
        self.code = code
        self.reason = reason


# The API's error code for each status, when the answer carries none (a socket
# handshake's plain-text refusal, or a proxy's HTML page): chat/web/errors.py API_CODES.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "gateway_timeout",
}

_KINDS: dict[int, type[RefusedError]] = {
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
}


def refusal(
    status: int, code: str | None, message: str, retry_after: float | None = None
) -> RefusedError:
    """The exception for a refusal: its kind by status, the code the server
    gave (or the one its status stands for)."""
    code = code or STATUS_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    if status == 429:
        return RateLimitedError(status, code, message, retry_after)
    return _KINDS.get(status, RefusedError)(status, code, message)
