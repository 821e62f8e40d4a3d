-- Messages keep their rendered, sanitised HTML (rendered once, at send), and
-- rooms can be direct conversations between two people.

ALTER TABLE messages ADD COLUMN html text;  -- NULL for rows stored before this: rendered on read
ALTER TABLE rooms ADD COLUMN is_direct boolean NOT NULL DEFAULT false;
-- A direct room is always private: only its two members see it.
ALTER TABLE rooms ADD CONSTRAINT rooms_direct_is_private CHECK (NOT is_direct OR is_private);
-- The dm- prefix belongs to direct rooms, so nobody can take a conversation's name first.
ALTER TABLE rooms ADD CONSTRAINT rooms_dm_prefix_is_direct CHECK ((name LIKE 'dm-%') = is_direct);
