-- Full-text search over messages (issue 9).
--
-- `search` is the message's text as a tsvector, kept by PostgreSQL itself on
-- every insert and every edit or deletion of the row. The configuration is
-- 'simple' (lower-casing, no stemming, no stop words), fixed in the column so
-- the index and the queries always agree:
--   * chats are multilingual: 'english' would stem German or Spanish words
--     wrongly and drop English stop words ("the", "it") that mean something
--     in other languages;
--   * names, codes and identifiers matter in a chat (ERR-42, v1.2.3, mikasa,
--     foo@bar.com) and 'simple' keeps them whole, where a language's stemmer
--     would cut them ("mikasa" -> "mikasa", but "running" -> "run" and
--     "jobs" -> "job" silently match other words);
--   * the price is no stemming: "run" does not find "running". Phrases
--     ("..."), -exclusions and `or` still work (websearch_to_tsquery).
-- Only messages (chat, action) that are not deleted get a vector: events
-- (edit, delete, reactions) carry copies or nothing and must never be found,
-- and a deleted message's text is gone (its content is '' anyway).
--
-- Adding a stored column rewrites the table under an exclusive lock: on a
-- large installation, run this migration in a quiet moment.
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    CASE WHEN kind IN ('chat', 'action') AND deleted_at IS NULL
         THEN to_tsvector('simple'::regconfig, content)
    END
) STORED;

-- Partial: event rows never enter the index. Queries repeat the predicate
-- (chat/search.py) so the planner may use it.
CREATE INDEX messages_search ON messages USING gin (search)
    WHERE kind IN ('chat', 'action');
