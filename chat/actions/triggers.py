"""Which stored messages go to which outgoing webhooks: their delivery jobs,
queued by the send path in the transaction that stores the messages
(docs/webhooks.md "Outgoing webhooks").

In that transaction, so a message is delivered if and only if it was stored
(never lost to a crash between the two, never queued for a send that rolled
back), and queued once (a repeated client_id stores nothing and queues
nothing). chat/actions/messages.py asks storage/outgoing.py's
SQL_LIVE_WEBHOOKS in its first pipeline, under the rooms' locks, and hands
the rows here: for a batch in rooms without webhooks that is one index probe
per batch and nothing else, no statement and no NOTIFY here.

Which messages: chat messages (not `/me` actions or events) whose text
matches (chat/domain/outgoing.py `match`), in the main flow or in a thread
(a reply in a thread is answered in that thread, as Slack does), from a
person: never from a bot account. Not from the webhook's own bot, whose
replies would otherwise trigger it again; and not from any other bot either,
since two webhooks (or a webhook and the stock bot, or an incoming webhook's
alerts) whose answers match each other would otherwise talk to each other
forever, one POST per turn.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence

from psycopg import Connection

from chat.actions.channels import wake_workers
from chat.domain import kinds, outgoing
from chat.domain.render import mentioned

# The senders' bot flag is read here rather than carried on every User: the
# statement only runs for a batch with a match.
SQL_INSERT_WEBHOOK_JOBS = """
    INSERT INTO work_jobs (kind, webhook_id, room_id, seq, trigger_word)
    SELECT 'webhook', k.webhook_id, k.room_id, k.seq, k.trigger_word
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::bigint[])
         AS k(webhook_id, room_id, seq, trigger_word, sender_id)
    JOIN users u ON u.id = k.sender_id AND NOT u.is_bot
"""


def matches(
    webhooks: Iterable[dict], new: Sequence[tuple]
) -> list[tuple[int, int, int, str | None, int]]:
    """The deliveries of the stored `new` (Send, seq) pairs (chat/actions/messages.py)
    to the rooms' live `webhooks` (SQL_LIVE_WEBHOOKS rows): (webhook_id,
    room_id, seq, trigger_word, sender_id) each, senders' bot flags not yet
    applied."""
    by_room: dict[int, list[dict]] = defaultdict(list)
    for webhook in webhooks:
        by_room[webhook["room_id"]].append(webhook)
    found = []
    for send, seq in new:
        hooks = by_room.get(send.room.id)
        if not hooks or send.kind != kinds.KIND_CHAT:
            continue
        names = mentioned(send.html)
        for hook in hooks:
            if hook["bot_user_id"] == send.user.id:
                continue
            hit = outgoing.match(send.content, names, hook["trigger_words"], hook["bot_name"])
            if hit is not None:
                found.append((hook["id"], send.room.id, seq, hit.trigger_word, send.user.id))
    return found


def queue_deliveries(conn: Connection, webhooks: Iterable[dict], new: Sequence[tuple]) -> None:
    """Queue the deliveries of `new` to `webhooks` (see matches) and wake the
    workers; no statement at all when nothing matches. Inside the storing
    transaction (a pipeline's statement), after the messages' insert."""
    found = matches(webhooks, new)
    if found:
        conn.execute(SQL_INSERT_WEBHOOK_JOBS, [list(c) for c in zip(*found, strict=True)])
        wake_workers(conn, "webhook")
