"""Every change of state, and its announcement, happens here and only here.

A message is stored and announced in one transaction: NOTIFY is delivered
only at commit, so no worker hears of a message that could still roll back,
and notifications leave in commit order, which is seq order within a room.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection, Rollback

from . import passwords, protocol

# Every worker LISTENs on this one channel and picks out the rooms it serves.
CHANNEL = "chat"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more (and with it the
# whole transaction); a longer frame is announced by reference instead.
NOTIFY_PAYLOAD_MAX = 7999


class ActionError(Exception):
    """A refused change; `code` is the stable error code clients see."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Sent:
    """The outcome of a send: the message's seq, and whether it was a repeat."""

    seq: int
    created_at: datetime
    duplicate: bool


SQL_INSERT_USER = """
    INSERT INTO users (username, password_hash) VALUES (%s, %s)
    ON CONFLICT DO NOTHING
    RETURNING id
"""
SQL_INSERT_TOKEN = "INSERT INTO api_tokens (user_id, token_hash) VALUES (%s, %s)"
SQL_INSERT_ROOM = """
    INSERT INTO rooms (name, is_private, created_by) VALUES (%s, %s, %s)
    ON CONFLICT (name) DO NOTHING
    RETURNING id
"""
SQL_INSERT_MEMBER = """
    INSERT INTO room_members (room_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING
"""
# Taking the room row's lock first serialises the room's writers: the seq
# bump below and the client_id check after it see every earlier send.
SQL_NEXT_SEQ = "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq"
SQL_PREVIOUS_SEND = """
    SELECT seq, created_at FROM messages
    WHERE room_id = %s AND user_id = %s AND client_id = %s
"""
SQL_INSERT_MESSAGE = """
    INSERT INTO messages (room_id, seq, user_id, content, client_id)
    VALUES (%s, %s, %s, %s, %s)
    RETURNING created_at
"""
SQL_NOTIFY = "SELECT pg_notify(%s, %s)"


def create_user(conn: Connection, username: str, password: str) -> int:
    """Create an account; ActionError('taken') if the name is in use (any case)."""
    password_hash = passwords.hash_password(password)
    row = conn.execute(SQL_INSERT_USER, (username, password_hash)).fetchone()
    if row is None:
        raise ActionError("taken", f"the username {username!r} is taken")
    return row["id"]


def hash_token(token: str) -> bytes:
    """Tokens are 256-bit random strings, so a plain SHA-256 is a safe lookup key."""
    return hashlib.sha256(token.encode()).digest()


def create_token(conn: Connection, user_id: int) -> str:
    """A new personal API token for the user; only its hash is stored."""
    token = "chat_" + secrets.token_urlsafe(32)
    conn.execute(SQL_INSERT_TOKEN, (user_id, hash_token(token)))
    return token


def create_room(conn: Connection, name: str, user_id: int, is_private: bool = False) -> int:
    """Create a room with its creator as first member; ActionError('taken') if it exists."""
    row = conn.execute(SQL_INSERT_ROOM, (name, is_private, user_id)).fetchone()
    if row is None:
        raise ActionError("taken", f"a room named {name!r} already exists")
    conn.execute(SQL_INSERT_MEMBER, (row["id"], user_id))
    return row["id"]


def send_message(
    conn: Connection,
    room: dict,
    user: dict,
    content: str,
    client_id: str | None,
) -> Sent:
    """Store one message with the room's next seq and announce it, in one transaction.

    A repeated client_id for the same user and room returns the first send's
    seq and changes nothing: the seq bump is rolled back with the transaction.
    """
    repeat = None
    with conn.transaction():
        seq = conn.execute(SQL_NEXT_SEQ, (room["id"],)).fetchone()["last_seq"]
        if client_id is not None:
            previous = conn.execute(
                SQL_PREVIOUS_SEND, (room["id"], user["id"], client_id)
            ).fetchone()
            if previous is not None:
                repeat = Sent(previous["seq"], previous["created_at"], duplicate=True)
                raise Rollback()
        created_at = conn.execute(
            SQL_INSERT_MESSAGE, (room["id"], seq, user["id"], content, client_id)
        ).fetchone()["created_at"]
        frame = protocol.chat_frame(
            room["name"], seq, user["username"], content, created_at, client_id
        )
        conn.execute(SQL_NOTIFY, (CHANNEL, notify_payload(room["id"], seq, frame)))
    return repeat or Sent(seq, created_at, duplicate=False)


def notify_payload(room_id: int, seq: int, frame: str) -> str:
    """'<room_id> <seq> <frame>', or just '<room_id> <seq>' when the frame is too big.

    Listeners fetch a referenced message from the table, so size never loses one.
    """
    payload = f"{room_id} {seq} {frame}"
    if len(payload.encode()) > NOTIFY_PAYLOAD_MAX:
        return f"{room_id} {seq}"
    return payload
