"""The NOTIFY channels every worker listens on, and ephemeral announcements.

Anything sent with SQL_NOTIFY inside a transaction leaves at commit, so no
worker hears of a change that could still roll back.
"""

from psycopg import Connection

# Every worker LISTENs on these channels and picks out the rooms it serves:
# CHANNEL carries stored messages ('<room_id> <seq>[ <frame>]'), EVENTS_CHANNEL
# ephemeral frames that are never stored ('<room_id> <skip_user_id> <frame>...').
CHANNEL = "chat"
EVENTS_CHANNEL = "chat_events"
# Revocations every worker must act on at once ('<kind> <key>', see revoke_*).
CONTROL_CHANNEL = "chat_control"
# A line in an events payload meaning "send this room's online_users, read
# from the table": used when the list itself would not fit in a NOTIFY.
ONLINE_USERS_REF = "?"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more (and with it the
# whole transaction); a longer frame is announced by reference instead.
NOTIFY_PAYLOAD_MAX = 7999
SQL_NOTIFY = "SELECT pg_notify(%s, %s)"


def events_payload(room_id: int, skip_user_id: int, frames: list[str]) -> str:
    return f"{room_id} {skip_user_id} " + "\n".join(frames)


def announce(conn: Connection, room_id: int, frames: list[str], skip_user_id: int = 0) -> None:
    """Send ephemeral frames to the room's clients on every worker (never stored).

    skip_user_id's own connections do not get them (someone's own typing).
    """
    conn.execute(SQL_NOTIFY, (EVENTS_CHANNEL, events_payload(room_id, skip_user_id, frames)))
