-- Rate limits shared by every worker and host: one token bucket per key
-- (`send:<user_id>` for sends, edits, deletions and reactions over HTTP).
-- A bucket holds at most `burst` tokens and refills at `rate` a second; each
-- request takes one (chat/actions/limits.py). UNLOGGED: after a crash the
-- buckets start full again, which is all a rate limit needs, and their
-- updates write no WAL.
CREATE UNLOGGED TABLE rate_buckets (
    key        text PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at timestamptz NOT NULL
);
