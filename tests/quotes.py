"""A local stand-in for stooq's quote CSV service, for the stock bot's tests.

`GET /q/l/?s=<symbol>&f=sd2t2ohlcv&h&e=csv` answers by symbol:

    a symbol in `prices`   a good quote with that closing price
    nope.us (any unknown)  N/D in every field, as stooq does
    junk.us                an HTML page (stooq's "limit exceeded" is like it)
    empty.us               200 with an empty body
    boom.us                500, every time
    gone.us                404
    busy.us                429 with Retry-After, every time
    away.us                a redirect to an ftp: URL
    loop.us                a redirect to the same URL, every time
    maze.us                a redirect to a new URL, every time
    nowhere.us             a redirect without a Location
    cut.us                 a body that breaks off before its Content-Length
    slow.us                nothing until the test ends (beyond any timeout)
    `answers[symbol]`      that (status, body, headers), as is
    `raw[symbol] = bytes`  those bytes instead of an HTTP answer (b"": hang up)
    `failures[symbol] = n` 500 for the next n requests, then as above
    `hold(symbol)`         the next request waits until `release(symbol)`

`{here}` in a header's value is the request's own path and query. With
`certificate=(cert, key)` it serves HTTPS (tests/certificates.py makes one).
"""

import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HEADER = "Symbol,Date,Time,Open,High,Low,Close,Volume\r\n"
# A held or slow request gives up after this long, so no test can hang on it.
HOLD_MAX = 60.0


class QuoteServer:
    def __init__(self, certificate: tuple | None = None):
        self.prices: dict[str, str] = {"aapl.us": "93.42", "msft.us": "412.5"}
        self.answers: dict[str, tuple[int, str | bytes, dict]] = {}
        self.raw: dict[str, bytes] = {}
        self.failures: dict[str, int] = {}
        self._twins: list[QuoteServer] = []
        self.requests: list[str] = []  # symbols, in arrival order
        self._held: dict[str, tuple[threading.Event, threading.Event]] = {}
        self._closing = threading.Event()
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.scheme = "http"
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def template(self) -> str:
        """What STOCK_QUOTE_URL is set to."""
        return self.url + "/q/l/?s={symbol}&f=sd2t2ohlcv&h&e=csv"

    def hold(self, symbol: str) -> threading.Event:
        """Make the next request for symbol wait for release(); returns an Event set
        when that request has arrived."""
        arrived = threading.Event()
        self._held[symbol] = (arrived, threading.Event())
        return arrived

    def release(self, symbol: str) -> None:
        self._held.pop(symbol)[1].set()

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> list[str]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"{len(self.requests)} quote requests, expected {count}")
            return list(self.requests)

    def twin(self, certificate: tuple) -> "QuoteServer":
        """Another quote server, over HTTPS with `certificate`; closed with this one."""
        twin = QuoteServer(certificate)
        self._twins.append(twin)
        return twin

    def close(self) -> None:
        for twin in self._twins:
            twin.close()
        self._closing.set()
        for _, release in self._held.values():
            release.set()
        self._server.shutdown()
        self._server.server_close()

    def answer(self, symbol: str) -> tuple[int | None, str | bytes, dict]:
        """(status, body, headers) for one request, status None for raw bytes; may
        block (held, slow)."""
        with self._cond:
            self.requests.append(symbol)
            self._cond.notify_all()
        held = self._held.get(symbol)
        if held is not None:
            arrived, release = held
            arrived.set()
            release.wait(HOLD_MAX)
        if self.failures.get(symbol, 0) > 0:
            self.failures[symbol] -= 1
            return 500, "Internal Server Error", {}
        if symbol in self.raw:
            return None, self.raw[symbol], {}
        if symbol in self.answers:
            return self.answers[symbol]
        if symbol == "slow.us":
            self._closing.wait(HOLD_MAX)
            return 200, "", {}
        fixed = {
            "boom.us": (500, "Internal Server Error", {}),
            "gone.us": (404, "Not Found", {}),
            "busy.us": (429, "Too Many Requests", {"Retry-After": "60"}),
            "away.us": (302, "", {"Location": "ftp://quotes.example/aapl.csv"}),
            "loop.us": (302, "", {"Location": "{here}"}),
            "maze.us": (302, "", {"Location": "{here}x"}),
            "nowhere.us": (302, "", {}),
            "cut.us": (200, HEADER + "CUT.US,2026-11-24", {"Content-Length": "500"}),
            "junk.us": (200, "<html><body>Exceeded the daily hits limit</body></html>", {}),
            "empty.us": (200, "", {}),
        }
        if symbol in fixed:
            return fixed[symbol]
        upper = symbol.upper()
        if symbol in self.prices:
            fields = [upper, "2026-11-24", "22:00:09", "1", "2", "0.5", self.prices[symbol], "100"]
        else:
            fields = [upper] + ["N/D"] * 7
        return 200, HEADER + ",".join(fields) + "\r\n", {}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                symbol = parse_qs(urlsplit(self.path).query).get("s", [""])[0]
                status, body, headers = server.answer(symbol)
                data = body.encode() if isinstance(body, str) else body
                try:
                    if status is None:  # not HTTP at all (nothing: a hang-up)
                        self.close_connection = True
                        self.wfile.write(data)
                        return
                    self.send_response(status)
                    length = str(len(data))
                    headers = {"Content-Type": "text/csv", "Content-Length": length, **headers}
                    for name, value in headers.items():
                        self.send_header(name, value.replace("{here}", self.path))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the bot gave up on (or died during) this request

            def log_message(self, format, *args):
                pass

        return Handler


def wait_until(predicate, timeout: float = 30.0, what: str = "the condition"):
    """Poll predicate() until it returns something truthy (a table, a process): for
    state that no event announces. Returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
