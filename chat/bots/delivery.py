"""One delivery of an outgoing webhook: the signed POST of a message to the
receiver, through the outbound guard (docs/webhooks.md "Outgoing webhooks").

The worker (chat/bots/work.py) reads the job's webhook and message, calls
`deliver`, and writes what came of it (chat/actions/outgoing.py). Here only
the request: the JSON body (chat/domain/outgoing.py `payload`), the headers
that let the receiver check it came from us and drop a repeat, and the
answer read back, with the reply text it may carry.

The POST goes through chat/bots/egress like a link preview's GET: only to
public addresses, the name resolved once and the checked address connected
to, TLS verified against the name, 307/308 redirects followed with each hop
checked again (others are not followed), one deadline for all of it.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from chat.bots import egress
from chat.bots.egress.destinations import Allowance
from chat.domain import outgoing
from chat.protocol.outbound import timestamp as iso_timestamp

USER_AGENT = "chat-webhook/1"
# A receiver that takes longer holds a worker (one job at a time) from every
# other job, thumbnails and previews included: half a link preview's 10 s.
# Slack gives its outgoing webhooks 3 s; a slow receiver can answer 200 at
# once and post its result later with an incoming webhook.
TIMEOUT = 5.0
# A reply is one message (4,000 characters by default, up to 4 bytes each in
# UTF-8, inside a small JSON object): a body longer than this is cut, and a
# cut body is not JSON, so nothing is posted.
MAX_ANSWER_BYTES = 64 * 1024
# Delivery redirects: a receiver that moved needs one, not a chain.
MAX_REDIRECTS = 3


@dataclass(frozen=True)
class Delivered:
    """A 2xx answer: its status, and the text it asks to post (None: none)."""

    status: int
    reply: str | None


def delivery_id(job_id: int) -> str:
    """X-Chat-Delivery's value: the job's, the same on every attempt of it."""
    return str(job_id)


def body_of(job: dict, row: dict) -> bytes:
    """The JSON body of the job's delivery, from its SQL_DELIVERY `row`
    (chat/storage/outgoing.py): compact UTF-8, the bytes that are signed."""
    return orjson.dumps(
        outgoing.payload(
            webhook_id=row["webhook_id"],
            delivery_id=delivery_id(job["id"]),
            room=row["room_name"],
            seq=row["seq"],
            thread_seq=row["thread_seq"],
            user_id=row["author_id"],
            username=row["author_name"],
            display_name=row["author_display_name"],
            text=row["content"],
            trigger_word=job["trigger_word"],
            timestamp=iso_timestamp(row["created_at"]),
        )
    )


def headers_of(job: dict, row: dict, body: bytes, now: int) -> dict[str, str]:
    """The signature's headers for `body` sent at `now` (Unix seconds), and the
    ids a receiver keys on."""
    return {
        "X-Chat-Timestamp": str(now),
        "X-Chat-Signature": outgoing.signature(row["secret"], now, body),
        "X-Chat-Delivery": delivery_id(job["id"]),
        "X-Chat-Webhook": str(row["webhook_id"]),
    }


def deliver(
    job: dict,
    row: dict,
    *,
    allow: Allowance = (),
    clock: Callable[[], float] = time.time,
    **options,
) -> Delivered:
    """POST the job's message to its webhook's URL, signed now (each attempt
    is signed afresh, so a retry is inside the receiver's replay window).
    Raises chat/bots/egress's errors: `transient` ones are worth a retry (no
    answer, 5xx, 408, 425, 429), the others are not (a refused address,
    another 4xx, a redirect that drops the body). `allow` is EGRESS_ALLOW;
    `options` go to egress.post (tests: `context`, `resolver`)."""
    body = body_of(job, row)
    response = egress.post(
        row["url"],
        body,
        "application/json",
        user_agent=USER_AGENT,
        allow=allow,
        timeout=TIMEOUT,
        max_bytes=MAX_ANSWER_BYTES,
        max_redirects=MAX_REDIRECTS,
        headers=headers_of(job, row, body, int(clock())),
        **options,
    )
    reply = outgoing.reply_text(response.content_type, response.body) if response.complete else None
    return Delivered(response.status, reply)
