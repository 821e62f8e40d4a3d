"""Accounts, API tokens, login sessions and login throttling."""

import hashlib
import secrets
from dataclasses import dataclass

from psycopg import Connection

from chat.actions.channels import publish_control, publish_user
from chat.domain import passwords
from chat.domain.entities import ApiToken, User
from chat.domain.errors import ChatError
from chat.domain.users import RESERVED_USERNAMES
from chat.protocol import outbound
from chat.storage import bus

SQL_INSERT_USER = """
    INSERT INTO users (username, password_hash) VALUES (%s, %s)
    ON CONFLICT DO NOTHING
    RETURNING id, username
"""


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


# A person needs a handful (a bot, a script, a laptop); the cap keeps a runaway
# script from filling the table. Counted in the inserting statement without a
# lock: two creations racing may pass it by one each, which is harmless.
MAX_TOKENS_PER_USER = 50

SQL_INSERT_TOKEN = """
    INSERT INTO api_tokens (user_id, token_hash, name)
    SELECT %(user_id)s, %(token_hash)s, %(name)s
    WHERE (SELECT count(*) FROM api_tokens WHERE user_id = %(user_id)s) < %(max)s
    RETURNING id, name, created_at, last_used_at
"""
SQL_DELETE_TOKEN = """
    DELETE FROM api_tokens WHERE id = %s AND user_id = %s
    RETURNING id, name, created_at, last_used_at, token_hash
"""


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just made: `token` is the secret, to be shown to its owner once
    (only its hash is kept); `listing` is how it is listed from now on."""

    token: str
    listing: ApiToken


def new_token(conn: Connection, user_id: int, name: str | None = None) -> NewToken:
    """A new personal API token for the user (the one way tokens are made: the
    settings page, the JSON API and `flask create-token`). `name` must already
    be valid (validate.validate_token_name). ChatError('too_many_tokens') when
    the user has MAX_TOKENS_PER_USER already."""
    token = "chat_" + secrets.token_urlsafe(32)
    params = {
        "user_id": user_id,
        "token_hash": hash_token(token),
        "name": name,
        "max": MAX_TOKENS_PER_USER,
    }
    row = conn.execute(SQL_INSERT_TOKEN, params).fetchone()
    if row is None:
        raise ChatError(
            "too_many_tokens",
            f"You have {MAX_TOKENS_PER_USER} API tokens, the most one person may have: "
            "revoke one you no longer use first.",
        )
    return NewToken(token, ApiToken.from_row(row))


def create_token(conn: Connection, user_id: int, name: str | None = None) -> str:
    """new_token's secret alone (the CLI, tests and benchmarks need nothing else)."""
    return new_token(conn, user_id, name).token


def revoke_token(conn: Connection, user_id: int, token_id: int) -> ApiToken:
    """Delete one of the user's API tokens, so that requests carrying it are
    refused from now on and sockets opened with it close (1008, on every
    worker, when the caller's transaction commits); the token as it was
    listed. ChatError('not_found')
    when the user has no token with that id (someone else's token answers the
    same: no probing of ids)."""
    row = conn.execute(SQL_DELETE_TOKEN, (token_id, user_id)).fetchone()
    if row is None:
        raise ChatError("not_found", "You have no API token with that id.")
    publish_control(conn, bus.REVOKE_TOKEN, row["token_hash"].hex())
    return ApiToken.from_row(row)


# How stale a token's last_used_at may get before a use writes it again: the
# settings page shows it to the minute, and a script that opens a socket a
# second (or a connect storm) should not write a row each time.
TOKEN_USED_EVERY = 60

# One statement: the owner is found and a stale last use moved on together
# (the UPDATE writes nothing while it is fresh, so a lookup is a read).
SQL_USE_TOKEN = """
    WITH used AS (
        UPDATE api_tokens SET last_used_at = now()
        WHERE token_hash = %(token_hash)s
          AND (last_used_at IS NULL
               OR last_used_at < now() - make_interval(secs => %(every)s))
    )
    SELECT u.id, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = %(token_hash)s AND u.disabled_at IS NULL
"""


def use_token(conn: Connection, token_hash: bytes) -> User | None:
    """The API token's (enabled) owner, noting its use (to the minute); None for
    an unknown token. One statement: run it in autocommit (db.reading) and it
    is one round trip."""
    params = {"token_hash": token_hash, "every": TOKEN_USED_EVERY}
    row = conn.execute(SQL_USE_TOKEN, params).fetchone()
    return User.from_row(row) if row else None


SQL_INSERT_SESSION = """
    INSERT INTO user_sessions (token_hash, user_id, user_agent) VALUES (%s, %s, %s)
"""
SQL_DELETE_SESSION = "DELETE FROM user_sessions WHERE token_hash = %s"
SQL_DELETE_OTHER_SESSION = """
    DELETE FROM user_sessions
    WHERE id = %(id)s AND user_id = %(user_id)s AND token_hash IS DISTINCT FROM %(keep)s
    RETURNING token_hash
"""
SQL_DELETE_SESSIONS = "DELETE FROM user_sessions WHERE user_id = %s"
SQL_SET_PASSWORD = "UPDATE users SET password_hash = %s WHERE id = %s"
SQL_DISABLE_USER = "UPDATE users SET disabled_at = now() WHERE id = %s AND disabled_at IS NULL"
SQL_SET_DISPLAY_NAME = "UPDATE users SET display_name = %s WHERE id = %s RETURNING username"

# How stale a session's last_seen_at may get before a request writes it again:
# "last active" on the settings page is read to the minute, and one write a
# minute per session (not one per request) keeps page loads read-only.
SESSION_SEEN_EVERY = 60

# One statement: the owner is found and a stale last_seen_at moved on together
# (the UPDATE writes nothing while it is fresh).
SQL_USE_SESSION = """
    WITH seen AS (
        UPDATE user_sessions SET last_seen_at = now()
        WHERE token_hash = %(token_hash)s
          AND last_seen_at < now() - make_interval(secs => %(every)s)
    )
    SELECT u.id, u.username FROM user_sessions s JOIN users u ON u.id = s.user_id
    WHERE s.token_hash = %(token_hash)s AND u.disabled_at IS NULL
"""


def start_session(conn: Connection, user_id: int, user_agent: str | None = None) -> str:
    """A new login session; the returned token goes in the (signed) session cookie.
    `user_agent` (users.clean_user_agent's) tells it apart on the settings page."""
    token = secrets.token_urlsafe(32)
    conn.execute(SQL_INSERT_SESSION, (hash_token(token), user_id, user_agent))
    return token


def use_session(conn: Connection, token_hash: bytes) -> User | None:
    """The (enabled) user of a live login session, noting its use (to the minute);
    None once the session is revoked."""
    params = {"token_hash": token_hash, "every": SESSION_SEEN_EVERY}
    row = conn.execute(SQL_USE_SESSION, params).fetchone()
    return User.from_row(row) if row else None


def end_session(conn: Connection, token: str) -> None:
    """Log one session out: its cookie stops working and its sockets close, everywhere."""
    token_hash = hash_token(token)
    conn.execute(SQL_DELETE_SESSION, (token_hash,))
    publish_control(conn, bus.REVOKE_SESSION, token_hash.hex())


def end_other_session(conn: Connection, user_id: int, session_id: int, keep: bytes | None) -> None:
    """Log out one of the user's sessions by its id, from another one (`keep`, the
    hash of the session asking, which this never ends; None when the request came
    with an API token): its cookie stops working
    and its sockets close on every worker. ChatError('not_found') when the user
    has no other session with that id."""
    params = {"id": session_id, "user_id": user_id, "keep": keep}
    row = conn.execute(SQL_DELETE_OTHER_SESSION, params).fetchone()
    if row is None:
        raise ChatError("not_found", "You have no other session with that id.")
    publish_control(conn, bus.REVOKE_SESSION, row["token_hash"].hex())


SQL_DELETE_TOKENS = "DELETE FROM api_tokens WHERE user_id = %s RETURNING token_hash"
SQL_SET_ADMIN = "UPDATE users SET is_admin = %s WHERE id = %s AND is_admin <> %s"


def end_sessions(conn: Connection, user_id: int) -> int:
    """Log out every login session of the user (an operator's command): their
    cookies stop working and their sockets close on every worker, when the
    caller's transaction commits. How many there were."""
    ended = conn.execute(SQL_DELETE_SESSIONS, (user_id,)).rowcount
    publish_control(conn, bus.REVOKE_SESSIONS, str(user_id))
    return ended


def revoke_tokens(conn: Connection, user_id: int) -> int:
    """Delete every API token of the user (an operator's command), as revoke_token
    does one; how many there were."""
    hashes = [row["token_hash"] for row in conn.execute(SQL_DELETE_TOKENS, (user_id,))]
    for token_hash in hashes:
        publish_control(conn, bus.REVOKE_TOKEN, token_hash.hex())
    return len(hashes)


def set_admin(conn: Connection, user_id: int, is_admin: bool) -> bool:
    """Make the user an administrator or not; whether that changed anything."""
    return conn.execute(SQL_SET_ADMIN, (is_admin, user_id, is_admin)).rowcount == 1


def set_password(conn: Connection, user_id: int, password: str) -> None:
    """Change a password; every login session of the user ends (API tokens stay)."""
    conn.execute(SQL_SET_PASSWORD, (passwords.hash_password(password), user_id))
    conn.execute(SQL_DELETE_SESSIONS, (user_id,))
    publish_control(conn, bus.REVOKE_SESSIONS, str(user_id))


def change_password(
    conn: Connection, user_id: int, password: str, user_agent: str | None = None
) -> str:
    """A person changes their own password (the current one already checked):
    set_password, so every login session ends and its sockets close, then a new
    session for the browser that asked, whose token is returned. A fresh token
    rather than keeping the old one: a copy of the old cookie, wherever it
    went, stops working too."""
    set_password(conn, user_id, password)
    return start_session(conn, user_id, user_agent)


def set_display_name(conn: Connection, user_id: int, display_name: str | None) -> None:
    """Set (validate.validate_display_name's) or, with None, remove the user's
    display name, and tell the user's sockets (a `profile` frame on their
    channel, sent at commit: call inside the transaction)."""
    row = conn.execute(SQL_SET_DISPLAY_NAME, (display_name, user_id)).fetchone()
    if row is not None:
        publish_user(conn, user_id, outbound.profile_frame(row["username"], display_name))


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
