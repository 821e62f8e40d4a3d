"""Real time, per gunicorn worker: the LISTEN loop (hub), the feeds and catch-up
of rooms, client sessions and their peers, presence, and the batch writer."""
