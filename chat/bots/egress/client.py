"""The guarded GET and POST: to checked addresses only, redirects re-checked,
bounded in time and bytes.

Each hop (the first URL, then every redirect's) is parsed and resolved by
chat/bots/egress/destinations.py; the connection goes to one of the
addresses that were checked, never to the name (chat/bots/egress/
connections.py), with the certificate verified against the host name
(`ssl.create_default_context()`: CERT_REQUIRED, check_hostname).
http.client does the HTTP (status line, headers, chunked bodies) over that
socket.

One deadline covers the whole fetch: every name lookup, connection, TLS
handshake, request and read, across redirects (connections.py DeadlineSocket).
No proxy settings from the environment are honoured: a proxy would connect
to whatever the name resolves to on its side.

A POST (outgoing webhooks) follows only 307 and 308, the redirects that keep
the method and the body (RFC 9110 15.4.8, 15.4.9), each hop checked like the
first, with the same body and headers; a 301, 302 or 303 would make it a
GET without the body (what browsers do), which no receiver of a webhook
wants: it is an answer that is not a success (BadResponse, not retried).
"""

import http.client
import re
import socket
import ssl
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import quote, urljoin

from chat.bots.egress import destinations
from chat.bots.egress.connections import connect, os_words
from chat.bots.egress.destinations import Allowance, Destination, Resolver
from chat.bots.egress.errors import (
    BadResponse,
    NetworkError,
    TimedOut,
    TooBig,
    TooManyRedirects,
    WrongType,
)

# A whole fetch, redirects included: a preview that takes longer is not worth
# holding a worker for, and pages that answer at all answer well within it.
TIMEOUT = 10.0
# Enough for the head of any real page (OpenGraph tags sit in the first few
# KiB; heavy pages inline scripts and styles before them); reading stops here.
MAX_BYTES = 512 * 1024
# Browsers follow about 20; a link's page that needs more than 5 is not worth it.
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
# The redirects that keep a POST a POST, with its body.
REDIRECTS_KEEPING_BODY = frozenset({307, 308})
# Statuses that say "try again later" rather than "this request is wrong".
RETRY_STATUSES = frozenset({408, 425, 429})
# Read size: a socket rarely holds more at once.
CHUNK = 16 * 1024
USER_AGENT = "chat-link-preview/1"


@dataclass(frozen=True)
class Response:
    """A 2xx answer: the URL it came from (after redirects), its status, media
    type (lower case, no parameters), declared charset, and body: whole, or cut
    at the byte limit or where `until` matched (then `complete` is False)."""

    url: str
    status: int
    content_type: str
    charset: str | None
    body: bytes
    complete: bool


def get(
    url: str,
    *,
    allow: Allowance = (),
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_BYTES,
    max_redirects: int = MAX_REDIRECTS,
    accept: Collection[str] | None = None,
    until: re.Pattern[bytes] | None = None,
    cut: bool = False,
    resolver: Resolver = socket.getaddrinfo,
    context: ssl.SSLContext | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """GET `url`, following up to `max_redirects` redirects, each re-checked.

    `accept`: the media types to read (others raise WrongType before the body
    is read; None reads any, and an answer without a Content-Type too, as
    content_type ""). `until`: stop reading once the body matches it
    (`</head>`). `cut`: a body past `max_bytes` is cut there rather than
    raising TooBig. `allow`: EGRESS_ALLOW (tests only). `resolver` and
    `context` (the TLS trust) are for tests. `headers` are added to the
    request's. Raises the errors of chat/bots/egress/errors.py, and nothing
    else for anything a server sends.
    """
    request = _Request("GET", None, accept, headers or {}, USER_AGENT)
    options = (allow, timeout, max_bytes, max_redirects, until, cut, resolver, context)
    return _fetch(url, request, *options)


def post(
    url: str,
    body: bytes,
    content_type: str,
    *,
    user_agent: str,
    allow: Allowance = (),
    timeout: float = TIMEOUT,
    max_bytes: int = MAX_BYTES,
    max_redirects: int = MAX_REDIRECTS,
    resolver: Resolver = socket.getaddrinfo,
    context: ssl.SSLContext | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """POST `body` (of media type `content_type`) to `url`, as `user_agent`,
    with `headers` added; the answer of any media type, cut at `max_bytes`.

    Redirects: only 307 and 308 are followed (up to `max_redirects`, each
    re-checked, the body sent again); 301, 302 and 303 raise BadResponse (not
    transient). The other options and the errors are get's.
    """
    request = _Request(
        "POST", body, None, {"Content-Type": content_type, **(headers or {})}, user_agent
    )
    options = (allow, timeout, max_bytes, max_redirects, None, True, resolver, context)
    return _fetch(url, request, *options)


@dataclass(frozen=True)
class _Request:
    """What is sent at every hop: the method, the body (None: none), the media
    types read, the added headers and the User-Agent."""

    method: str
    body: bytes | None
    accept: Collection[str] | None
    headers: Mapping[str, str]
    user_agent: str


def _fetch(
    url, request: _Request, allow, timeout, max_bytes, max_redirects, until, cut, resolver, context
) -> Response:
    """The request, hop by hop: each URL parsed, resolved and checked, then asked."""
    deadline = time.monotonic() + timeout
    context = context or ssl.create_default_context()
    accept = request.accept
    current = url
    for hop in range(max_redirects + 1):
        destination = destinations.parse(current)
        addresses = destinations.resolve(destination, allow, resolver, deadline)
        connection = connect(destination, addresses, deadline, context)
        try:
            response = _request(connection, destination, request, deadline)
            if response.status in REDIRECTS and (
                request.body is None or response.status in REDIRECTS_KEEPING_BODY
            ):
                current = _next(destination, response, hop, max_redirects)
                continue
            _check_status(destination, response)
            content_type, charset = _media_type(destination, response, accept)
            body, complete = _read(destination, response, max_bytes, until, cut, deadline)
            return Response(current, response.status, content_type, charset, body, complete)
        finally:
            connection.release()
    raise AssertionError("unreachable: the last hop returns or raises")


def _request(connection, destination, request: _Request, deadline) -> http.client.HTTPResponse:
    """Send the request and read the status line and headers."""
    try:
        connection.putrequest(request.method, destination.target, skip_accept_encoding=True)
        # Bytes as sent: the byte limit is on what is read, never on a decompressed size.
        connection.putheader("Accept-Encoding", "identity")
        connection.putheader("Accept", ", ".join(request.accept) if request.accept else "*/*")
        connection.putheader("User-Agent", request.user_agent)
        connection.putheader("Connection", "close")
        if request.body is not None:
            connection.putheader("Content-Length", str(len(request.body)))
        for name, value in request.headers.items():
            connection.putheader(name, value)
        connection.endheaders(request.body)
        return connection.getresponse()
    except Exception as exc:
        raise _failure(exc, destination, deadline) from None


def _next(destination: Destination, response, hop: int, max_redirects: int) -> str:
    """Where a redirect leads, joined to the URL it came from; checked by the next hop."""
    location = response.getheader("Location")
    if not location:
        raise BadResponse(
            "a redirect without a Location",
            f"HTTP {response.status} without Location from {destination.url!r}",
        )
    if hop == max_redirects:
        raise TooManyRedirects(
            f"more than {max_redirects} redirects",
            f"the redirect after {max_redirects} from {destination.url!r}: {location!r}",
        )
    # As browsers do: bytes beyond ASCII in a Location (read as latin-1 by
    # http.client) are percent-encoded; the next hop's parse refuses any left odd.
    location = quote(location, safe="".join(map(chr, range(0x21, 0x7F))), encoding="latin-1")
    try:
        return urljoin(destination.url, location)
    except ValueError:
        raise BadResponse(
            "a redirect to an address that cannot be read", f"Location {location!r}"
        ) from None


def _check_status(destination: Destination, response) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    said = f"HTTP {status} {_phrase(status)}".rstrip()
    transient = status >= 500 or status in RETRY_STATUSES
    raise BadResponse(
        f"the answer was {said}", f"{said} from {destination.url!r}", transient=transient
    )


def _media_type(destination, response, accept) -> tuple[str, str | None]:
    if response.getheader("Content-Type") is None and accept is None:
        return "", None  # any type is read, and this one is none (a 204, a bare 200)
    if response.getheader("Content-Type") is None:
        raise WrongType("the answer has no Content-Type", f"from {destination.url!r}")
    content_type = response.headers.get_content_type()
    if accept is not None and content_type not in accept:
        raise WrongType(
            "the answer is not of a type read here",
            f"Content-Type {response.getheader('Content-Type')!r} from {destination.url!r}",
        )
    return content_type, response.headers.get_content_charset()


def _read(destination, response, max_bytes, until, cut, deadline) -> tuple[bytes, bool]:
    """The body, at most max_bytes of it (memory stays bounded by that however
    long the body is), stopping early where `until` matches."""
    declared = response.length
    if declared is not None and declared > max_bytes and not cut:
        raise TooBig(
            f"the answer is over {max_bytes} bytes",
            f"Content-Length {declared} from {destination.url!r}",
        )
    body = bytearray()
    try:
        while len(body) <= max_bytes:
            chunk = response.read1(min(CHUNK, max_bytes + 1 - len(body)))
            if not chunk:
                if response.length:  # read1 ends quietly where the connection did
                    raise NetworkError(
                        "the answer broke off",
                        f"{response.length} bytes short of its Content-Length from"
                        f" {destination.url!r}",
                    )
                return bytes(body), True
            start = max(0, len(body) - 64)  # `until` may straddle two chunks
            body += chunk
            found = until.search(body, start) if until else None
            if found:
                return bytes(body[: found.end()]), False
    except NetworkError:
        raise
    except Exception as exc:
        raise _failure(exc, destination, deadline) from None
    if not cut:
        raise TooBig(f"the answer is over {max_bytes} bytes", f"from {destination.url!r}")
    return bytes(body[:max_bytes]), False


def _failure(exc: Exception, destination: Destination, deadline: float) -> Exception:
    """An exception from the network or from http.client, as one of ours."""
    where = f"{destination.url!r}: {type(exc).__name__}: {exc}"
    if isinstance(exc, TimeoutError) or time.monotonic() >= deadline:
        return TimedOut("no answer within the deadline", where)
    if isinstance(exc, NetworkError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        # Retrying will not make a certificate trusted.
        return NetworkError("the certificate is not trusted", where, transient=False)
    if isinstance(exc, http.client.LineTooLong) or (
        isinstance(exc, http.client.HTTPException) and "more than" in str(exc)
    ):
        return TooBig("the answer's headers are too long or too many", where)
    if isinstance(exc, http.client.RemoteDisconnected | http.client.IncompleteRead | OSError):
        return NetworkError(os_words(exc, "the connection broke off"), where)
    if isinstance(exc, http.client.HTTPException | ValueError):
        return BadResponse("the answer is not HTTP as it should be", where)
    raise exc  # a bug here, not something a server did


def _phrase(code: int) -> str:
    """The standard words for a status (never the server's own)."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""
