-- Slash commands and bots: a message kind (`/me` actions), bot accounts, and
-- the job queue that bots (separate processes) take their work from.

-- 'chat' for what people type, 'action' for `/me waves` (shown as "eren waves").
ALTER TABLE messages ADD COLUMN kind text NOT NULL DEFAULT 'chat'
    CHECK (kind IN ('chat', 'action'));

-- A bot's account, created by the bot at its start, posts its answers. Its
-- password hash is '!', which no password matches: nobody logs in as a bot.
ALTER TABLE users ADD COLUMN is_bot boolean NOT NULL DEFAULT false;

-- One request for a bot (`/stock=AAPL`): written by the sender's transaction
-- with a NOTIFY on bot_jobs, claimed by a bot with FOR UPDATE SKIP LOCKED,
-- answered in the room exactly once (the answer's client_id is 'job-<id>').
CREATE TABLE bot_jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bot           text NOT NULL,            -- which bot answers: 'stock'
    room_id       bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    requested_by  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    argument      text NOT NULL,            -- what was asked: 'AAPL.US'
    -- The sender's client_id: a resent request is the same job.
    client_id     text CHECK (length(client_id) BETWEEN 1 AND 64),
    state         text NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'answered', 'failed')),
    -- Claims so far; a claim also bumps it, so a bot that keeps crashing on a
    -- job still reaches the maximum and the job is answered with a failure.
    attempts      integer NOT NULL DEFAULT 0,
    -- Not claimable before this: the backoff after a transient failure.
    run_after     timestamptz NOT NULL DEFAULT now(),
    -- A claim is valid until then; a bot that died with the job loses it then.
    claimed_until timestamptz,
    last_error    text,
    answer_seq    bigint,                   -- the answer's seq in the room
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    UNIQUE (room_id, requested_by, client_id)
);
-- The claim query reads only a bot's pending jobs, oldest first.
CREATE INDEX bot_jobs_pending ON bot_jobs (bot, id) WHERE state = 'pending';
-- The per-person cap on waiting requests counts these.
CREATE INDEX bot_jobs_pending_requester ON bot_jobs (requested_by) WHERE state = 'pending';
