"""A local web server for the outbound-request tests: pages, redirects and misbehaviour.

`PageServer()` listens on 127.0.0.1 (a free port) in a thread; `server.pages[path]`
says what a GET of that path gets:

    Page(body, content_type, status, headers)   that answer, with a Content-Length
    Redirect(location, status)                  a redirect ({port} is the server's port)
    Trickle(head)                               the head, then one byte every TRICKLE s
    Endless(content_type, chunked)              a 200 whose body never ends
    Raw(data)                                   those bytes instead of HTTP
    Silent()                                    nothing at all until the test ends

Every request is recorded (`requests`: path, Host header, and the TLS SNI
name over HTTPS); `sent[path]` counts the body bytes written for it. With
`certificate=(cert, key)` it speaks HTTPS.
"""

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# A trickling server's pace: fast enough that a 1 s deadline sees many bytes.
TRICKLE = 0.05
# A misbehaving answer gives up after this long, so no test can hang on it.
GIVE_UP = 60.0


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that refuses our certificate, as some tests want it to


@dataclass
class Page:
    body: bytes | str
    content_type: str | None = "text/html; charset=utf-8"
    status: int = 200
    headers: dict = field(default_factory=dict)


@dataclass
class Redirect:
    location: str
    status: int = 302


@dataclass
class Trickle:
    head: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><head><title>"


@dataclass
class Endless:
    content_type: str = "text/html"
    chunked: bool = False
    start: bytes = b"<html><body>"


@dataclass
class Raw:
    data: bytes


@dataclass
class Silent:
    pass


@dataclass
class Request:
    path: str
    host: str | None
    sni: str | None


class PageServer:
    def __init__(self, certificate: tuple | None = None):
        self.pages: dict[str, object] = {}
        self.requests: list[Request] = []
        self.sent: dict[str, int] = {}
        self._closing = threading.Event()
        self._sni = threading.local()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.scheme = "http"
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            context.sni_callback = self._remember_sni
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
            self.scheme = "https"
        # A short poll: close() (shutdown) waits up to one poll interval.
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def allow(self) -> tuple:
        """EGRESS_ALLOW's entry for this server, as chat/config.py parses it."""
        return (("127.0.0.1", self.port),)

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _remember_sni(self, sslsocket, name, context) -> None:
        sslsocket.sni_name = name

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                if isinstance(self.request, ssl.SSLSocket):
                    self.request.settimeout(GIVE_UP)
                    try:
                        self.request.do_handshake()
                    except (OSError, ssl.SSLError):
                        self.request.close()
                        raise
                super().setup()

            def do_GET(self):  # noqa: N802 - http.server's naming
                sni = getattr(self.request, "sni_name", None)
                server.requests.append(Request(self.path, self.headers.get("Host"), sni))
                page = server.pages.get(self.path.split("?")[0])
                try:
                    self._answer(page)
                except OSError:
                    pass  # the client gave up on this answer, as it should
                self.close_connection = True

            def _answer(self, page):
                if page is None:
                    page = Page("<title>Not Found</title>", status=404)
                if isinstance(page, Redirect):
                    location = page.location.replace("{port}", str(server.port))
                    self._send(page.status, b"", None, {"Location": location})
                elif isinstance(page, Page):
                    body = page.body.encode() if isinstance(page.body, str) else page.body
                    self._send(page.status, body, page.content_type, page.headers)
                elif isinstance(page, Raw):
                    self.wfile.write(page.data)
                elif isinstance(page, Silent):
                    server._closing.wait(GIVE_UP)
                elif isinstance(page, Trickle):
                    self._trickle(page.head + b"x" * 100_000)
                elif isinstance(page, Endless):
                    self._endless(page)

            def _send(self, status, body, content_type, headers):
                self.send_response(status)
                if content_type is not None:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _trickle(self, data: bytes):
                for i in range(len(data)):
                    if server._closing.wait(TRICKLE):  # the pace, and the end of the test
                        return
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()

            def _endless(self, page: Endless):
                self.send_response(200)
                self.send_header("Content-Type", page.content_type)
                if page.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                start, chunk = page.start, b"<p>" + b"endless " * 2000 + b"</p>\n"
                if page.chunked:
                    start = b"%x\r\n%s\r\n" % (len(start), start)
                    chunk = b"%x\r\n%s\r\n" % (len(chunk), chunk)
                self.wfile.write(start)
                while not server._closing.is_set():
                    self.wfile.write(chunk)
                    server.sent[self.path] = server.sent.get(self.path, 0) + len(chunk)

            def log_message(self, format, *args):
                pass

        return Handler
