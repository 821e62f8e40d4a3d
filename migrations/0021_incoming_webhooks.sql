-- Incoming webhooks (docs/webhooks.md): a secret URL that posts into one room
-- as the webhook's own bot account (users.is_bot, a member of the room). Only
-- the SHA-256 of the secret is kept, like API tokens'; revoking deletes the row
-- (the bot account and its messages stay).
CREATE TABLE incoming_webhooks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id      bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES users (id),
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX incoming_webhooks_room ON incoming_webhooks (room_id, id);
