"""Rooms and their members (DESIGN §9): creation, joining and leaving, adding
and removing people, direct rooms, read state and mute.

A change of membership is an event in the room's gapless sequence (a messages
row of a kind in chat/domain/kinds.py MEMBER_KINDS, announced on the bus like
any row), and it reaches the person it concerns on every socket of theirs
through the per-user channel (bus.USER_CHANNEL): `room_added` with the room as
their sidebar lists it, `room_removed`, `read`, `room_updated`. Each function
here is one transaction; inside a caller's it is a savepoint.
"""

from psycopg import Connection, errors

from chat.actions.channels import publish_control, publish_stored, publish_user
from chat.domain import kinds
from chat.domain.entities import Room, User
from chat.domain.errors import ChatError
from chat.domain.validate import validate_room_name, validate_topic
from chat.protocol import outbound
from chat.storage import bus, queries

# A name a room had before a rename stays that room's (migration 0016): a new
# room may not take it, so old links never lead somewhere else.
SQL_INSERT_ROOM = """
    INSERT INTO rooms (name, is_private, created_by)
    SELECT %(name)s, %(private)s, %(user_id)s
    WHERE NOT EXISTS (SELECT 1 FROM room_aliases WHERE name = %(name)s)
    ON CONFLICT (name) DO NOTHING
    RETURNING id, name, is_private, is_direct, created_by, last_seq, topic, archived_at
"""
# A new member has read everything up to `last_read_seq` (the event that made
# them one, or the room's end): what came before is not news to them.
SQL_ADD_MEMBER = """
    INSERT INTO room_members (room_id, user_id, last_read_seq) VALUES (%s, %s, %s)
    ON CONFLICT DO NOTHING
    RETURNING user_id
"""
SQL_IS_MEMBER = "SELECT 1 FROM room_members WHERE room_id = %s AND user_id = %s FOR UPDATE"
SQL_INSERT_DIRECT = """
    INSERT INTO rooms (name, is_private, is_direct, created_by) VALUES (%s, true, true, %s)
    ON CONFLICT (name) DO NOTHING
    RETURNING id, name, is_private, is_direct, created_by, last_seq
"""
SQL_REMOVE_MEMBER = "DELETE FROM room_members WHERE room_id = %s AND user_id = %s RETURNING user_id"
# The room's next seq under its row lock (serialised with every send and event
# of the room), and whether it is archived as of that lock.
SQL_NEXT_SEQ = """
    UPDATE rooms SET last_seq = last_seq + 1 WHERE id = %s
    RETURNING last_seq, archived_at IS NOT NULL AS archived, name
"""
SQL_INSERT_MEMBER_EVENT = """
    INSERT INTO messages (room_id, seq, user_id, content, kind) VALUES (%s, %s, %s, %s, %s)
    RETURNING created_at
"""
SQL_MEMBER_IDS = "SELECT user_id FROM room_members WHERE room_id = %s"
SQL_SET_MUTED = """
    UPDATE room_members SET muted = %s WHERE room_id = %s AND user_id = %s RETURNING user_id
"""
SQL_SET_TOPIC = "UPDATE rooms SET topic = %s WHERE id = %s"
SQL_SET_ARCHIVED = """
    UPDATE rooms SET archived_at = CASE WHEN %s THEN coalesce(archived_at, now()) END WHERE id = %s
"""
# Monotonic, and never past the room's end: an old or bogus seq cannot move it.
# Only a member's row moves: recording what someone has read never makes them
# a member (a person watching a public room has no row, and gets none here).
SQL_MARK_READ = """
    UPDATE room_members m
    SET last_read_seq = GREATEST(m.last_read_seq, LEAST(%(seq)s, r.last_seq))
    FROM rooms r, (
        SELECT last_read_seq FROM room_members
        WHERE room_id = %(room_id)s AND user_id = %(user_id)s FOR UPDATE
    ) old
    WHERE m.room_id = %(room_id)s AND m.user_id = %(user_id)s AND r.id = m.room_id
    RETURNING m.last_read_seq, m.last_read_seq <> old.last_read_seq AS moved
"""


def member_event(conn: Connection, room: Room, actor: User, kind: str, member: str = "") -> int:
    """Store a membership event (kinds.MEMBER_KINDS) or a rename (content
    '<old> <new>' in `member`) with the room's next seq and announce it; its
    seq. `member` names whom an add or remove concerns.
    ChatError('forbidden') for a join or an add in an archived room (leaving
    one stays possible). Inside the caller's transaction, which holds the
    room's row lock from here to its commit."""
    row = conn.execute(SQL_NEXT_SEQ, (room.id,)).fetchone()
    if row["archived"] and kind in (kinds.KIND_JOIN, kinds.KIND_ADD):
        raise ChatError("forbidden", f"#{room.name} is archived")
    seq = row["last_seq"]
    content = member if kind in (kinds.KIND_ADD, kinds.KIND_REMOVE, kinds.KIND_RENAME) else ""
    inserted = conn.execute(SQL_INSERT_MEMBER_EVENT, (room.id, seq, actor.id, content, kind))
    created_at = inserted.fetchone()["created_at"]
    # Under the name as of the lock (a rename may have come after `room` was read).
    if kind == kinds.KIND_RENAME:
        previous, _, name = content.partition(" ")
        frame = outbound.renamed_message(
            row["name"], seq, actor.username, previous, name, created_at
        )
    else:
        frame = outbound.member_message(row["name"], seq, kind, actor.username, content, created_at)
    publish_stored(conn, [bus.Stored(room.id, seq, outbound.encode(frame), bus.now_ms())])
    return seq


def tell_added(conn: Connection, room: Room, user_id: int) -> None:
    """Send the user's sockets the room as their sidebar now lists it (room_added)."""
    listing = queries.member_room(conn, user_id, room.id)
    if listing is not None:
        publish_user(conn, user_id, outbound.room_added_frame(listing))


def create_room(conn: Connection, name: str, user_id: int, is_private: bool = False) -> Room:
    """Create a room with its creator (a user id) as first member; the new Room.
    ChatError('taken') if a room has that name or had it before a rename.
    Creating is not a join: the room's first seq is its first message."""
    with conn.transaction():
        params = {"name": name, "private": is_private, "user_id": user_id}
        row = conn.execute(SQL_INSERT_ROOM, params).fetchone()
        if row is None:
            raise ChatError("taken", f"the name {name!r} is taken: a room has it, or had it")
        room = Room.from_row(row)
        conn.execute(SQL_ADD_MEMBER, (room.id, user_id, 0))
        tell_added(conn, room, user_id)
    return room


def join(conn: Connection, room: Room, user: User) -> int | None:
    """Make `user` a member of a public room: the join event's seq, or None if
    they already were one (nothing changes). ChatError('forbidden') for a
    private or direct room (those take an invitation) or an archived one."""
    if room.is_private:
        raise ChatError("forbidden", "a private room takes an invitation from a member")
    with conn.transaction():
        if conn.execute(SQL_IS_MEMBER, (room.id, user.id)).fetchone() is not None:
            return None
        seq = member_event(conn, room, user, kinds.KIND_JOIN)
        conn.execute(SQL_ADD_MEMBER, (room.id, user.id, seq))
        tell_added(conn, room, user.id)
    return seq


# Where a new account starts: the room every installation is created with.
FIRST_ROOM = "general"
SQL_FIRST_ROOM = (
    """
    SELECT id, name, is_private, is_direct, created_by, last_seq, topic, archived_at
    FROM rooms WHERE id = """
    + queries.SQL_ROOM_ID_BY_NAME
    + " AND NOT is_private AND archived_at IS NULL"
)


def join_first_room(conn: Connection, user: User) -> None:
    """A person who just registered joins #general (if it is there, public and
    not archived), as a new member of a team's chat expects."""
    row = conn.execute(SQL_FIRST_ROOM, {"name": FIRST_ROOM}).fetchone()
    if row is not None:
        join(conn, Room.from_row(row), user)


def leave(conn: Connection, room: Room, user: User) -> int:
    """Take `user` out of a room (public or private): the leave event's seq.
    ChatError('not_found') if they are not a member, ('forbidden') for a
    direct room (a conversation of two is not left). Their sockets following
    a private room close at once, on every worker."""
    if room.is_direct:
        raise ChatError("forbidden", "a direct conversation cannot be left")
    with conn.transaction():
        if conn.execute(SQL_REMOVE_MEMBER, (room.id, user.id)).fetchone() is None:
            raise ChatError("not_found", f"you are not a member of #{room.name}")
        seq = _leave_event(conn, room, user, user, kinds.KIND_LEAVE)
    return seq


def _leave_event(conn: Connection, room: Room, actor: User, member: User, kind: str) -> int:
    """The event, the member's sidebar and (private rooms) their sockets, once
    their row is gone (inside the caller's transaction)."""
    seq = member_event(conn, room, actor, kind, member.username)
    publish_user(conn, member.id, outbound.room_removed_frame(room.name))
    if room.is_private:
        publish_control(conn, bus.REVOKE_MEMBER, f"{room.id}:{member.id}")
    return seq


def add_member(
    conn: Connection, room: Room, actor: User, username: str, webhook_bot: bool = False
) -> str:
    """A member adds someone to a room (an invitation to a private room; to a
    public one, joining them): the username as registered. ChatError
    ('not_found') for no such user, ('taken') if already a member,
    ('forbidden') for a direct room, an archived room, an actor who is not a
    member, or a bot account: a bot is in the room of its webhook, added by
    its making (`webhook_bot`), and nowhere else (commands' bots answer in any
    room without being members)."""
    if room.is_direct:
        raise ChatError("forbidden", "a direct conversation has exactly two people")
    user = queries.user_by_name(conn, username)
    if user is None:
        raise ChatError("not_found", f"no user named {username!r}")
    if not webhook_bot and queries.is_bot(conn, user.id):
        raise ChatError(
            "forbidden", f"{user.username} is a bot: it is in its own webhook's room only"
        )
    with conn.transaction():
        if conn.execute(SQL_IS_MEMBER, (room.id, actor.id)).fetchone() is None:
            raise ChatError("forbidden", f"only members of #{room.name} can add people")
        if conn.execute(SQL_IS_MEMBER, (room.id, user.id)).fetchone() is not None:
            raise ChatError("taken", f"{user.username} is already a member")
        seq = member_event(conn, room, actor, kinds.KIND_ADD, user.username)
        conn.execute(SQL_ADD_MEMBER, (room.id, user.id, seq))
        tell_added(conn, room, user.id)
    return user.username


def remove_member(conn: Connection, room: Room, remover: User, username: str) -> str:
    """Take someone out of a room: themselves (leave), or anyone if the remover
    made the room; the removed username as registered.

    Their sockets following a private room close at once, on every worker.
    """
    if room.is_direct:
        raise ChatError("forbidden", "a direct conversation has exactly two people")
    user = queries.user_by_name(conn, username)
    if user is None:
        raise ChatError("not_found", f"no user named {username!r}")
    if user.id == remover.id:
        leave(conn, room, user)
        return user.username
    if room.created_by != remover.id:
        raise ChatError("forbidden", "only the room's creator can remove others")
    with conn.transaction():
        if conn.execute(SQL_REMOVE_MEMBER, (room.id, user.id)).fetchone() is None:
            raise ChatError("not_found", f"{user.username} is not a member")
        _leave_event(conn, room, remover, user, kinds.KIND_REMOVE)
    return user.username


def take_out(conn: Connection, room: Room, remover: User, member: User) -> int | None:
    """Take `member` out of the room on `remover`'s word, with no check of who
    may (the caller decided: an incoming webhook's bot when the webhook is
    revoked); the remove event's seq, None if they were not a member. Inside
    the caller's transaction."""
    if conn.execute(SQL_REMOVE_MEMBER, (room.id, member.id)).fetchone() is None:
        return None
    return _leave_event(conn, room, remover, member, kinds.KIND_REMOVE)


def direct_room_name(user_id: int, other_id: int) -> str:
    low, high = sorted((user_id, other_id))
    return f"dm-{low}-{high}"


def open_direct(conn: Connection, user: User, username: str) -> str:
    """The direct room of user and username, created on first use (both are told,
    room_added); returns its name. ChatError('forbidden') with oneself or a bot."""
    other = queries.user_by_name(conn, username)
    if other is None:
        raise ChatError("not_found", f"no user named {username!r}")
    if other.id == user.id:
        raise ChatError("forbidden", "start a conversation with someone else")
    if queries.is_bot(conn, other.id):
        raise ChatError(
            "forbidden", f"{other.username} is a bot: nobody would read the conversation"
        )
    name = direct_room_name(user.id, other.id)
    with conn.transaction():
        row = conn.execute(SQL_INSERT_DIRECT, (name, user.id)).fetchone()
        if row is not None:
            room = Room.from_row(row)
            for member in (user.id, other.id):
                conn.execute(SQL_ADD_MEMBER, (room.id, member, 0))
            for member in (user.id, other.id):
                tell_added(conn, room, member)
    return name


def join_room(conn: Connection, room_id: int, user_id: int) -> None:
    """Make the user a member silently, with everything read (idempotent): for
    tools and tests that set up rooms. People join with `join`, an event."""
    conn.execute(
        "INSERT INTO room_members (room_id, user_id, last_read_seq)"
        " SELECT id, %s, last_seq FROM rooms WHERE id = %s ON CONFLICT DO NOTHING",
        (user_id, room_id),
    )


def mark_read(conn: Connection, room_id: int, user_id: int, seq: int) -> int | None:
    """Record that a member has seen the room up to seq; returns the stored read
    seq, or None (nothing recorded) if the user is not a member of the room.
    When the read seq moved, every socket of the user hears it (`read`, with the
    room's counts as of now), so a badge cleared on one device clears on all."""
    with conn.transaction():
        params = {"room_id": room_id, "user_id": user_id, "seq": seq}
        row = conn.execute(SQL_MARK_READ, params).fetchone()
        if row is None:
            return None
        if row["moved"]:
            listing = queries.member_room(conn, user_id, room_id)
            if listing is not None:
                publish_user(conn, user_id, outbound.read_frame(listing))
    return row["last_read_seq"]


def set_muted(conn: Connection, room: Room, user: User, muted: bool) -> None:
    """Mute (no badge, no notification) or unmute a room for a member; their
    sockets hear room_updated. ChatError('not_found') if not a member."""
    with conn.transaction():
        if conn.execute(SQL_SET_MUTED, (muted, room.id, user.id)).fetchone() is None:
            raise ChatError("not_found", f"you are not a member of #{room.name}")
        _tell_updated(conn, room, [user.id])


def update_room(
    conn: Connection,
    room: Room,
    actor: User,
    topic: str | None = None,
    archived: bool | None = None,
    name: str | None = None,
) -> str:
    """The room's owner, while a member, sets its topic (validate_topic's rule),
    renames it (see `_rename`), archives it (read-only, out of the directory)
    or brings it back; every member's sockets hear room_updated. Returns the
    room's name after the change. ChatError('forbidden') for anyone else or a
    direct room, ('bad_request') for a topic or name that breaks its rule,
    ('taken') for a name another room has or had."""
    if room.is_direct:
        raise ChatError("forbidden", "a direct conversation has no topic; you may mute it")
    if room.created_by != actor.id:
        raise ChatError("forbidden", "only the room's creator can change it")
    if topic is not None:
        topic = validate_topic(topic)
    if name is not None:
        name = validate_room_name(name)
    with conn.transaction():
        if conn.execute(SQL_IS_MEMBER, (room.id, actor.id)).fetchone() is None:
            raise ChatError("forbidden", f"only members of #{room.name} can change it")
        previous = None
        if archived is False:  # reopened first, so that a rename in the same call may go ahead
            conn.execute(SQL_SET_ARCHIVED, (archived, room.id))
        if name is not None:
            previous = _rename(conn, room, actor, name)
        if topic is not None:
            conn.execute(SQL_SET_TOPIC, (topic, room.id))
        if archived:
            conn.execute(SQL_SET_ARCHIVED, (archived, room.id))
        members = [row["user_id"] for row in conn.execute(SQL_MEMBER_IDS, (room.id,))]
        _tell_updated(conn, room, members, previous)
        return conn.execute(SQL_ROOM_NAME, (room.id,)).fetchone()["name"]


SQL_ROOM_NAME = "SELECT name FROM rooms WHERE id = %s"
SQL_LOCK_NAME = """
    SELECT name, archived_at IS NOT NULL AS archived FROM rooms WHERE id = %s FOR UPDATE
"""
SQL_NAME_TAKEN = """
    SELECT 1 FROM rooms WHERE name = %(name)s AND id <> %(room_id)s
    UNION ALL
    SELECT 1 FROM room_aliases WHERE name = %(name)s AND room_id <> %(room_id)s
"""
# The old name becomes an alias; a name of the room's own past is taken back.
SQL_RENAME = """
    WITH reclaimed AS (DELETE FROM room_aliases WHERE name = %(name)s AND room_id = %(room_id)s),
         kept AS (
             INSERT INTO room_aliases (name, room_id) VALUES (%(previous)s, %(room_id)s)
             ON CONFLICT (name) DO NOTHING
         )
    UPDATE rooms SET name = %(name)s WHERE id = %(room_id)s
"""


def _rename(conn: Connection, room: Room, actor: User, name: str) -> str | None:
    """Give the room a new name, keeping the old one as an alias (links, API
    calls and sockets that use it go on working); the name it had, or None if
    it already had that one. A `rename` event in the room's sequence tells
    its followers; first, every worker re-keys its sockets that follow the
    room (bus.RENAME_ROOM), so frames under the new name find them. Inside
    update_room's transaction; takes the room's row lock until its commit.
    ChatError('taken') for a name another room has or had, ('forbidden') for
    an archived room."""
    row = conn.execute(SQL_LOCK_NAME, (room.id,)).fetchone()
    previous = row["name"]
    if previous == name:
        return None
    if row["archived"]:
        raise ChatError("forbidden", f"#{previous} is archived: reopen it to rename it")
    if conn.execute(SQL_NAME_TAKEN, {"name": name, "room_id": room.id}).fetchone() is not None:
        raise ChatError("taken", f"a room named {name!r} exists or did")
    try:
        with conn.transaction():  # a savepoint: a concurrent create of that name
            conn.execute(SQL_RENAME, {"name": name, "previous": previous, "room_id": room.id})
    except errors.UniqueViolation:
        raise ChatError("taken", f"a room named {name!r} already exists") from None
    publish_control(conn, bus.RENAME_ROOM, f"{room.id} {name}")
    member_event(conn, room, actor, kinds.KIND_RENAME, f"{previous} {name}")
    return previous


def _tell_updated(
    conn: Connection, room: Room, user_ids: list[int], previous: str | None = None
) -> None:
    for user_id in user_ids:
        listing = queries.member_room(conn, user_id, room.id)
        if listing is not None:
            publish_user(conn, user_id, outbound.room_updated_frame(listing, previous))
