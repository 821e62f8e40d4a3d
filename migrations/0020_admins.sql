-- Administrators: a flag set by an operator (`flask --app app promote <user>`),
-- for moderation features to come; nothing reads it yet.
ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;
