"""HTTP GET for bots: a whole, small answer within a deadline, or a failure worded for people.

Every failure is a Transient (worth retrying) or a Failed (not), said three
ways (chat/bots/bot.py): its reason names the service and says what happened
in words for the room ("the quote service could not be reached"); its cause
says it for the bot's log with nothing the request carried (the service's
host, a status, an errno: never the URL's path or query, where the job's
argument is, nor what the service sent); its detail (the URL, the service's
own words) goes into the job's row.

Each attempt is bounded as a whole, name lookup included: the request runs in
a helper thread and the bot waits for it at most `timeout` seconds. The helper
reads against the same deadline, so even a server that trickles one byte at a
time cannot keep it alive much beyond that.
"""

import ssl
import string
import threading
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from http.client import HTTPException, IncompleteRead, RemoteDisconnected
from urllib.parse import quote, urljoin, urlsplit

from chat.bots.bot import BotFailure, Failed, Transient

# Bot answers are small documents (a quote is one CSV line); anything bigger
# is not an answer, and reading it would only cost memory.
MAX_BYTES = 64 * 1024
# Read size: a whole answer usually arrives in one read.
CHUNK = 8192
USER_AGENT = "chat-bot/1"
SCHEMES = ("http", "https")
# Statuses that say "try again later" rather than "this request is wrong".
RETRY_STATUSES = {408, 425, 429}
# How urllib's redirect handler starts the HTTPError it raises for a loop (the
# same URL more than 4 times) or a chain of more than 10 redirects.
_LOOP = urllib.request.HTTPRedirectHandler.inf_msg


class _Unfollowable(Exception):
    """A redirect to an address the bot does not go to: another scheme, no
    host, a port that is not one, or no URL at all."""

    def __init__(self, code: int, location: str, problem: str):
        super().__init__(problem)
        self.code, self.location, self.problem = code, location, problem


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s) URLs with a host and a usable port.

    The Location is judged before urllib reads it: urllib would refuse some
    schemes itself with an HTTPError that reads like any refusal, and a
    malformed address (`http://[::1`, port 99999) would raise ValueError or
    OverflowError from deep inside it, which the runner takes for a bug.
    """

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get("location") or headers.get("uri")
        if location is not None:
            problem = _unfollowable(req.full_url, location)
            if problem:
                raise _Unfollowable(code, location, problem)
        return super().http_error_302(req, fp, code, msg, headers)

    # The base class binds these to its own http_error_302.
    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _unfollowable(base: str, location: str) -> str:
    """Why the bot does not follow a redirect from base to location; "" when it does.
    Read as urllib reads it: latin-1 bytes percent-encoded, then joined to base."""
    try:
        urlsplit(location)
        target = urlsplit(
            urljoin(base, quote(location, encoding="iso-8859-1", safe=string.punctuation))
        )
        target.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return "not a URL"
    if target.scheme not in SCHEMES:
        return "not http or https"
    if not target.hostname:
        return "no host"
    return ""


_opener = urllib.request.build_opener(_Redirects)


def check_url(url: str, setting: str) -> None:
    """Refuse anything but an http(s) URL with a host, a usable port and nothing
    that cannot go into a request line (SystemExit: a bot's start-up check)."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        raise SystemExit(f"{setting} has a port that is not one: {url!r}") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise SystemExit(f"{setting} must be an http(s) URL, got {url!r}")
    if not url.isascii() or any(c.isspace() or not c.isprintable() for c in url):
        raise SystemExit(f"{setting} must be ASCII without spaces (percent-encode the rest)")


def host_of(url: str) -> str:
    """The host (and port) a URL names, without any user:password: what the log
    may say about where a request went."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


def get(url: str, timeout: float, service: str = "the service", max_bytes: int = MAX_BYTES):
    """The body of a 2xx answer to GET url.

    Raises Transient (timeouts, unreachable, 5xx, 429, an answer broken off) or
    Failed (other 4xx, redirects it cannot follow, a garbled or oversized
    answer, a certificate it cannot trust); their reasons name `service` and
    are meant for the room, their causes for the log, their details for the job.
    """
    outcome: dict = {}
    done = threading.Event()

    def fetch() -> None:
        try:
            outcome["body"] = _get(url, timeout, service, max_bytes)
        except Exception as exc:  # handed to the waiting bot below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=fetch, daemon=True, name="fetch").start()
    if not done.wait(timeout):
        raise _too_slow(url, timeout, service)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["body"]


def _failure(kind: type[BotFailure], reason: str, url: str, detail: str, cause: str) -> BotFailure:
    """A failure of GET url: the detail after the URL, the cause after its host."""
    return kind(reason, f"GET {url}: {detail}", f"{host_of(url)}: {cause}")


def _too_slow(url: str, timeout: float, service: str) -> Transient:
    within = f"no answer within {timeout:g} s"
    return _failure(Transient, f"{service} did not answer in time", url, within, within)


def _get(url: str, timeout: float, service: str, max_bytes: int) -> bytes:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        # The scheme is checked by check_url at the bot's start and on redirects.
        with _opener.open(request, timeout=timeout) as response:  # nosec B310
            body = b""
            while chunk := response.read1(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    more = f"more than {max_bytes} bytes"
                    reason = f"{service} sent far more than an answer"
                    raise _failure(Failed, reason, url, more, more)
                if time.monotonic() > deadline:
                    raise _too_slow(url, timeout, service)
            if response.length:  # read1 ends quietly where the connection did
                short = f"{response.length} bytes short of its Content-Length"
                raise _failure(Transient, f"{service} broke off its answer", url, short, short)
            return body
    except _Unfollowable as exc:
        raise _failure(
            Failed,
            f"{service} sent the bot somewhere it does not go",
            url,
            f"HTTP {exc.code} redirect to {exc.location!r} ({exc.problem})",
            f"HTTP {exc.code} redirect to an address the bot does not follow ({exc.problem})",
        ) from None
    except urllib.error.HTTPError as exc:
        raise _status_failure(exc, url, service) from None
    except urllib.error.URLError as exc:
        raise _connection_failure(exc.reason, url, timeout, service) from None
    except TimeoutError:
        raise _too_slow(url, timeout, service) from None
    except RemoteDisconnected as exc:  # before a status line: also a ConnectionResetError
        raise _failure(
            Transient, f"{service} hung up without answering", url, _describe(exc), _words(exc)
        ) from None
    except (IncompleteRead, OSError) as exc:  # resets, TLS failures mid-answer
        raise _failure(
            Transient, f"{service} broke off its answer", url, _describe(exc), _words(exc)
        ) from None
    except (HTTPException, ValueError) as exc:  # not HTTP, a bad header, too many headers
        raise _failure(
            Failed, f"{service} sent a garbled answer", url, _describe(exc), _words(exc)
        ) from None


def _status_failure(exc: urllib.error.HTTPError, url: str, service: str) -> BotFailure:
    """A final answer that is not a 2xx, or redirects that lead nowhere."""
    code, said = exc.code, str(exc.reason)
    status = f"HTTP {code} {_phrase(code)}".rstrip()
    detail = f"HTTP {code} {said}"
    if said.startswith(_LOOP):
        return _failure(
            Failed,
            f"{service} sent the bot round in circles",
            url,
            f"redirects that go round in circles, the last from {exc.url}",
            f"redirects that go round in circles (the last {status})",
        )
    if 300 <= code < 400:  # no Location, or a code urllib does not follow (300, 304)
        return _failure(
            Failed, f"{service} sent a redirect that leads nowhere", url, detail, status
        )
    if code == 429:
        return _failure(Transient, f"{service} is busy", url, detail, status)
    if code >= 500 or code in RETRY_STATUSES:
        return _failure(Transient, f"{service} is having trouble", url, detail, status)
    if code < 200:  # an interim status (101, 103) as if it were the answer
        return _failure(Failed, f"{service} sent a garbled answer", url, detail, status)
    return _failure(Failed, f"{service} turned the request down", url, detail, status)


def _connection_failure(reason, url: str, timeout: float, service: str) -> BotFailure:
    """No answer came: the name, the connection or TLS failed (urllib's URLError)."""
    if isinstance(reason, TimeoutError):
        return _too_slow(url, timeout, service)
    if isinstance(reason, ssl.SSLCertVerificationError):
        # Retrying will not make a certificate trusted: whoever runs the bot must look.
        return _failure(
            Failed,
            f"{service} could not be reached securely",
            url,
            _describe(reason),
            _words(reason),
        )
    # DNS failures, refused or unreachable connections, failed TLS handshakes.
    return _failure(
        Transient, f"{service} could not be reached", url, _describe(reason), _words(reason)
    )


def _phrase(code: int) -> str:
    """The standard words for a status (never the service's own, which it may fill)."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _words(error) -> str:
    """An exception for the log, in words the request did not bring: its type, and
    the system's words for an errno or TLS's for a TLS failure. Never its message,
    which may quote the URL, a redirect's address or what the service sent."""
    if not isinstance(error, BaseException):  # URLError's reason can be a bare string
        return "URLError"
    name = type(error).__name__
    if isinstance(error, ssl.SSLError) and error.reason:
        return f"{name}: {error.reason}"
    if isinstance(error, OSError) and isinstance(error.errno, int) and error.strerror:
        return f"{name}: [Errno {error.errno}] {error.strerror}"
    return name


def _describe(error) -> str:
    """An exception for the job's row: its type and its words ([Errno ...] included)."""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)
