"""/healthz for the load balancer and the process supervisor: is this web process able to
serve? It checks the database (SELECT 1) and the Celery broker, each with a short timeout,
and answers 200 {"database": "ok", "broker": "ok"} or 503 naming what failed. No login, no
session, no rate limit; never cached."""

import logging
import os
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

TIMEOUT = 2.0  # seconds, per check


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception as error:
        logger.warning("healthz: database unreachable: %s", error)
        return False


def broker_ok() -> bool:
    url = str(settings.CELERY_BROKER_URL)
    try:
        if url.startswith(("redis://", "rediss://")):
            import redis

            client = redis.Redis.from_url(
                url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT
            )
            try:
                return bool(client.ping())
            finally:
                client.close()
        if url.startswith("filesystem://"):
            options = settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}
            folder = Path(options.get("data_folder_in") or ".")
            return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
        from kombu import Connection

        with Connection(url, connect_timeout=TIMEOUT) as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, timeout=TIMEOUT)
        return True
    except Exception as error:
        logger.warning("healthz: broker unreachable: %s", error)
        return False


@never_cache
@require_GET
def healthz(request):
    checks = {
        "database": "ok" if database_ok() else "unreachable",
        "broker": "ok" if broker_ok() else "unreachable",
    }
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(checks, status=200 if healthy else 503)
