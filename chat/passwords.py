"""Password hashing with Argon2id, off the gevent loop.

Hashing is deliberately slow; run inline it would freeze every socket of a
gevent worker for its duration, so under gevent it runs in the hub's thread
pool (argon2-cffi releases the GIL while it hashes).
"""

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


def _off_loop(func, *args):
    """Run func in gevent's thread pool when this process is monkey-patched."""
    try:
        from gevent import get_hub, monkey
    except ImportError:
        return func(*args)
    if not monkey.is_module_patched("socket"):
        return func(*args)
    return get_hub().threadpool.apply(func, args)


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
