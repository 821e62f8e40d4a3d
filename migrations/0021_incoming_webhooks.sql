-- Incoming webhooks (docs/webhooks.md): a secret URL that posts into one room
-- as the webhook's own bot account (users.is_bot, a member of the room). Only
-- the SHA-256 of the secret is kept, like API tokens'; revoking deletes the row
-- (the bot account and its messages stay). A webhook lives only while its bot
-- is a member of the room: removing the bot (or deleting the room) deletes it.
CREATE TABLE incoming_webhooks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id      bigint NOT NULL,
    user_id      bigint NOT NULL,
    name         text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_by   bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    FOREIGN KEY (room_id, user_id) REFERENCES room_members (room_id, user_id) ON DELETE CASCADE
);
CREATE INDEX incoming_webhooks_room ON incoming_webhooks (room_id, id);
