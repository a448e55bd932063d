import logging
from datetime import datetime

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

# The last heartbeat: when, and which worker ran it (the admin health page reads it).
HEARTBEAT_CACHE_KEY = "portal:scheduler-heartbeat"
HEARTBEAT_KEEP = 7 * 24 * 60 * 60  # seconds: an old one still says when beat last ran


@shared_task(bind=True)
def scheduler_heartbeat(self) -> str:
    """Every minute from beat: proves beat and a worker are alive; recorded in the cache
    (Redis in production, shared with the web server) and logged."""
    stamp = timezone.now().isoformat(timespec="seconds")
    cache.set(
        HEARTBEAT_CACHE_KEY, {"at": stamp, "worker": self.request.hostname or ""}, HEARTBEAT_KEEP
    )
    logger.info("scheduler heartbeat at %s", stamp)
    return stamp


def scheduler_heartbeat_last() -> dict | None:
    """{"at": aware datetime, "worker": hostname} of the last heartbeat, or None."""
    value = cache.get(HEARTBEAT_CACHE_KEY)
    if not value:
        return None
    return {"at": datetime.fromisoformat(value["at"]), "worker": value.get("worker", "")}


@shared_task
def echo(value: str) -> str:
    """Round-trips a value through the broker; used by the worker smoke test."""
    return value
