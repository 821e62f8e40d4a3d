"""ClientSession in-process on the real database, with a socket that scripts the client side.

These cover what is awkward to provoke over the wire: a bug inside one
connection's handler, and the token bucket and typing throttle themselves.
"""

import logging
import threading

from chat.realtime.buckets import TokenBucket
from chat.realtime.client import ClientSession
from chat.realtime.service import TypingThrottle

from ..conftest import ScriptedSocket, make_user, room_row


def test_a_bug_in_one_connection_closes_it_with_1011_and_spares_the_others(
    realtime, db, monkeypatch, caplog
):
    user = make_user(db)
    room = room_row(db)
    victim, bystander = ScriptedSocket(), ScriptedSocket()
    sessions = [ClientSession(ws, user, realtime, default_room=room) for ws in (victim, bystander)]
    threads = [threading.Thread(target=s.run, daemon=True) for s in sessions]
    for t in threads:
        t.start()
    for ws in (victim, bystander):
        ws.wait_for(lambda s: any(f["type"] == "ready" for f in s.sent))

    real_chat = ClientSession._chat

    def buggy(self, room_name, frame):
        if self.ws is victim:
            raise RuntimeError("a bug in one handler")
        return real_chat(self, room_name, frame)

    monkeypatch.setattr(ClientSession, "_chat", buggy)
    with caplog.at_level(logging.ERROR, logger="chat.realtime.client"):
        victim.inbox.put("boom")
        victim.wait_for(lambda s: s.closed_with == 1011)
        threads[0].join(10)
    assert not threads[0].is_alive()
    assert "user=eren room=general: connection failed" in caplog.text
    assert "RuntimeError: a bug in one handler" in caplog.text

    bystander.inbox.put('{"type":"chat","content":"still fine","client_id":"ok"}')
    bystander.wait_for(lambda s: any(f.get("client_id") == "ok" for f in s.sent))
    bystander.inbox.put(bystander.GONE)
    threads[1].join(10)


def test_token_bucket_allows_the_burst_then_the_rate(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("chat.realtime.buckets.time.monotonic", lambda: now[0])
    bucket = TokenBucket(rate=20, burst=60)
    assert sum(bucket.allow() for _ in range(100)) == 60
    now[0] += 0.5  # half a second refills 10 tokens
    assert sum(bucket.allow() for _ in range(100)) == 10
    now[0] += 100  # never more than the burst
    assert sum(bucket.allow() for _ in range(100)) == 60


def test_rate_zero_means_unlimited():
    bucket = TokenBucket(rate=0, burst=1)
    assert all(bucket.allow() for _ in range(1000))


def test_typing_throttle_per_user_and_room(monkeypatch):
    now = [50.0]
    monkeypatch.setattr("chat.realtime.service.time.monotonic", lambda: now[0])
    throttle = TypingThrottle(2.0)
    assert throttle.allow(1, 1)
    assert not throttle.allow(1, 1)
    assert throttle.allow(1, 2)  # another room
    assert throttle.allow(2, 1)  # another user
    assert throttle.allow(1, 1, in_thread=True)  # a thread's box beside the room's
    assert not throttle.allow(1, 1, in_thread=True)  # another thread: the same allowance
    now[0] += 2.0
    assert throttle.allow(1, 1)
