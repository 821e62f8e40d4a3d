-- Search by file name (docs/files.md): PostgreSQL's parser reads
-- 'quarterly-report.pdf' as one token, so a search for "quarterly" missed it.
-- A file name's words are its whole name and its parts split at '-', '_' and
-- '.'; chat/storage/search.py asks this same function, so the index applies.
CREATE FUNCTION file_name_vector(name text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN to_tsvector('simple'::regconfig, name)
        || to_tsvector('simple'::regconfig, translate(name, '-_.', '   '));

DROP INDEX files_name_search;
CREATE INDEX files_name_search ON files USING gin (file_name_vector(name))
    WHERE seq IS NOT NULL;
