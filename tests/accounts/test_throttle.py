"""The shared login counters (accounts.throttle): one fixed window from the first count."""

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import caches
from django.utils import timezone

from accounts import throttle
from accounts.throttle import throttle_count, throttle_key, throttle_peek, throttle_retry_seconds

HOUR = 60 * 60


@pytest.fixture(params=["locmem", "file"])
def cache(request, monkeypatch, settings, tmp_path):
    """Both backends the project runs on without Redis: the tests' and the demo's."""
    backend = {
        "locmem": "django.core.cache.backends.locmem.LocMemCache",
        "file": "django.core.cache.backends.filebased.FileBasedCache",
    }[request.param]
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": str(tmp_path / "cache")}}
    cache = caches.create_connection("default")
    monkeypatch.setattr(throttle, "cache", cache)
    cache.clear()
    yield cache
    cache.clear()


def test_counts_within_one_window_then_starts_again(cache):
    key = throttle_key(scope="test", kind="address", subject="a@example.com")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert [throttle_count(key=key, window=HOUR) for _ in range(3)] == [1, 2, 3]
        # Quiet for longer than the cache's default timeout (300 s): the window holds.
        traveller.shift(timedelta(minutes=10))
        assert throttle_count(key=key, window=HOUR) == 4
        assert throttle_retry_seconds(key=key, window=HOUR) == HOUR - 10 * 60
        traveller.shift(timedelta(minutes=50, seconds=1))
        assert throttle_peek(key=key) == 0
        assert throttle_count(key=key, window=HOUR) == 1


def test_keys_hide_the_subject():
    key = throttle_key(scope="test", kind="ip", subject="203.0.113.7")
    assert "203.0.113.7" not in key and key.startswith("test:ip:")
