"""WebSocket endpoints (DESIGN §5). Thin: check the upgrade, then hand over to a session.

Everything that must refuse a client before the 101 (a malformed handshake,
Origin, login, room, a full worker) runs in `before_request`. The view then
writes the 101 itself and hands the connection to a reader
(chat/realtime/reader.py) that holds it without a greenlet: no flask-sock
Server, reader thread or wsproto state per socket. The request's greenlet
returns once the session's connect work is done, ending the request the way
flask-sock does under gunicorn: its response raises StopIteration, so gunicorn
writes nothing more and lets go of the connection (whose descriptor is ours by
then).
"""

import base64
import binascii
import logging
from typing import NoReturn

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from flask_login import current_user
from werkzeug.exceptions import BadRequest
from werkzeug.routing import WebsocketMismatch

from chat.realtime import reader
from chat.realtime.buckets import TokenBucket
from chat.realtime.client import ClientSession
from chat.realtime.peer import Peer
from chat.realtime.wire import ClientFrames, binary_frame, wire
from chat.web import worker
from chat.web.access import room_or_404, seq_arg

log = logging.getLogger(__name__)

bp = Blueprint("ws", __name__)
# Only registered with WS_ECHO=1; shares the upgrade checks below.
echo_bp = Blueprint("ws_echo", __name__)
# RFC 6455 §4.1: the one version of the protocol.
VERSION = "13"


def init_app(app: Flask) -> None:
    if app.config["WS_ECHO"]:
        app.register_blueprint(echo_bp)
    app.register_blueprint(bp)
    app.register_error_handler(WebsocketMismatch, not_a_handshake)


def own_origin() -> str:
    scheme = {"ws": "http", "wss": "https"}.get(request.scheme, request.scheme)
    return f"{scheme}://{request.host}".lower()


def not_a_handshake(exc: WebsocketMismatch):
    """A plain HTTP request to a socket's URL (or an upgrade to a page's): routing
    refuses it before any blueprint's hook runs; say why in the usual 400."""
    if request.path == "/ws" or request.path.startswith("/ws/"):
        why = "this URL is a WebSocket endpoint: open it with a WebSocket client"
    else:
        why = "this URL does not speak WebSocket"
    return current_app.handle_http_exception(BadRequest(why))


def refuse(status: int, why: str, version: bool = False) -> NoReturn:
    headers = {"Sec-WebSocket-Version": VERSION} if version else {}
    abort(current_app.response_class(why + "\n", status, headers, mimetype="text/plain"))


def check_handshake() -> None:
    """Refuse a malformed or unsupported handshake with 400 (426 for another
    version) before the 101, which `take_over` writes without looking further.
    The checks of RFC 6455 §4.2.1, as wsproto made them when flask-sock's
    Server did the upgrade (it answered some with a 500 and a traceback, and
    upgraded a HEAD or an HTTP/1.0 request)."""
    environ = request.environ
    # POST, PUT, ... never get here: routing answers them 405 (werkzeug allows a
    # WebSocket route no other methods than GET, HEAD and OPTIONS).
    if request.method != "GET":
        refuse(400, "a WebSocket handshake is a GET request")
    if environ.get("SERVER_PROTOCOL") != "HTTP/1.1":
        refuse(400, "a WebSocket handshake is an HTTP/1.1 request")
    if not environ.get("HTTP_HOST"):
        refuse(400, "a WebSocket handshake needs a Host header")
    # wsproto decodes these (simple-websocket hands it the headers as UTF-8):
    # the Host as an IDNA name, the token lists as ASCII.
    try:
        environ["HTTP_HOST"].encode().decode("idna")
    except UnicodeError:
        refuse(400, "the Host header is not a host name")
    for name in ("HTTP_CONNECTION", "HTTP_SEC_WEBSOCKET_PROTOCOL"):
        if not environ.get(name, "").isascii():
            refuse(400, f"the {name[5:].title().replace('_', '-')} header must be ASCII")
    if environ.get("HTTP_UPGRADE", "").strip().lower() != "websocket":
        refuse(400, "a WebSocket handshake needs 'Upgrade: websocket'")
    connection = environ.get("HTTP_CONNECTION", "").lower().split(",")
    if "upgrade" not in (token.strip() for token in connection):
        refuse(400, "a WebSocket handshake needs 'Connection: Upgrade'")
    version = environ.get("HTTP_SEC_WEBSOCKET_VERSION")
    if version is None:
        refuse(400, "a WebSocket handshake needs 'Sec-WebSocket-Version: 13'", version=True)
    if version.strip() != VERSION:
        refuse(426, "only WebSocket version 13 is spoken here", version=True)
    try:
        key = base64.b64decode(environ.get("HTTP_SEC_WEBSOCKET_KEY", ""), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 16:  # two keys arrive joined by a comma: not base64
        refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64")


@bp.before_request
@echo_bp.before_request
def check_upgrade():
    """Refuse before the 101: malformed handshake (400, 426), foreign Origin (403),
    no login (401), worker shutting down or holding WORKER_CONNECTIONS sockets
    (503), too many sockets of the user (429), unknown room (404)."""
    check_handshake()
    origin = request.headers.get("Origin")
    if origin is not None:
        origin = origin.rstrip("/").lower()
        if origin != own_origin() and origin not in current_app.config["ALLOWED_ORIGINS"]:
            abort(403, description="cross-origin WebSocket refused")
    if not current_user.is_authenticated:
        abort(401)
    if worker.is_going_away(current_app):
        abort(503, description="this server is restarting; retry")
    if len(reader.held) >= current_app.config["WORKER_CONNECTIONS"]:
        abort(503, description="this server holds as many sockets as it may; retry")
    if worker.realtime().sockets_of(current_user.id) >= current_app.config["MAX_SOCKETS_PER_USER"]:
        abort(429, description="too many open sockets for this account")
    room_name = request.view_args.get("room_name")
    g.room = room_or_404(room_name) if room_name is not None else None
    g.after = seq_arg("after")
    # Each frame is encoded once per worker and sent as is to every client;
    # permessage-deflate would compress it again once per client: no extension
    # is answered (the 101 is ours).


class HandedOver(Response):
    """The end of an upgraded request: gunicorn's worker takes StopIteration from
    the app as "the connection is handled" and writes no response (flask-sock
    ends its requests the same way under gunicorn)."""

    def __call__(self, environ, start_response):
        raise StopIteration()


def take_over() -> reader.SocketReader:
    """Write the 101 and hold the connection in a reader of this worker."""
    raw = request.environ.get("gunicorn.socket")
    if raw is None or not hasattr(raw, "detach"):
        refuse(500, "WebSockets are served by gunicorn's gevent worker only")
    config = current_app.config
    # Pings and pongs count like frames: the same rate and burst as a session's.
    control = TokenBucket(config["RATE_LIMIT_PER_SEC"], config["RATE_LIMIT_BURST"])
    frames = ClientFrames(config["WS_MAX_FRAME_BYTES"], control)
    held = reader.take_over(raw, request.environ["HTTP_SEC_WEBSOCKET_KEY"], frames)
    reader.held.ping_every(config["WS_PING_INTERVAL"])
    return held


@bp.route("/ws", websocket=True)
def multiplexed_socket():
    """Many rooms over one socket: `join` and `leave` frames, every frame names its room."""
    ClientSession(
        take_over(),
        current_user.entity,
        worker.realtime(),
        None,
        current_user.session_hash,
        current_user.token_hash,
    ).serve()
    return HandedOver()


@bp.route("/ws/<room_name>", websocket=True)
def room_socket(room_name: str):
    """One room over one socket, as in the tutorials; plain text lines are chat messages."""
    ClientSession(
        take_over(),
        current_user.entity,
        worker.realtime(),
        g.room,
        current_user.session_hash,
        current_user.token_hash,
    ).serve(g.after)
    return HandedOver()


@echo_bp.route("/ws/_echo", websocket=True)
def echo_socket():
    """Echo every message back: the WebSocket layer alone, for Autobahn's fuzzing
    client (make autobahn). Same reader, limits and checks as /ws."""
    held = take_over()
    peer = Peer(held, current_user.entity, current_app.config["OUTBOUND_QUEUE"])

    def echo(data: str | bytes) -> None:
        peer.offer(wire(data) if isinstance(data, str) else binary_frame(data))

    held.start(echo, peer.close, peer)
    return HandedOver()
