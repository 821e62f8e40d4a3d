"""The one error of the application: a refusal with a stable code (DESIGN §8).

Everything that refuses raises ChatError: the domain's validators, the frame
parser, the actions, the slash commands, the surface's own checks. Nothing
here knows how it is answered; each surface maps the code through one table:

- HTTP: chat/web/errors.py `HTTP_STATUS` (the JSON API, pages, search);
- a socket's error frame: chat/protocol/outbound.py `error_frame`;
- a socket's close: chat/realtime/peer.py `CLOSE_CODES`.

An error is a value: once made it does not change. What an answer adds to it
(the client_id and room an error frame echoes, an HTTP header) is supplied
where that answer is built.
"""

_FIELDS = frozenset({"code", "message", "retry_after"})


class ChatError(Exception):
    """A refusal: nothing was changed.

    `code` is the stable error code clients see (docs/protocol.md lists them
    all); `message` says what went wrong, for a person; `retry_after`, when a
    later try can pass (rate limits), is the number of seconds to wait first.
    `str(err)` is the message. The attributes cannot be set after creation
    (AttributeError).
    """

    def __init__(self, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        super().__setattr__("code", code)
        super().__setattr__("message", message)
        super().__setattr__("retry_after", retry_after)

    def __setattr__(self, name: str, value: object) -> None:
        # Python itself sets __traceback__, __cause__, __context__ (contextlib
        # does so from Python code): only the error's own fields are fixed.
        if name in _FIELDS:
            raise AttributeError(f"a ChatError does not change: {name} is fixed")
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name in _FIELDS:
            raise AttributeError(f"a ChatError does not change: {name} is fixed")
        super().__delattr__(name)

    def __reduce__(self):
        return type(self), (self.code, self.message, self.retry_after)

    def __repr__(self) -> str:
        return f"ChatError({self.code!r}, {self.message!r})"
