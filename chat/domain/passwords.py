"""Password hashing with Argon2id, off the gevent loop.

Hashing is deliberately slow; run inline it would freeze every socket of a
gevent worker for its duration, so under gevent it runs in a small thread
pool of its own (argon2-cffi releases the GIL while it hashes), at a lower
CPU priority than the event loop.
"""

import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet, Argon2id option 2: m=19 MiB, t=2, p=1.
# Memory is the cost that matters against GPUs; 19 MiB keeps 10 parallel
# logins per worker under 200 MiB.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# Long enough for any passphrase or manager-generated password (OWASP asks
# that at least 64 be allowed), short enough that nobody makes us hash megabytes.
MAX_LENGTH = 1024
MIN_LENGTH = 8

# Verified against when the username is unknown, so both failures take as long.
_DUMMY_HASH = _hasher.hash("not a real password, only here for timing")


# Hashing threads per worker: enough to keep logins flowing on a small machine,
# few enough (with the nice below) that the event loop still gets the CPU.
HASH_THREADS = 2
# Nice value for hashing threads: on Linux a thread can be reniced alone, so
# the scheduler prefers the worker's event loop over a running hash.
HASH_NICE = 10

_pool = None
_reniced = threading.local()


def _niced(func, *args):
    if not getattr(_reniced, "done", False):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICE)
        except (AttributeError, OSError):
            pass  # not Linux, or not allowed: hashing still works, just less politely
        _reniced.done = True
    return func(*args)


def _off_loop(func, *args):
    """Run func in a small, low-priority thread pool when this process is gevent-patched."""
    global _pool
    try:
        from gevent import monkey
        from gevent.threadpool import ThreadPool
    except ImportError:
        return func(*args)
    if not monkey.is_module_patched("socket"):
        return func(*args)
    if _pool is None:
        _pool = ThreadPool(HASH_THREADS)
    return _pool.apply(_niced, (func, *args))


def hash_password(password: str) -> str:
    return _off_loop(_hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether password matches; None (unknown user) costs the same and is False."""
    if password_hash is None:
        _off_loop(_verify, _DUMMY_HASH, password)
        return False
    return _off_loop(_verify, password_hash, password)
