-- The account settings page: a display name, login sessions a person can see
-- and end one by one, and API tokens with a name.

-- Optional; the rule (trimmed, 1-64 characters, no control characters) is
-- chat/domain/users.py `validate_display_name`; the length is checked here too.
ALTER TABLE users ADD COLUMN display_name text
    CHECK (length(display_name) BETWEEN 1 AND 64);

-- Sessions get an id to name them by in pages and forms (the token hash, their
-- key, stays on the server), the browser that opened them and when they were
-- last used (kept to the minute: chat/actions/accounts.py `use_session`).
ALTER TABLE user_sessions ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE user_sessions ADD CONSTRAINT user_sessions_id_key UNIQUE (id);
ALTER TABLE user_sessions ADD COLUMN user_agent text CHECK (length(user_agent) <= 256);
ALTER TABLE user_sessions ADD COLUMN last_seen_at timestamptz;
UPDATE user_sessions SET last_seen_at = created_at;
ALTER TABLE user_sessions
    ALTER COLUMN last_seen_at SET DEFAULT now(),
    ALTER COLUMN last_seen_at SET NOT NULL;

-- What a token is for, as its owner named it; tokens made before this have none.
ALTER TABLE api_tokens ADD COLUMN name text CHECK (length(name) BETWEEN 1 AND 64);
