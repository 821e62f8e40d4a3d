"""Rooms and their members: creation, invitations, removal, direct rooms, reads."""

from psycopg import Connection

from chat.actions.channels import publish_control
from chat.domain.entities import Room, User
from chat.domain.errors import ChatError
from chat.storage import bus, queries

SQL_INSERT_ROOM = """
    INSERT INTO rooms (name, is_private, created_by) VALUES (%s, %s, %s)
    ON CONFLICT (name) DO NOTHING
    RETURNING id, name, is_private, is_direct, created_by, last_seq
"""
SQL_INSERT_MEMBER = """
    INSERT INTO room_members (room_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING
"""


def create_room(conn: Connection, name: str, user_id: int, is_private: bool = False) -> Room:
    """Create a room with its creator (a user id) as first member; the new Room.
    ChatError('taken') if it exists."""
    row = conn.execute(SQL_INSERT_ROOM, (name, is_private, user_id)).fetchone()
    if row is None:
        raise ChatError("taken", f"a room named {name!r} already exists")
    conn.execute(SQL_INSERT_MEMBER, (row["id"], user_id))
    return Room.from_row(row)


SQL_ADD_MEMBER = """
    INSERT INTO room_members (room_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING
    RETURNING user_id
"""
SQL_INSERT_DIRECT = """
    INSERT INTO rooms (name, is_private, is_direct, created_by) VALUES (%s, true, true, %s)
    ON CONFLICT (name) DO NOTHING
    RETURNING id
"""


def invite(conn: Connection, room: Room, username: str) -> str:
    """Add a user to a private room (the inviter's membership is checked by the
    caller); the username as registered."""
    if room.is_direct:
        raise ChatError("forbidden", "a direct conversation has exactly two people")
    if not room.is_private:
        raise ChatError("forbidden", "public rooms need no invitation")
    user = queries.user_by_name(conn, username)
    if user is None:
        raise ChatError("not_found", f"no user named {username!r}")
    if conn.execute(SQL_ADD_MEMBER, (room.id, user.id)).fetchone() is None:
        raise ChatError("taken", f"{user.username} is already a member")
    return user.username


SQL_REMOVE_MEMBER = "DELETE FROM room_members WHERE room_id = %s AND user_id = %s RETURNING user_id"


def remove_member(conn: Connection, room: Room, remover: User, username: str) -> str:
    """Take someone out of a private room: themselves, or anyone if the remover
    made it; the removed username as registered.

    Their sockets in the room close at once, on every worker.
    """
    if not room.is_private or room.is_direct:
        raise ChatError("forbidden", "only private rooms have members to remove")
    user = queries.user_by_name(conn, username)
    if user is None:
        raise ChatError("not_found", f"no user named {username!r}")
    if user.id != remover.id and room.created_by != remover.id:
        raise ChatError("forbidden", "only the room's creator can remove others")
    if conn.execute(SQL_REMOVE_MEMBER, (room.id, user.id)).fetchone() is None:
        raise ChatError("not_found", f"{user.username} is not a member")
    publish_control(conn, bus.REVOKE_MEMBER, f"{room.id}:{user.id}")
    return user.username


def direct_room_name(user_id: int, other_id: int) -> str:
    low, high = sorted((user_id, other_id))
    return f"dm-{low}-{high}"


def open_direct(conn: Connection, user: User, username: str) -> str:
    """The direct room of user and username, created on first use; returns its name."""
    other = queries.user_by_name(conn, username)
    if other is None:
        raise ChatError("not_found", f"no user named {username!r}")
    if other.id == user.id:
        raise ChatError("forbidden", "start a conversation with someone else")
    name = direct_room_name(user.id, other.id)
    row = conn.execute(SQL_INSERT_DIRECT, (name, user.id)).fetchone()
    if row is not None:
        for member in (user.id, other.id):
            conn.execute(SQL_ADD_MEMBER, (row["id"], member))
    return name


SQL_JOIN_ROOM = """
    INSERT INTO room_members (room_id, user_id, last_read_seq)
    SELECT id, %(user_id)s, last_seq FROM rooms WHERE id = %(room_id)s
    ON CONFLICT (room_id, user_id) DO NOTHING
"""
# Monotonic, and never past the room's end: an old or bogus seq cannot move it.
# Only a member's row moves: recording what someone has read never makes them
# a member (a person watching a public room has no row, and gets none here).
SQL_MARK_READ = """
    UPDATE room_members m
    SET last_read_seq = GREATEST(m.last_read_seq, LEAST(%(seq)s, r.last_seq))
    FROM rooms r
    WHERE m.room_id = %(room_id)s AND m.user_id = %(user_id)s AND r.id = m.room_id
    RETURNING m.last_read_seq
"""


def join_room(conn: Connection, room_id: int, user_id: int) -> None:
    """Make the user a member (idempotent); a new member starts with everything read."""
    conn.execute(SQL_JOIN_ROOM, {"room_id": room_id, "user_id": user_id})


def mark_read(conn: Connection, room_id: int, user_id: int, seq: int) -> int | None:
    """Record that a member has seen the room up to seq; returns the stored read
    seq, or None (nothing recorded) if the user is not a member of the room."""
    row = conn.execute(
        SQL_MARK_READ, {"room_id": room_id, "user_id": user_id, "seq": seq}
    ).fetchone()
    return row["last_read_seq"] if row else None
