"""A local webhook receiver for the outgoing-webhook tests: a real http.server in a
thread, over TLS when given a certificate, that records every POST and answers
from a script.

    receiver = Receiver(certificate=(cert, key))
    receiver.answers = [Answer(500), Answer(200, {"text": "done"})]

Each POST takes the next answer (the last one repeats); `posts` holds what
came (path, headers, body). `answers` may also hold a Redirect.
"""

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    json: dict | None = None
    content_type: str = "application/json"


@dataclass
class Redirect:
    location: str  # {port} is the receiver's port
    status: int = 307


@dataclass
class Post:
    path: str
    headers: dict
    body: bytes


@dataclass
class Receiver:
    certificate: tuple | None = None
    answers: list = field(default_factory=lambda: [Answer()])
    posts: list[Post] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.scheme = "http"
        if self.certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.certificate)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self.scheme = "https"
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    @property
    def allow(self) -> tuple:
        """EGRESS_ALLOW's entry for this receiver, as chat/config.py parses it."""
        return (("127.0.0.1", self.port),)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_answer(self):
        with self._lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                receiver.posts.append(Post(self.path, dict(self.headers.items()), body))
                self._answer(receiver._next_answer())

            def do_GET(self):  # noqa: N802
                receiver.gets.append(self.path)
                self._answer(Answer(405))

            def _answer(self, answer):
                if isinstance(answer, Redirect):
                    location = answer.location.replace("{port}", str(receiver.port))
                    self._send(answer.status, b"", None, {"Location": location})
                    return
                body = json.dumps(answer.json).encode() if answer.json is not None else b""
                self._send(answer.status, body, answer.content_type if body else None, {})

            def _send(self, status, body, content_type, headers):
                self.send_response(status)
                if content_type is not None:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, format, *args):
                pass

        return Handler
