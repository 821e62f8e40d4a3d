-- Mentions follow a message's current text (issue 14).
--
-- An edit now rewrites a message's mention records (a mention it removes is
-- gone, one it adds is recorded) and a deletion removes them. A mention an
-- edit adds counts as new for its person: since_seq is the seq at which the
-- message started mentioning them (the message's own seq for the text as
-- sent, the edit's seq for a mention an edit added), and the rooms list
-- counts the mentions whose since_seq is after the member's read seq.
ALTER TABLE mentions ADD COLUMN since_seq bigint;
UPDATE mentions SET since_seq = seq;
ALTER TABLE mentions ALTER COLUMN since_seq SET NOT NULL;

-- The rows written before this: make the records match each message's stored
-- html (the data-user attributes chat/render.py writes), which is what pages
-- show. The html itself is left as it was rendered (a migration cannot run
-- the renderer); only edits and deletions had let the two drift apart.
DELETE FROM mentions n
USING messages x
WHERE x.room_id = n.room_id AND x.seq = n.seq AND x.deleted_at IS NOT NULL;

CREATE TEMPORARY TABLE edited_mentions ON COMMIT DROP AS
SELECT DISTINCT u.id AS user_id, x.room_id, x.seq
FROM messages x
CROSS JOIN LATERAL regexp_matches(
    x.html, '<span class="mention" data-user="([a-z0-9_.-]+)">', 'g'
) AS found(names)
JOIN users u ON lower(u.username) = found.names[1] AND u.disabled_at IS NULL
JOIN room_members m ON m.room_id = x.room_id AND m.user_id = u.id
WHERE x.edited_at IS NOT NULL AND x.deleted_at IS NULL AND x.html IS NOT NULL
  AND u.id <> x.user_id;

DELETE FROM mentions n
USING messages x
WHERE x.room_id = n.room_id AND x.seq = n.seq AND x.edited_at IS NOT NULL
  AND NOT EXISTS (
      SELECT 1 FROM edited_mentions e
      WHERE e.user_id = n.user_id AND e.room_id = n.room_id AND e.seq = n.seq
  );

INSERT INTO mentions (user_id, room_id, seq, since_seq)
SELECT user_id, room_id, seq, seq FROM edited_mentions
ON CONFLICT DO NOTHING;
