"""Login attempt counters in the cache, one fixed window each: the window starts at the
first count and the counter is gone when it ends. The portal's login limits
(portal/auth.py) and the staff admin's (accounts/staff_login.py) count with these.

Keys are hashed: addresses and IPs stay out of cache keys (and their length limits).

Fail closed: when the cache (Redis) cannot be read or written, every function here raises
ThrottleUnavailable instead of letting the request through uncounted, and
accounts.middleware.ThrottleUnavailableMiddleware answers it with a 503 and Retry-After
(the one place that maps it). Gateways retry a webhook answered 503.
"""

import hashlib
import time
from contextlib import contextmanager
from math import ceil

from django.core.cache import cache

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is installed wherever REDIS_URL is set
    RedisError = OSError

# What the cache backends raise when their store is gone: redis-py's errors (connection
# refused, timeout, read-only replica), OSError for the file cache's disk.
CACHE_ERRORS = (RedisError, OSError)


class ThrottleUnavailable(Exception):
    """The counters cannot be read: the request is refused (503), never let through."""


@contextmanager
def throttle_cache_errors():
    """Turns a cache backend's failure into ThrottleUnavailable, for code that keeps login
    state in the cache beside the counters (portal/auth.py's stand-in device)."""
    try:
        yield
    except CACHE_ERRORS as error:
        raise ThrottleUnavailable(str(error) or type(error).__name__) from error


def throttle_key(*, scope: str, kind: str, subject: str) -> str:
    return f"{scope}:{kind}:{hashlib.sha256(subject.encode()).hexdigest()}"


def throttle_count(*, key: str, window: int) -> int:
    """Adds one to the counter and returns the new count. `window` is in seconds."""
    with throttle_cache_errors():
        return _count(key=key, window=window)


def _count(*, key: str, window: int) -> int:
    cache.add(_until_key(key), time.time() + window, timeout=window)
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        count = 1
    # Some backends' incr (the file cache's) stores the value again with the default
    # timeout, which would stretch or shorten the window: put its end back.
    cache.touch(key, throttle_retry_seconds(key=key, window=window))
    return count


def throttle_peek(*, key: str) -> int:
    """The count so far, without counting."""
    with throttle_cache_errors():
        return cache.get(key) or 0


def throttle_reset(*, key: str) -> None:
    with throttle_cache_errors():
        cache.delete_many([key, _until_key(key)])


def throttle_retry_seconds(*, key: str, window: int) -> int:
    """Seconds until the counter's window ends (at least 1)."""
    with throttle_cache_errors():
        until = cache.get(_until_key(key))
    if until is None:
        return window
    return max(1, ceil(until - time.time()))


def _until_key(key: str) -> str:
    return f"{key}:until"
