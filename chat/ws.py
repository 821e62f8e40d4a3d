"""WebSocket endpoints (DESIGN §5). Thin: check the upgrade, then hand over to a session.

Everything that must refuse a client before the 101 (Origin, login, room)
runs in `before_request`, because flask-sock upgrades inside its route
wrapper, before our handler runs.
"""

import logging
import threading

from flask import Blueprint, Flask, abort, current_app, g, request
from flask_login import current_user
from flask_sock import Sock

from . import db, writer
from .client import ClientSession
from .peer import FrameSocket
from .realtime import Realtime
from .rooms import room_or_404, seq_arg

log = logging.getLogger(__name__)

bp = Blueprint("ws", __name__)
# Only registered with WS_ECHO=1; shares the upgrade checks below.
echo_bp = Blueprint("ws_echo", __name__)
sock = Sock()
_realtime_lock = threading.Lock()


def init_app(app: Flask) -> None:
    if app.config["WS_ECHO"]:
        app.register_blueprint(echo_bp)
    sock.init_app(app)
    app.register_blueprint(bp)


def realtime() -> Realtime:
    """This worker's hub and presence, created on the first socket (HTTP never needs them)."""
    app = current_app._get_current_object()
    with _realtime_lock:
        rt = app.extensions.get("realtime")
        if rt is None:
            rt = app.extensions["realtime"] = Realtime(app.config, db.pool(), writer.for_app(app))
    return rt


def going_away(app: Flask) -> None:
    # Kept on the app as well: a worker that has not served a socket yet has no
    # Realtime, and must still refuse the upgrades it accepts while stopping.
    app.extensions["going_away"] = True
    rt = app.extensions.get("realtime")
    if rt is not None:
        rt.going_away()


def stop_realtime(app: Flask) -> None:
    rt = app.extensions.get("realtime")
    if rt is not None:
        rt.stop()


def own_origin() -> str:
    scheme = {"ws": "http", "wss": "https"}.get(request.scheme, request.scheme)
    return f"{scheme}://{request.host}".lower()


@bp.before_request
@echo_bp.before_request
def check_upgrade():
    """Refuse before the 101: foreign Origin (403), no login (401), worker shutting
    down (503), too many sockets (429), unknown room (404)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        origin = origin.rstrip("/").lower()
        if origin != own_origin() and origin not in current_app.config["ALLOWED_ORIGINS"]:
            abort(403, description="cross-origin WebSocket refused")
    if not current_user.is_authenticated:
        abort(401)
    if current_app.extensions.get("going_away") or realtime().closing:
        abort(503, description="this server is restarting; retry")
    if realtime().sockets_of(current_user.id) >= current_app.config["MAX_SOCKETS_PER_USER"]:
        abort(429, description="too many open sockets for this account")
    room_name = request.view_args.get("room_name")
    g.room = room_or_404(room_name) if room_name is not None else None
    g.after = seq_arg("after")
    environ = request.environ
    # Each frame is encoded once per worker and sent as is to every client;
    # permessage-deflate would compress it again once per client.
    environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
    raw = environ.get("gunicorn.socket")
    if raw is not None and not isinstance(raw, FrameSocket):
        environ["gunicorn.socket"] = FrameSocket(raw)


@sock.route("/ws", bp=bp)
def multiplexed_socket(ws):
    """Many rooms over one socket: `join` and `leave` frames, every frame names its room."""
    ClientSession(ws, current_user.as_row(), realtime(), None, current_user.session_hash).run()


@sock.route("/ws/<room_name>", bp=bp)
def room_socket(ws, room_name: str):
    """One room over one socket, as in the tutorials; plain text lines are chat messages."""
    ClientSession(ws, current_user.as_row(), realtime(), g.room, current_user.session_hash).run(
        g.after
    )


@sock.route("/ws/_echo", bp=echo_bp)
def echo_socket(ws):
    """Echo every message back: the WebSocket layer alone, for Autobahn's fuzzing
    client (make autobahn). Same socket wrapper, limits and checks as /ws."""
    while True:
        ws.send(ws.receive())
