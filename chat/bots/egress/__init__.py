"""Outbound HTTP for worker processes: a GET or a POST that goes only where it may.

Link previews (chat/bots/preview.py) fetch, and outgoing webhooks
(chat/bots/delivery.py) post to, URLs that people wrote. Such a URL may
name this host's own services, the private network, or the cloud's
metadata service (169.254.169.254), directly or through a name, a
redirect, or a name that resolves differently the second time it is asked
(DNS rebinding). Here a request reaches a public address or nothing
(chat/bots/egress/destinations.py says which addresses and spellings are
refused), within one deadline and a byte limit (chat/bots/egress/client.py),
and fails with a type that says what went wrong (chat/bots/egress/errors.py).

Why the standard library's http.client and ssl rather than urllib3 (or
requests): the guard needs to own the one step that matters, the connection,
and http.client lets a connection subclass open its socket to the address that
was checked while keeping the host name for the Host header, SNI and the
certificate check (`ssl.create_default_context()`, `server_hostname=host`).
urllib3 can do that too (`server_hostname`/`assert_hostname` on a pool per
address), but it would be a new dependency whose pools, retries, proxies and
per-read timeouts all have to be turned off or worked around: its read timeout
applies to each read, so a server trickling bytes is only stopped by a
deadline of our own, which here wraps the socket directly. Redirects are
followed here, hop by hop, so each one is checked like the first URL.
"""

from chat.bots.egress.client import MAX_BYTES, MAX_REDIRECTS, TIMEOUT, Response, get, post
from chat.bots.egress.destinations import Destination, check_static, parse, refusal
from chat.bots.egress.errors import (
    BadResponse,
    EgressError,
    NetworkError,
    Refused,
    TimedOut,
    TooBig,
    TooManyRedirects,
    WrongType,
)

__all__ = [
    "MAX_BYTES",
    "MAX_REDIRECTS",
    "TIMEOUT",
    "BadResponse",
    "Destination",
    "EgressError",
    "NetworkError",
    "Refused",
    "Response",
    "TimedOut",
    "TooBig",
    "TooManyRedirects",
    "WrongType",
    "check_static",
    "get",
    "parse",
    "post",
    "refusal",
]
