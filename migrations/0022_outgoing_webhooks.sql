-- Outgoing webhooks (docs/webhooks.md "Outgoing webhooks"): a room's messages
-- that start with a trigger word or mention the webhook's bot user are POSTed,
-- signed, to an https URL by the workers (`flask work`), and a reply the
-- receiver sends back is posted in the room as that bot user.
--
-- bot_user_id: the webhook's identity, a bot account of its own (is_bot,
-- the no-password hash) made a member of the room when the webhook is made.
-- secret: the HMAC-SHA256 key of the signatures, generated here and shown to
-- its creator once (it must be kept in clear to sign with it).
-- last_status / last_delivery_at: how the latest delivery attempt went ("200",
-- "HTTP 500 Internal Server Error", "refused: ..."), for the room's members.
-- deleted_at: a deleted webhook stays (its jobs are dropped at delivery, and
-- its bot account keeps its name and past messages), but matches nothing.
CREATE TABLE outgoing_webhooks (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id           bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    bot_user_id       bigint NOT NULL REFERENCES users (id),
    url               text NOT NULL CHECK (url LIKE 'https://%' AND length(url) <= 2000),
    trigger_words     text[] NOT NULL DEFAULT '{}',
    secret            text NOT NULL CHECK (length(secret) >= 32),
    created_by        bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_status       text,
    last_delivery_at  timestamptz,
    deleted_at        timestamptz
);
-- The send path asks this for each batch's rooms (chat/actions/messages.py):
-- an index probe that finds nothing for a room without webhooks.
CREATE INDEX outgoing_webhooks_live ON outgoing_webhooks (room_id) WHERE deleted_at IS NULL;

-- A delivery is a work job (migration 0017): the message (room_id, seq), the
-- webhook, and the trigger word it matched (NULL: it matched by a mention).
ALTER TABLE work_jobs ADD COLUMN webhook_id bigint REFERENCES outgoing_webhooks (id) ON DELETE CASCADE;
ALTER TABLE work_jobs ADD COLUMN trigger_word text;
ALTER TABLE work_jobs DROP CONSTRAINT work_jobs_kind_check;
ALTER TABLE work_jobs ADD CONSTRAINT work_jobs_kind_check
    CHECK (kind IN ('image', 'preview', 'webhook'));
-- (0017's preview check stands: a webhook job has a seq but no url.)
ALTER TABLE work_jobs ADD CONSTRAINT work_jobs_webhook_check
    CHECK ((kind = 'webhook') = (webhook_id IS NOT NULL AND seq IS NOT NULL));
