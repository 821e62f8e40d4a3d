"""A minimal Flask-SocketIO chat: rooms with join_room, every message saved to PostgreSQL
with psycopg, then emitted to its room through the Redis message queue.

    DATABASE_URL=... REDIS_URL=redis://127.0.0.1:PORT/0 \
        gunicorn -k gevent -w 2 --no-control-socket server:app

gunicorn's gevent worker monkey-patches before it imports this module, so psycopg
(imported here) picks its gevent-friendly wait functions, and redis-py's socket is
cooperative, as python-socketio's RedisManager requires.
"""

import os

from flask import Flask, session
from flask_socketio import SocketIO, emit, join_room, rooms
from psycopg_pool import ConnectionPool

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "bench-peer-not-secret")
socketio = SocketIO(
    app,
    async_mode="gevent",
    # Several worker processes relay emits to each other through Redis.
    message_queue=os.environ["REDIS_URL"],
    # WebSocket only: every connection is one request that stays on one worker, so
    # no sticky sessions are needed in front of several workers.
    transports=["websocket"],
)
pool = ConnectionPool(os.environ["DATABASE_URL"], min_size=1, max_size=10, open=True)


@socketio.on("connect")
def connect(auth):
    # No authentication: the client's auth payload only names the sender.
    user = (auth or {}).get("user")
    if not user:
        return False
    session["user"] = user


@socketio.on("join")
def join(data):
    join_room(data["room"])
    return True  # acknowledged: the client knows it is in the room


@socketio.on("chat")
def chat(data):
    room, text = data["room"], data["text"]
    if room not in rooms():
        return
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO socketio_messages (room, sender, body) VALUES (%s, %s, %s)",
            (room, session["user"], text),
        )
    emit("chat", {"user": session["user"], "text": text}, to=room)
