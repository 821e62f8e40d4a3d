-- Accounts, API tokens, rooms with their gapless message sequence, messages.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL CHECK (username ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$'),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- "Eren" and "eren" are the same person to the people reading the room.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

-- Personal API tokens for scripts and bots; only a SHA-256 of the token is kept.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE rooms (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    is_private boolean NOT NULL DEFAULT false,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The room's last assigned message seq. A send increments it in the same
    -- transaction as the insert, so seqs are gapless and in commit order.
    last_seq   bigint NOT NULL DEFAULT 0
);

CREATE TABLE room_members (
    room_id       bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user_id ON room_members (user_id);

CREATE TABLE messages (
    room_id    bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    user_id    bigint NOT NULL REFERENCES users (id),
    content    text NOT NULL,
    -- Chosen by the sender; a repeat of (room, user, client_id) is the same send.
    client_id  text CHECK (length(client_id) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, seq),
    UNIQUE (room_id, user_id, client_id)
);

-- Every installation starts with one public room, the one the tutorials use.
INSERT INTO rooms (name) VALUES ('general');
