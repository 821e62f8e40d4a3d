"""Every change of state, and its announcement, happens in this package and only here.

Every SQL statement that writes and every NOTIFY lives here (migrations
aside; tests/actions/test_write_path.py checks it). What a NOTIFY carries is the
bus's contract, chat/storage/bus.py; chat/actions/channels.py sends them.

Views, socket handlers and bots parse and validate, then call one of these.
One module per concern; everything is re-exported here, so callers write
`actions.send_message(...)`.
"""

from chat.actions.accounts import (
    create_token,
    create_user,
    disable_user,
    end_session,
    hash_token,
    login_failed,
    login_succeeded,
    set_password,
    start_session,
    use_token,
)
from chat.actions.channels import (
    announce,
    publish_control,
    publish_ephemeral,
    publish_heartbeat,
    publish_stored,
    publish_user,
    wake_bot,
)
from chat.actions.events import (
    MAX_REACTIONS_PER_USER,
    Event,
    delete_message,
    edit_message,
    toggle_reaction,
)
from chat.actions.jobs import (
    MAX_PENDING_JOBS,
    Queued,
    answer_job,
    claim_job,
    enqueue_job,
    ensure_bot_user,
    retry_job,
)
from chat.actions.limits import take_token
from chat.actions.messages import (
    Send,
    Sent,
    record_mentions,
    reused_key,
    send_message,
    send_messages,
)
from chat.actions.presence import (
    announce_typing,
    arrive,
    depart,
    heartbeat,
    reap_dead_workers,
    register_worker,
    retire_worker,
    worker_presence,
)
from chat.actions.rooms import (
    TOPIC_MAX,
    add_member,
    create_room,
    direct_room_name,
    join,
    join_first_room,
    join_room,
    leave,
    mark_read,
    member_event,
    open_direct,
    remove_member,
    set_muted,
    update_room,
)

__all__ = [
    "MAX_PENDING_JOBS",
    "MAX_REACTIONS_PER_USER",
    "Event",
    "Queued",
    "Send",
    "Sent",
    "announce",
    "announce_typing",
    "answer_job",
    "arrive",
    "claim_job",
    "create_room",
    "create_token",
    "create_user",
    "delete_message",
    "depart",
    "direct_room_name",
    "disable_user",
    "edit_message",
    "end_session",
    "enqueue_job",
    "ensure_bot_user",
    "hash_token",
    "heartbeat",
    "join",
    "join_first_room",
    "join_room",
    "leave",
    "member_event",
    "set_muted",
    "update_room",
    "add_member",
    "TOPIC_MAX",
    "login_failed",
    "login_succeeded",
    "mark_read",
    "open_direct",
    "publish_control",
    "publish_ephemeral",
    "publish_heartbeat",
    "publish_stored",
    "publish_user",
    "reap_dead_workers",
    "record_mentions",
    "register_worker",
    "remove_member",
    "retire_worker",
    "reused_key",
    "retry_job",
    "send_message",
    "send_messages",
    "set_password",
    "start_session",
    "take_token",
    "toggle_reaction",
    "use_token",
    "wake_bot",
    "worker_presence",
]
