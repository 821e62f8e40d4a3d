"""HTTP GET for bots: a whole, small answer within a deadline, or a clear error.

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

from .bot import Transient

# Bot answers are small documents (a quote is one CSV line); anything bigger
# is not an answer, and reading it would only cost memory.
MAX_BYTES = 64 * 1024
# Read size: a whole answer usually arrives in one read.
CHUNK = 8192
USER_AGENT = "chat-bot/1"
SCHEMES = ("http", "https")
# Statuses that say "try again later" rather than "this request is wrong".
RETRY_STATUSES = {408, 425, 429}


class FetchFailed(Exception):
    """A failure that retrying will not mend (a 404, an oversized answer)."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http and https URLs (never ftp:, never file:)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme not in SCHEMES:
            raise FetchFailed(f"the service redirected to a {urlsplit(newurl).scheme}: URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_HttpOnlyRedirects)


def check_url(url: str, setting: str) -> None:
    """Refuse anything but an http(s) URL with a host (SystemExit: a bot's start-up check)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.netloc:
        raise SystemExit(f"{setting} must be an http(s) URL, got {url!r}")


def get(url: str, timeout: float, service: str = "the service", max_bytes: int = MAX_BYTES):
    """The body of a 2xx answer to GET url.

    Raises Transient (timeouts, unreachable, 5xx, 429) or FetchFailed (other
    4xx, an answer over max_bytes); the messages name `service` and are meant
    for the room.
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
        raise Transient(f"{service} did not answer within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["body"]


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
                    raise FetchFailed(f"{service} sent more than {max_bytes // 1024} KiB")
                if time.monotonic() > deadline:
                    raise Transient(f"{service} did not answer within {timeout:g} s")
            return body
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code in RETRY_STATUSES:
            raise Transient(f"{service} answered {exc.code}") from None
        raise FetchFailed(f"{service} answered {exc.code}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise Transient(f"{service} did not answer within {timeout:g} s") from None
        raise Transient(f"could not reach {service} ({exc.reason})") from None
    except TimeoutError:
        raise Transient(f"{service} did not answer within {timeout:g} s") from None
    except (HTTPException, OSError) as exc:
        raise Transient(f"{service} broke off its answer ({type(exc).__name__})") from None
