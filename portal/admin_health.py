"""The admin's "Workers and nightly runs" page (staff only): is beat alive (the last
scheduler heartbeat), which workers answer, how did the last nightly runs go, and which
runs need attention (incomplete, or alerted by the watchdog), in red."""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from billing.models import NightlyRunKind
from billing.services.nightly_runs import (
    nightly_run_alert_after,
    nightly_runs_attention,
    nightly_runs_latest,
)
from portal.tasks import scheduler_heartbeat_last

logger = logging.getLogger(__name__)

PING_TIMEOUT = 1.0  # seconds: how long the page waits for the workers' answers
# Beat sends the heartbeat every 60 s: older than this, beat or every worker is down.
HEARTBEAT_STALE = timedelta(minutes=3)


def workers_seen() -> tuple[list[str], str]:
    """The workers that answer a ping now (Redis: remote control), or, without Redis (no
    broadcast channel), the one that ran the last heartbeat. Returns (names, how)."""
    if settings.REDIS_URL:
        from portal.celery import app

        try:
            replies = app.control.inspect(timeout=PING_TIMEOUT).ping() or {}
        except Exception as error:  # the broker is down: the page still renders
            logger.warning("health page: worker ping failed: %s", error)
            return [], f"ping failed: {error}"
        return sorted(replies), f"answered a ping within {PING_TIMEOUT:.0f} s"
    heartbeat = scheduler_heartbeat_last()
    names = [heartbeat["worker"]] if heartbeat and heartbeat["worker"] else []
    return names, "ran the last heartbeat (no remote control without Redis)"


def nightly_health_view(request):
    now = timezone.now()
    heartbeat = scheduler_heartbeat_last()
    workers, how = workers_seen()
    latest = nightly_runs_latest()
    context = {
        **admin.site.each_context(request),
        "title": "Workers and nightly runs",
        "now": now,
        "heartbeat": heartbeat,
        "heartbeat_stale": not heartbeat or now - heartbeat["at"] > HEARTBEAT_STALE,
        "workers": workers,
        "workers_how": how,
        "latest": [(label, latest[kind]) for kind, label in NightlyRunKind.choices],
        "attention": nightly_runs_attention(),
        "alert_minutes": int(nightly_run_alert_after().total_seconds() // 60),
        "visibility_timeout": settings.CELERY_VISIBILITY_TIMEOUT if settings.REDIS_URL else None,
    }
    return TemplateResponse(request, "admin/nightly_health.html", context)
