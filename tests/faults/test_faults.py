"""Faults in the middle of the nightly runs (issue 11): a worker SIGKILLed inside a chunk's
transaction, Redis restarted empty while chunks are queued, the database connection
terminated inside a chunk's transaction, and (issue 15) a lost chunk the watchdog queues
again. The workers run the portal's Celery settings (CELERY_VISIBILITY_TIMEOUT set small),
no transport options of the test's. bench/faults.py runs them with real Celery
workers on a private redis-server and checks that every run completes on retry and leaves
exactly the state of a run without a fault (no double, no gap, nothing lost).

It uses the database <suite database>_faults_<run> (dropped and created) and needs
redis-server on PATH (it starts its own on a free port and kills it)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.conftest import IN_CI

ROOT = Path(django_settings.BASE_DIR)
VISIBILITY = 10  # CELERY_VISIBILITY_TIMEOUT for the workers, seconds (production: 600)


@pytest.mark.postgres
@pytest.mark.celery_worker
@pytest.mark.parametrize("run", ["renewals", "instances"])
def test_every_run_completes_after_a_fault_exactly_as_without_it(run):
    database_url = os.environ.get("DATABASE_URL", "")
    missing = []
    if not database_url.startswith(("postgres://", "postgresql://")):
        missing.append("PostgreSQL (DATABASE_URL)")
    if not shutil.which("redis-server"):
        missing.append("redis-server on PATH")
    if missing:
        if IN_CI:
            pytest.fail("CI needs " + " and ".join(missing) + " for the fault tests")
        pytest.skip("needs " + " and ".join(missing))
    base, _, name = database_url.rpartition("/")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "faults.py"),
            f"--database-url={base}/{name.split('?')[0]}_faults_{run}",
            f"--runs={run}",
            "--count=1200",  # three chunks: one commits, one is hit, one follows
            f"--visibility-timeout={VISIBILITY}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # a deadline: the SIGKILLed chunk waits for kombu's sweep
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "faults=4 violations=0"
    # The production settings' broker options, configured small; none of the test's own.
    assert (
        f"broker transport options: {{'visibility_timeout': {VISIBILITY}, "
        "'unacked_restore_interval': 10, 'unacked_restore_throttle': 1}"
    ) in result.stdout
