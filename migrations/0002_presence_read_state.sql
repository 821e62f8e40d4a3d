-- Read state per member, and presence across every worker of every host.

-- The highest seq the member has seen; unread = rooms.last_seq - last_read_seq,
-- computed without looking at messages. It only ever moves forward.
ALTER TABLE room_members ADD COLUMN last_read_seq bigint NOT NULL DEFAULT 0;

-- One row per running gunicorn worker (any host), kept fresh by its heartbeat.
-- A worker whose heartbeat is too old is dead (kill -9, lost host): any other
-- worker removes it and announces its users' departures.
CREATE TABLE workers (
    id           text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Who is connected to which room through which worker (however many tabs:
-- the worker counts those itself). A user is online in a room while any row exists.
CREATE TABLE presence (
    worker_id text NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    room_id   bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (worker_id, room_id, user_id)
);
CREATE INDEX presence_room_user ON presence (room_id, user_id);
