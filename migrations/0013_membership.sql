-- Membership (DESIGN §9): public rooms are joined and left explicitly, and
-- joins, leaves, additions and removals are events in the room's sequence.
--
-- A membership event is a messages row of its own kind with no target_seq:
--   join    user_id joined (by the Join button, the API, or by posting)
--   leave   user_id left
--   add     user_id added the person named in content (an invitation)
--   remove  user_id removed the person named in content
-- content holds that person's username as it was then ('' for join and leave).

ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check
    CHECK (kind IN ('chat', 'action', 'edit', 'delete', 'reaction_add', 'reaction_remove',
                    'join', 'leave', 'add', 'remove'));
-- Only the events that change a message name one.
ALTER TABLE messages DROP CONSTRAINT messages_event_has_target;
ALTER TABLE messages ADD CONSTRAINT messages_event_has_target
    CHECK ((kind IN ('edit', 'delete', 'reaction_add', 'reaction_remove')) = (target_seq IS NOT NULL));

-- What the directory shows, and a room closed to new messages.
ALTER TABLE rooms ADD COLUMN topic text NOT NULL DEFAULT '' CHECK (length(topic) <= 250);
ALTER TABLE rooms ADD COLUMN archived_at timestamptz;

-- A muted room counts nothing for its member: no badge, no notification.
ALTER TABLE room_members ADD COLUMN muted boolean NOT NULL DEFAULT false;

-- Whoever has ever posted in a room is a member of it (whoever had joined one
-- already has a row). They start with everything read: the counts before
-- this migration were never theirs to see.
INSERT INTO room_members (room_id, user_id, last_read_seq)
SELECT DISTINCT m.room_id, m.user_id, r.last_seq
FROM messages m JOIN rooms r ON r.id = m.room_id
WHERE m.kind IN ('chat', 'action')
ON CONFLICT (room_id, user_id) DO NOTHING;
