"""When to try again, and how long to wait first: shared by the HTTP calls and
the live stream, sync and asyncio alike (no I/O here).

Every call the client makes is safe to repeat: reads are reads, and a send
carries a `client_id` the server deduplicates by (docs/protocol.md,
"Idempotent sends"), so a send retried after its answer was lost returns the
first message's seq instead of storing a second one. What is retried is what
a later try can pass: a connection that failed or dropped, a timeout, 5xx
(the database restarting, a worker going away, a proxy with no upstream), and
429 after the wait its Retry-After asks for. Every other refusal is final.
"""

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# 5xx are a server that is down, restarting or overloaded: another try may pass.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: the n-th wait is a random time between
    half and all of `initial * 2**n`, capped at `maximum` seconds (the jitter
    keeps many clients of one restarted server from coming back in step).
    `attempts` is how many tries in all (None: no end, for the stream).
    `max_retry_after` is the longest Retry-After the client waits out; a
    server asking for more gets its answer raised instead."""

    initial: float = 0.25
    maximum: float = 8.0
    attempts: int | None = 6
    max_retry_after: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait after `failures` failed tries in a row (1 or more)."""
        ceiling = min(self.maximum, self.initial * 2 ** max(0, failures - 1))
        return random.uniform(ceiling / 2, ceiling)

    def may_retry(self, failures: int) -> bool:
        """Whether another try follows `failures` failed ones."""
        return self.attempts is None or failures < self.attempts

    def delays(self) -> Iterator[float]:
        """The waits between tries, in order: one fewer than `attempts`."""
        failures = 1
        while self.may_retry(failures):
            yield self.delay(failures)
            failures += 1


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (RFC 9110 §10.2.3: a number of seconds or an HTTP
    date), None if absent or unreadable."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def wait_before_retry(
    backoff: Backoff, failures: int, status: int | None, asked: float | None
) -> float | None:
    """How long to wait before the next try after `failures` failed tries, the
    last with `status` (None: no answer at all) and its Retry-After `asked`;
    None when no retry should follow (spent, or a longer wait than allowed)."""
    if not backoff.may_retry(failures):
        return None
    if status is not None and status not in RETRY_STATUSES:
        return None
    if asked is not None:
        return asked if asked <= backoff.max_retry_after else None
    return backoff.delay(failures)
