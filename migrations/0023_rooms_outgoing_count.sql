-- How many live outgoing webhooks each room has, kept beside the row every send
-- locks anyway (chat/actions/messages.py SQL_LOCK_ROOMS): a send reads the
-- webhooks themselves only in a room that has some, so the common room costs
-- the send path no statement for them (issue 20). Moved by creating (+1) and
-- deleting (-1) a webhook, in the transaction that does it, under the room's
-- row lock: an increment under that lock is exact whatever runs beside it.
ALTER TABLE rooms ADD COLUMN outgoing_webhooks integer NOT NULL DEFAULT 0
    CHECK (outgoing_webhooks >= 0);
UPDATE rooms r SET outgoing_webhooks = live.n
FROM (
    SELECT room_id, count(*) AS n FROM outgoing_webhooks
    WHERE deleted_at IS NULL GROUP BY room_id
) live
WHERE live.room_id = r.id;
