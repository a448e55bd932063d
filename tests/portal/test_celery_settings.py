"""The Celery settings production runs with Redis (docs/DEPLOY.md, "Nightly runs and the
watchdog"): a visibility timeout from CELERY_VISIBILITY_TIMEOUT, longer than the chunk
tasks' hard time limit and the finish steps' countdown, so a dead worker's chunk comes
back within minutes and nothing running or waiting is handed out twice."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

ROOT = Path(django_settings.BASE_DIR)
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "portal.settings.production",
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "portal.example",
    "PAYMENT_BANK_TRANSFER_ONLY": "true",  # production refuses to start with no way to pay
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
    "REDIS_URL": "redis://127.0.0.1:6379/9",
}
SCRIPT = """
import django, json
django.setup()
from portal.celery import app
from billing import tasks
print(json.dumps({
    "broker": app.conf.broker_transport_options,
    "limits": {name: [getattr(tasks, name).soft_time_limit, getattr(tasks, name).time_limit]
               for name in ("renew_subscriptions_chunk", "bill_instances_chunk")},
    "acks_late": app.conf.task_acks_late,
}))
"""


def _celery(**env) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DJANGO_"))}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={**base, **PRODUCTION_ENV, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.splitlines()[-1])


@pytest.mark.parametrize(
    ("env", "timeout"), [({}, 600), ({"CELERY_VISIBILITY_TIMEOUT": "900"}, 900)]
)
def test_production_hands_a_dead_workers_task_out_again_after_the_visibility_timeout(env, timeout):
    conf = _celery(**env)
    assert conf["broker"] == {  # not kombu's hour, and scanned for every 10 s
        "visibility_timeout": timeout,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }
    assert conf["acks_late"] is True
    assert conf["limits"] == {
        "renew_subscriptions_chunk": [240, 300],
        "bill_instances_chunk": [240, 300],
    }
    # Longer than the longest chunk and than the finish steps' 60 s countdown.
    assert timeout > 300 > 60
