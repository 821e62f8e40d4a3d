"""Accounts, API tokens, login sessions and login throttling."""

import hashlib
import secrets

from psycopg import Connection

from chat.actions.channels import publish_control
from chat.domain import passwords
from chat.domain.entities import User
from chat.domain.errors import ChatError
from chat.domain.users import RESERVED_USERNAMES
from chat.storage import bus

SQL_INSERT_USER = """
    INSERT INTO users (username, password_hash) VALUES (%s, %s)
    ON CONFLICT DO NOTHING
    RETURNING id, username
"""
SQL_INSERT_TOKEN = "INSERT INTO api_tokens (user_id, token_hash) VALUES (%s, %s)"


def create_user(conn: Connection, username: str, password: str) -> User:
    """Create an account; the new User. ChatError('taken') if the name is in use
    (any case) or belongs to a bot."""
    if username.lower() in RESERVED_USERNAMES:
        raise ChatError("taken", f"the username {username!r} is taken")
    password_hash = passwords.hash_password(password)
    row = conn.execute(SQL_INSERT_USER, (username, password_hash)).fetchone()
    if row is None:
        raise ChatError("taken", f"the username {username!r} is taken")
    return User.from_row(row)


def hash_token(token: str) -> bytes:
    """Tokens are 256-bit random strings, so a plain SHA-256 is a safe lookup key."""
    return hashlib.sha256(token.encode()).digest()


def create_token(conn: Connection, user_id: int) -> str:
    """A new personal API token for the user; only its hash is stored."""
    token = "chat_" + secrets.token_urlsafe(32)
    conn.execute(SQL_INSERT_TOKEN, (user_id, hash_token(token)))
    return token


# One statement: the owner is found and the token's last use noted together.
SQL_USE_TOKEN = """
    UPDATE api_tokens t SET last_used_at = now()
    FROM users u
    WHERE t.token_hash = %s AND u.id = t.user_id AND u.disabled_at IS NULL
    RETURNING u.id, u.username
"""


def use_token(conn: Connection, token_hash: bytes) -> User | None:
    """The API token's (enabled) owner, recording the use; None for an unknown token."""
    row = conn.execute(SQL_USE_TOKEN, (token_hash,)).fetchone()
    return User.from_row(row) if row else None


SQL_INSERT_SESSION = "INSERT INTO user_sessions (token_hash, user_id) VALUES (%s, %s)"
SQL_DELETE_SESSION = "DELETE FROM user_sessions WHERE token_hash = %s"
SQL_DELETE_SESSIONS = "DELETE FROM user_sessions WHERE user_id = %s"
SQL_SET_PASSWORD = "UPDATE users SET password_hash = %s WHERE id = %s"
SQL_DISABLE_USER = "UPDATE users SET disabled_at = now() WHERE id = %s AND disabled_at IS NULL"


def start_session(conn: Connection, user_id: int) -> str:
    """A new login session; the returned token goes in the (signed) session cookie."""
    token = secrets.token_urlsafe(32)
    conn.execute(SQL_INSERT_SESSION, (hash_token(token), user_id))
    return token


def end_session(conn: Connection, token: str) -> None:
    """Log one session out: its cookie stops working and its sockets close, everywhere."""
    token_hash = hash_token(token)
    conn.execute(SQL_DELETE_SESSION, (token_hash,))
    publish_control(conn, bus.REVOKE_SESSION, token_hash.hex())


def set_password(conn: Connection, user_id: int, password: str) -> None:
    """Change a password; every login session of the user ends (API tokens stay)."""
    conn.execute(SQL_SET_PASSWORD, (passwords.hash_password(password), user_id))
    conn.execute(SQL_DELETE_SESSIONS, (user_id,))
    publish_control(conn, bus.REVOKE_SESSIONS, str(user_id))


def disable_user(conn: Connection, user_id: int) -> None:
    """Lock an account out: sessions and tokens stop working, every socket closes."""
    conn.execute(SQL_DISABLE_USER, (user_id,))
    conn.execute(SQL_DELETE_SESSIONS, (user_id,))
    publish_control(conn, bus.REVOKE_USER, str(user_id))


# A key's window restarts when the old one has passed; within it, failures add up.
SQL_LOGIN_FAILED = """
    INSERT INTO login_failures AS f (key, window_start, failures) VALUES (%(key)s, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN f.window_start > now() - make_interval(secs => %(window)s)
                        THEN f.failures + 1 ELSE 1 END,
        window_start = CASE WHEN f.window_start > now() - make_interval(secs => %(window)s)
                            THEN f.window_start ELSE now() END
"""
SQL_LOGIN_SUCCEEDED = "DELETE FROM login_failures WHERE key = %s"


def login_failed(conn: Connection, keys: list[str], window: int) -> None:
    for key in keys:
        conn.execute(SQL_LOGIN_FAILED, {"key": key, "window": window})


def login_succeeded(conn: Connection, key: str) -> None:
    conn.execute(SQL_LOGIN_SUCCEEDED, (key,))
