"""Flask-SocketIO peer: gevent, WebSocket transport only, Redis message queue."""
