-- Presence per person (DESIGN §9): online, away or offline across the whole
-- app, not per room tab. Each worker writes one row per user it has sockets
-- of; the row is away when every one of those sockets reported the person
-- idle or the page hidden. A person is online when any row is not away, away
-- when all their rows are, offline with none. Rows of a dead worker go with
-- it (the reaper deletes the worker, and announces the change first).
CREATE TABLE user_presence (
    worker_id text NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    away      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (worker_id, user_id)
);
CREATE INDEX user_presence_user_id ON user_presence (user_id);
