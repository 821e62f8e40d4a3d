-- Threads and quote-replies (issue 18; docs/protocol.md "Threads").
--
-- A reply is a message of the room's gapless sequence like any other, so a
-- client resuming with `after` gets replies in order with everything else.
-- It names its thread's root in thread_seq (one level: a reply to a reply
-- belongs to the same thread, the writer resolves it). An edit, deletion or
-- reaction of a reply carries the reply's thread_seq too, so its frame says
-- which thread it changes.
ALTER TABLE messages ADD COLUMN thread_seq bigint;
-- "Also send to #room": a reply shown in the room's main flow as well.
ALTER TABLE messages ADD COLUMN also_in_room boolean NOT NULL DEFAULT false;
-- A quote-reply: the seq of the message it quotes (same room). Frames and
-- pages show a snippet of the quoted message as it is now.
ALTER TABLE messages ADD COLUMN quote_seq bigint;
ALTER TABLE messages ADD CONSTRAINT messages_thread_kinds
    CHECK (thread_seq IS NULL OR kind IN ('chat', 'action', 'edit', 'delete',
                                          'reaction_add', 'reaction_remove',
                                          'files', 'preview', 'preview_remove'));
ALTER TABLE messages ADD CONSTRAINT messages_also_in_room_is_a_reply
    CHECK (NOT also_in_room OR (thread_seq IS NOT NULL AND kind IN ('chat', 'action')));
ALTER TABLE messages ADD CONSTRAINT messages_quote_kinds
    CHECK (quote_seq IS NULL OR kind IN ('chat', 'action'));
-- A thread's rows in order: the thread panel, the thread page, unread counts.
CREATE INDEX messages_thread ON messages (room_id, thread_seq, seq) WHERE thread_seq IS NOT NULL;

-- One row per root that has had a reply: what the room shows under the root
-- ("3 replies · last reply 2 min ago"). Kept by the writer in the reply's
-- transaction; reply_count counts replies not deleted.
CREATE TABLE threads (
    room_id         bigint NOT NULL,
    root_seq        bigint NOT NULL,
    reply_count     integer NOT NULL DEFAULT 0 CHECK (reply_count >= 0),
    last_reply_seq  bigint NOT NULL,
    last_reply_at   timestamptz NOT NULL,
    -- The latest repliers' user ids, most recent first, THREAD_FACES at most
    -- (chat/domain/threads.py): the faces under the root, without reading
    -- every reply of a long thread.
    repliers        bigint[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (room_id, root_seq),
    FOREIGN KEY (room_id, root_seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
);

-- Who follows a thread: the root's author, whoever replies, whoever a reply
-- mentions (rows made by the writer), and whoever follows it by hand.
-- `following` false is an explicit unfollow (kept so the root's author who
-- unfollowed is not followed again by the next reply; replying or being
-- mentioned follows again). last_read_seq: the last reply seq the person has
-- seen in the thread.
CREATE TABLE thread_follows (
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    room_id        bigint NOT NULL,
    root_seq       bigint NOT NULL,
    following      boolean NOT NULL DEFAULT true,
    last_read_seq  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, room_id, root_seq),
    FOREIGN KEY (room_id, root_seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
);
-- A thread's followers, for the writer telling them of a reply.
CREATE INDEX thread_follows_thread ON thread_follows (room_id, root_seq) WHERE following;
