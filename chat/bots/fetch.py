"""HTTP GET for bots: a whole, small answer within a deadline, or a failure worded for people.

Every failure is a Transient (worth retrying) or a Failed (not), whose reason
names the service and says what happened in words for the room ("the quote
service could not be reached") and whose detail (the URL, the errno, the status)
is for the bot's log only.

Each attempt is bounded as a whole, name lookup included: the request runs in
a helper thread and the bot waits for it at most `timeout` seconds. The helper
reads against the same deadline, so even a server that trickles one byte at a
time cannot keep it alive much beyond that.
"""

import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from urllib.parse import urlsplit

from .bot import Failed, Transient

# Bot answers are small documents (a quote is one CSV line); anything bigger
# is not an answer, and reading it would only cost memory.
MAX_BYTES = 64 * 1024
# Read size: a whole answer usually arrives in one read.
CHUNK = 8192
USER_AGENT = "chat-bot/1"
SCHEMES = ("http", "https")
# Statuses that say "try again later" rather than "this request is wrong".
RETRY_STATUSES = {408, 425, 429}


class _RedirectRefused(Exception):
    """A redirect to a scheme other than http(s); carries the detail for the log."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http and https URLs (never ftp:, never file:)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme not in SCHEMES:
            raise _RedirectRefused(f"HTTP {code} redirect to {newurl!r} (not http or https)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_HttpOnlyRedirects)


def check_url(url: str, setting: str) -> None:
    """Refuse anything but an http(s) URL with a host (SystemExit: a bot's start-up check)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.netloc:
        raise SystemExit(f"{setting} must be an http(s) URL, got {url!r}")


def get(url: str, timeout: float, service: str = "the service", max_bytes: int = MAX_BYTES):
    """The body of a 2xx answer to GET url.

    Raises Transient (timeouts, unreachable, 5xx, 429) or Failed (other 4xx, an
    answer over max_bytes, a redirect to another scheme); their reasons name
    `service` and are meant for the room, their details for the log.
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


def _too_slow(url: str, timeout: float, service: str) -> Transient:
    return Transient(
        f"{service} did not answer in time", f"GET {url}: no answer within {timeout:g} s"
    )


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
                    raise Failed(
                        f"{service} sent far more than an answer",
                        f"GET {url}: more than {max_bytes} bytes",
                    )
                if time.monotonic() > deadline:
                    raise _too_slow(url, timeout, service)
            if response.length:  # read1 ends quietly where the connection did
                raise HTTPException(f"{response.length} bytes short of its Content-Length")
            return body
    except _RedirectRefused as exc:
        raise Failed(
            f"{service} sent the bot somewhere it does not go", f"GET {url}: {exc}"
        ) from None
    except urllib.error.HTTPError as exc:
        detail = f"GET {url}: HTTP {exc.code} {exc.reason}"
        if exc.code == 429:
            raise Transient(f"{service} is busy", detail) from None
        if exc.code >= 500 or exc.code in RETRY_STATUSES:
            raise Transient(f"{service} is having trouble", detail) from None
        raise Failed(f"{service} turned the request down", detail) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _too_slow(url, timeout, service) from None
        # DNS failures, refused or unreachable connections, TLS failures.
        raise Transient(
            f"{service} could not be reached", f"GET {url}: {_describe(exc.reason)}"
        ) from None
    except TimeoutError:
        raise _too_slow(url, timeout, service) from None
    except (HTTPException, OSError) as exc:
        raise Transient(f"{service} broke off its answer", f"GET {url}: {_describe(exc)}") from None


def _describe(error) -> str:
    """An exception for the log: its type and its words ([Errno ...] included)."""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return str(error)
