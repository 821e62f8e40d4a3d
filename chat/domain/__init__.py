"""The domain: plain Python rules about text, rendering, mentions, reactions,
passwords and accounts. Imports nothing of the web, the database or the bus."""
