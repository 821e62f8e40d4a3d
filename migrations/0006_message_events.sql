-- Edits, deletions and reactions, and mentions.
--
-- An edit, a deletion and a reaction toggle are events with their own place in
-- the room's gapless sequence: each is a messages row of its own kind whose
-- target_seq names the message it changes. A client resuming with `after`
-- replays them in order, like messages. The changed message's own row is
-- updated in the same transaction, so it always holds the current state
-- (current text, edited_at, deleted_at) and a page of history needs no events.

ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check
    CHECK (kind IN ('chat', 'action', 'edit', 'delete', 'reaction_add', 'reaction_remove'));
-- For events: the seq of the message they change (in the same room); NULL for messages.
ALTER TABLE messages ADD COLUMN target_seq bigint;
ALTER TABLE messages ADD CONSTRAINT messages_event_has_target
    CHECK ((kind IN ('chat', 'action')) = (target_seq IS NULL));
-- On a message: when it was last edited (its content and html are the current text).
ALTER TABLE messages ADD COLUMN edited_at timestamptz;
-- On a message: when it was deleted. Deleting empties content and html of the
-- message and of its edit events, and removes its earlier versions: a deleted
-- text is gone, not hidden.
ALTER TABLE messages ADD COLUMN deleted_at timestamptz;
-- Who deleted it (its author, or the room's owner).
ALTER TABLE messages ADD COLUMN deleted_by bigint REFERENCES users (id) ON DELETE SET NULL;

-- Every earlier version of an edited message, for "(edited)" → history.
CREATE TABLE message_versions (
    room_id     bigint NOT NULL,
    seq         bigint NOT NULL,
    version     integer NOT NULL,          -- 1 is the original text
    content     text NOT NULL,
    html        text,
    written_at  timestamptz NOT NULL,      -- when this version was sent or written
    PRIMARY KEY (room_id, seq, version),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
);

-- Current reactions: one row per person, message and emoji (a toggle adds or
-- removes it, and writes a reaction_add / reaction_remove event).
CREATE TABLE reactions (
    room_id    bigint NOT NULL,
    seq        bigint NOT NULL,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji      text NOT NULL CHECK (length(emoji) BETWEEN 1 AND 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, seq, user_id, emoji),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
);

-- `@username` in a message, for each named user who is a member of the room
-- at sending time: the rooms list counts those after the member's read seq.
CREATE TABLE mentions (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id bigint NOT NULL,
    seq     bigint NOT NULL,
    PRIMARY KEY (user_id, room_id, seq),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
);
