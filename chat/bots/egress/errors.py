"""How an outbound request fails: one type per kind, each said twice.

`reason` (also `str(error)`) is for any log: what kind of thing went wrong in
words the request did not bring: no part of the URL (a link comes from
someone's message, and people's words stay out of the log), no address, no
words of the server's. `detail` is for where the URL is kept anyway (a job's
row): the URL, the address, the status the server sent. `transient` says
whether trying again later may help.
"""


class EgressError(Exception):
    """An outbound request that gave no usable answer."""

    transient = False

    def __init__(self, reason: str, detail: str = "", *, transient: bool | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason
        if transient is not None:
            self.transient = transient


class Refused(EgressError):
    """The destination is not one we go to: not http(s), an odd spelling of a
    host, a user name in the URL, a port out of range, or a name or address
    that is not public (loopback, private, link-local, ...), first or after a
    redirect. Nothing was sent to it."""


class NetworkError(EgressError):
    """The name did not resolve, no connection, TLS failed, or the connection
    broke off: usually worth another try later (not a certificate that fails)."""

    transient = True


class TimedOut(NetworkError):
    """The whole request (name lookup, connections, every read) outran its deadline."""


class BadResponse(EgressError):
    """An answer that is not a usable one: a status other than 2xx (5xx, 408,
    425 and 429 are transient), a redirect without a Location, garbled HTTP."""


class TooManyRedirects(BadResponse):
    """More redirects than allowed (a loop is one way to get there)."""


class WrongType(EgressError):
    """A 2xx answer of a media type the caller does not read (a link to an
    image or a PDF, when previews read only HTML)."""


class TooBig(EgressError):
    """Headers too long or too many, or a body past the byte limit (when the
    caller wants it whole rather than cut)."""
