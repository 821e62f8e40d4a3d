"""Every change of state, and its announcement, happens in this package and only here.

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
)
from chat.actions.channels import (
    CHANNEL,
    CONTROL_CHANNEL,
    EVENTS_CHANNEL,
    NOTIFY_PAYLOAD_MAX,
    ONLINE_USERS_REF,
    SQL_NOTIFY,
    announce,
    events_payload,
)
from chat.actions.events import (
    MAX_REACTIONS_PER_USER,
    Event,
    delete_message,
    edit_message,
    toggle_reaction,
)
from chat.actions.jobs import (
    JOBS_CHANNEL,
    MAX_PENDING_JOBS,
    Queued,
    answer_job,
    claim_job,
    enqueue_job,
    ensure_bot_user,
    retry_job,
)
from chat.actions.limits import take_token
from chat.actions.messages import Sent, notify_payload, record_mentions, reused_key, send_message
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
    create_room,
    direct_room_name,
    invite,
    join_room,
    mark_read,
    open_direct,
    remove_member,
)

__all__ = [
    "CHANNEL",
    "CONTROL_CHANNEL",
    "EVENTS_CHANNEL",
    "JOBS_CHANNEL",
    "MAX_PENDING_JOBS",
    "MAX_REACTIONS_PER_USER",
    "NOTIFY_PAYLOAD_MAX",
    "ONLINE_USERS_REF",
    "SQL_NOTIFY",
    "Event",
    "Queued",
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
    "events_payload",
    "hash_token",
    "heartbeat",
    "invite",
    "join_room",
    "login_failed",
    "login_succeeded",
    "mark_read",
    "notify_payload",
    "open_direct",
    "reap_dead_workers",
    "record_mentions",
    "register_worker",
    "remove_member",
    "retire_worker",
    "reused_key",
    "retry_job",
    "send_message",
    "set_password",
    "start_session",
    "take_token",
    "toggle_reaction",
    "worker_presence",
]
