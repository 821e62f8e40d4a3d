-- Server-side login sessions (so logout and password changes revoke copied
-- cookies), disabled accounts, and login throttling shared by every worker.

-- The session cookie carries a random token; only its SHA-256 is kept here.
CREATE TABLE user_sessions (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_sessions_user_id ON user_sessions (user_id);

ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- Failed logins per key ('user:<name>' or 'ip:<address>') in a fixed window.
CREATE TABLE login_failures (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL DEFAULT now(),
    failures     integer NOT NULL DEFAULT 0
);
