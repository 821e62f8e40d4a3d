-- Files, images and link previews (issue 17), kept in PostgreSQL: `pg_dump` is
-- still the whole backup. docs/files.md is the design; this is its schema.

-- A file someone uploaded. It belongs to its owner alone until a message of
-- theirs takes it (room_id, seq set in the send's transaction); from then on
-- it is visible exactly to whoever may read that message, and goes with it
-- (a deleted message deletes its files). Unsent files are deleted after a
-- while (UPLOAD_UNSENT_HOURS).
--
-- `key` is what URLs name: 128 random bits, URL-safe base64 (22 characters);
-- unguessable, and every route checks the reader's right as well.
-- `media_type` is decided by sniffing the content, never the client's claim.
-- `width`/`height` are a raster image's, orientation applied, read from its
-- header at upload (so pages reserve the space before the thumbnail exists).
-- `state`: uploading (bytes arriving), stored (all there), ready (derived
-- variants made: an image's cleaned copy and thumbnail), failed (the image
-- could not be processed: served as an attachment, no thumbnail).
CREATE TABLE files (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         text NOT NULL UNIQUE CHECK (key ~ '^[A-Za-z0-9_-]{22}$'),
    owner_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    size        bigint NOT NULL DEFAULT 0 CHECK (size >= 0),
    media_type  text NOT NULL DEFAULT 'application/octet-stream',
    sha256      bytea,
    width       integer CHECK (width > 0),
    height      integer CHECK (height > 0),
    state       text NOT NULL DEFAULT 'uploading'
                CHECK (state IN ('uploading', 'stored', 'ready', 'failed')),
    room_id     bigint,
    seq         bigint,
    position    smallint CHECK (position BETWEEN 0 AND 9),
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE,
    CHECK ((room_id IS NULL) = (seq IS NULL) AND (seq IS NULL) = (position IS NULL)),
    UNIQUE (room_id, seq, position)
);
-- A message's files, in order (frames, catch-up, history, export).
CREATE INDEX files_message ON files (room_id, seq) WHERE seq IS NOT NULL;
-- The per-person quota sums these; the clean-up finds unsent ones.
CREATE INDEX files_owner ON files (owner_id, created_at);

-- A file's bytes in chunks of at most 256 KiB, so that no transfer holds more
-- than a chunk in memory. `variant`: original (as uploaded), clean (a raster
-- image re-encoded without its metadata, orientation applied: what others
-- are served), thumb (a small image for the message list).
CREATE TABLE file_chunks (
    file_id  bigint NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    variant  text NOT NULL CHECK (variant IN ('original', 'clean', 'thumb')),
    n        integer NOT NULL CHECK (n >= 0),
    data     bytea NOT NULL CHECK (length(data) BETWEEN 1 AND 262144),
    PRIMARY KEY (file_id, variant, n)
);
-- Each derived variant's type and size (the original's are in files).
CREATE TABLE file_variants (
    file_id     bigint NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    variant     text NOT NULL CHECK (variant IN ('clean', 'thumb')),
    media_type  text NOT NULL,
    size        bigint NOT NULL CHECK (size >= 0),
    width       integer NOT NULL CHECK (width > 0),
    height      integer NOT NULL CHECK (height > 0),
    sha256      bytea NOT NULL,
    PRIMARY KEY (file_id, variant)
);

-- A message's link preview: the first http(s) link's card (title,
-- description, site name, image URL), fetched by a worker and announced as an
-- event (kind 'preview', target_seq the message). Removed by the message's
-- author: an event too (kind 'preview_remove'), and the row goes.
CREATE TABLE link_previews (
    room_id      bigint NOT NULL,
    seq          bigint NOT NULL,
    url          text NOT NULL,
    title        text CHECK (length(title) <= 300),
    description  text CHECK (length(description) <= 1000),
    site_name    text CHECK (length(site_name) <= 200),
    image_url    text CHECK (length(image_url) <= 2048),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, seq),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
);

-- Work done by worker processes off the request path (docs/files.md): an
-- image's variants ('image', file_id), a message's link preview ('preview',
-- room_id and seq, url). Claimed with FOR UPDATE SKIP LOCKED like bot_jobs,
-- retried with backoff, given up after a few attempts. NOTIFY work_jobs, '<kind>'
-- wakes the workers.
CREATE TABLE work_jobs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('image', 'preview')),
    file_id        bigint REFERENCES files (id) ON DELETE CASCADE,
    room_id        bigint,
    seq            bigint,
    url            text,
    state          text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'done', 'failed')),
    attempts       integer NOT NULL DEFAULT 0,
    run_after      timestamptz NOT NULL DEFAULT now(),
    claimed_until  timestamptz,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE,
    CHECK ((kind = 'image') = (file_id IS NOT NULL)),
    CHECK ((kind = 'preview') = (seq IS NOT NULL AND url IS NOT NULL))
);
CREATE INDEX work_jobs_pending ON work_jobs (kind, id) WHERE state = 'pending';

-- An avatar is a file of its owner's (an image, never attached to a message).
ALTER TABLE users ADD COLUMN avatar_file_id bigint REFERENCES files (id) ON DELETE SET NULL;

-- Events about a message's attachments and its preview (target_seq the message):
--   files           its files changed (an image's variants are ready): content ''
--   preview         its link preview arrived (the link_previews row)
--   preview_remove  its author removed the preview
ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check
    CHECK (kind IN ('chat', 'action', 'edit', 'delete', 'reaction_add', 'reaction_remove',
                    'join', 'leave', 'add', 'remove', 'rename',
                    'files', 'preview', 'preview_remove'));
ALTER TABLE messages DROP CONSTRAINT messages_event_has_target;
ALTER TABLE messages ADD CONSTRAINT messages_event_has_target
    CHECK ((kind IN ('edit', 'delete', 'reaction_add', 'reaction_remove',
                     'files', 'preview', 'preview_remove')) = (target_seq IS NOT NULL));

-- Search matches file names: a message's files' names join its searchable
-- text (chat/storage/search.py reads them through this index).
CREATE INDEX files_name_search ON files USING gin (to_tsvector('simple', name))
    WHERE seq IS NOT NULL;
