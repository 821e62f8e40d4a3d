-- The Flask-SocketIO peer's one table (created by target.py before the workers start).
CREATE TABLE IF NOT EXISTS socketio_messages (
    id bigserial PRIMARY KEY,
    room text NOT NULL,
    sender text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
