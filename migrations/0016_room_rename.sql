-- Renaming a room (issue 16): the room keeps its id, seqs and members; its
-- old names stay reserved for it, so links and scripts that use them keep
-- working (pages redirect to the current name, the API and sockets accept
-- either).
--
-- A rename is an event in the room's sequence, a messages row of kind
-- 'rename' with no target_seq: user_id renamed the room; content holds
-- '<old name> <new name>' as they were then (room names have no spaces).
CREATE TABLE room_aliases (
    name       text PRIMARY KEY,
    room_id    bigint NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    renamed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX room_aliases_room_id ON room_aliases (room_id);

ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check
    CHECK (kind IN ('chat', 'action', 'edit', 'delete', 'reaction_add', 'reaction_remove',
                    'join', 'leave', 'add', 'remove', 'rename'));
