"""WebSocket endpoints (DESIGN §5). Thin: check, join the hub, then receive → act.

Everything that must refuse a client before the 101 (Origin, login, room)
runs in `before_request`, because flask-sock upgrades inside its route
wrapper, before our handler runs.
"""

import logging
import threading

import psycopg
from flask import Blueprint, Flask, abort, current_app, g, request
from flask_login import current_user
from flask_sock import Sock
from psycopg_pool import PoolTimeout
from simple_websocket import ConnectionClosed

from . import actions, db, protocol
from .hub import Hub, HubUnavailable
from .peer import CLOSE_INTERNAL_ERROR, CLOSE_TRY_AGAIN_LATER, FrameSocket, Peer, PeerClosed
from .rooms import find_room, room_or_404, seq_arg

log = logging.getLogger(__name__)

bp = Blueprint("ws", __name__)
sock = Sock()
_hub_lock = threading.Lock()


def init_app(app: Flask) -> None:
    sock.init_app(app)
    app.register_blueprint(bp)


def get_hub() -> Hub:
    """This worker's hub, created on the first socket (plain HTTP never needs one)."""
    app = current_app._get_current_object()
    with _hub_lock:
        hub = app.extensions.get("hub")
        if hub is None:
            hub = app.extensions["hub"] = Hub(app.config["DATABASE_URL"], db.pool())
    return hub


def stop_hub(app: Flask) -> None:
    hub = app.extensions.get("hub")
    if hub is not None:
        hub.stop()


def own_origin() -> str:
    scheme = {"ws": "http", "wss": "https"}.get(request.scheme, request.scheme)
    return f"{scheme}://{request.host}".lower()


@bp.before_request
def check_upgrade():
    """Refuse before the 101: foreign Origin (403), no login (401), unknown room (404)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        origin = origin.rstrip("/").lower()
        if origin != own_origin() and origin not in current_app.config["ALLOWED_ORIGINS"]:
            abort(403, description="cross-origin WebSocket refused")
    if not current_user.is_authenticated:
        abort(401)
    g.room = room_or_404(request.view_args["room_name"])
    g.after = seq_arg("after")
    environ = request.environ
    # Each frame is encoded once per worker and sent as is to every client;
    # permessage-deflate would compress it again once per client.
    environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
    raw = environ.get("gunicorn.socket")
    if raw is not None and not isinstance(raw, FrameSocket):
        environ["gunicorn.socket"] = FrameSocket(raw)


@sock.route("/ws/<room_name>", bp=bp)
def room_socket(ws, room_name: str):
    """One room over one socket, as in the tutorials; plain text lines are chat messages."""
    room = g.room
    peer = Peer(ws, current_user.as_row(), current_app.config["OUTBOUND_QUEUE"])
    hub = get_hub()
    try:
        hub.join(peer, room, g.after)
        while True:
            data = ws.receive()
            if data is not None:
                handle_frame(peer, room, data)
    except PeerClosed:
        pass
    except (HubUnavailable, psycopg.OperationalError, PoolTimeout) as exc:
        log.warning("socket of %s in %s: database unavailable: %s", peer.username, room_name, exc)
        peer.abort(CLOSE_TRY_AGAIN_LATER, "database unavailable; reconnect with after")
    except ConnectionClosed:
        raise  # flask-sock's normal end of a connection
    except Exception:
        log.exception("socket of %s in %s failed", peer.username, room_name)
        peer.abort(CLOSE_INTERNAL_ERROR, "internal error; reconnect with after")
    finally:
        hub.leave(peer, room["id"])
        peer.close()


def handle_frame(peer: Peer, default_room: dict, data: str | bytes) -> None:
    """Act on one client frame; every failure is an error frame, never a crash."""
    client_id = None
    try:
        request_ = protocol.parse(data, current_app.config["MAX_MESSAGE_CHARS"])
        client_id = request_.client_id
        room = default_room
        if request_.room is not None and request_.room != default_room["name"]:
            room = find_room(request_.room)
            if room is None:
                raise protocol.FrameError("not_found", "no such room", client_id)
        with db.connection() as conn:
            sent = actions.send_message(conn, room, peer.user, request_.content, client_id)
        peer.send(protocol.ack_frame(client_id, sent.seq, room["name"]))
    except protocol.FrameError as exc:
        peer.send(protocol.error_frame(exc.code, exc.message, exc.client_id))
    except (psycopg.OperationalError, PoolTimeout) as exc:
        log.warning("send by %s failed: %s", peer.username, exc)
        peer.send(
            protocol.error_frame(
                "unavailable",
                "the database is unavailable; resend with the same client_id",
                client_id,
            )
        )
    except PeerClosed:
        raise
    except Exception:
        log.exception("frame from %s failed", peer.username)
        peer.send(protocol.error_frame("internal", "the server failed to handle that", client_id))
