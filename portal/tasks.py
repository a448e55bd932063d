import logging

from celery import shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task
def scheduler_heartbeat() -> str:
    """Proves beat and a worker are alive; shows up in the `make run` console every minute."""
    stamp = timezone.now().isoformat(timespec="seconds")
    logger.info("scheduler heartbeat at %s", stamp)
    return stamp


@shared_task
def echo(value: str) -> str:
    """Round-trips a value through the broker; used by the worker smoke test."""
    return value
