"""Login attempt counters in the cache, one fixed window each: the window starts at the
first count and the counter is gone when it ends. The portal's login limits
(portal/auth.py) and the staff admin's (accounts/staff_login.py) count with these.

Keys are hashed: addresses and IPs stay out of cache keys (and their length limits).
"""

import hashlib
import time
from math import ceil

from django.core.cache import cache


def throttle_key(*, scope: str, kind: str, subject: str) -> str:
    return f"{scope}:{kind}:{hashlib.sha256(subject.encode()).hexdigest()}"


def throttle_count(*, key: str, window: int) -> int:
    """Adds one to the counter and returns the new count. `window` is in seconds."""
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
    return cache.get(key) or 0


def throttle_reset(*, key: str) -> None:
    cache.delete_many([key, _until_key(key)])


def throttle_retry_seconds(*, key: str, window: int) -> int:
    """Seconds until the counter's window ends (at least 1)."""
    until = cache.get(_until_key(key))
    if until is None:
        return window
    return max(1, ceil(until - time.time()))


def _until_key(key: str) -> str:
    return f"{key}:until"
