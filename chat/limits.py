"""Limits on what one client can hold: a token bucket, and a deadline for request bodies."""

import logging
import time

from flask import Flask, abort, current_app, request

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Register before any hook that reads the body (Flask-WTF's CSRF check does)."""
    app.before_request(read_body_in_time)


def read_body_in_time():
    """A request body must arrive whole within REQUEST_BODY_TIMEOUT seconds.

    A client that sends a few bytes of its body now and then (a slow POST)
    would otherwise hold a greenlet and a socket for as long as it likes.
    The head of the request is already bounded by gunicorn's `keepalive`.
    The body is read here once and cached; form parsing reads the cache.
    """
    if not request.content_length and "chunked" not in request.headers.get("Transfer-Encoding", ""):
        return
    import gevent

    seconds = current_app.config["REQUEST_BODY_TIMEOUT"]
    try:
        with gevent.Timeout(seconds):
            request.get_data(cache=True)
    except gevent.Timeout:
        log.warning(
            "%s %s from %s: body not received within %s s, refused",
            request.method,
            request.path,
            request.remote_addr,
            seconds,
        )
        abort(408, description=f"the request body did not arrive within {seconds:g} seconds")


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; rate 0 means unlimited."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def allow(self) -> bool:
        """Take a token if there is one."""
        if self.rate <= 0:
            return True
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
