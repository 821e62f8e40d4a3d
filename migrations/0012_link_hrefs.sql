-- A message's links point only to absolute http, https and mailto URLs (issue 14).
--
-- chat/render.py now refuses every other link destination: relative ones
-- (`/logout`, `@bob`), protocol-relative ones (`//evil.example`, another
-- site under this one's name) and schemes without "//" (`http:evil`) as well
-- as the other schemes. The html stored before (messages and edit events
-- carry it, message_versions keeps the earlier ones) was rendered with only
-- nh3's scheme filter, which lets a URL without a scheme through. This takes
-- such an href out of it, as the sanitiser's last check (render.py
-- `_keep_attribute`) now does: the <a> stays, without a destination, and its
-- text reads as before. Allowed hrefs are left as they are (an upper-case
-- scheme included: browsers read it the same).
--
-- nh3 wrote every stored link as <a href="..." rel="noopener noreferrer">
-- (double quotes, the href escaped), so one pattern finds them. Its
-- lookahead is render.py's _LINK_HREF: http or https with "//" and a host
-- character after it, or mailto with something after the colon.

UPDATE messages
SET html = regexp_replace(
    html, '<a href="(?!https?://[^/\\?#\s"]|mailto:[^\s"])[^"]*"', '<a', 'gi'
)
WHERE html ~* '<a href="(?!https?://[^/\\?#\s"]|mailto:[^\s"])';

UPDATE message_versions
SET html = regexp_replace(
    html, '<a href="(?!https?://[^/\\?#\s"]|mailto:[^\s"])[^"]*"', '<a', 'gi'
)
WHERE html ~* '<a href="(?!https?://[^/\\?#\s"]|mailto:[^\s"])';
