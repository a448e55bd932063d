"""The production set-up (docs/DEPLOY.md): database connections that cannot run out,
static files collected and served by WhiteNoise, the process scripts, and the local
cluster (bin/run-cluster) billing the night while serving pages."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.conftest import IN_CI

ROOT = Path(django_settings.BASE_DIR)
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/unused"


def _settings(module: str, **env) -> dict:
    """Some settings of `module` as a fresh interpreter with exactly `env` sees them."""
    base = {k: v for k, v in os.environ.items() if k not in ("CONN_MAX_AGE", "DEBUG")}
    script = f"import importlib; s = importlib.import_module({module!r}); " + (
        "import json; print(json.dumps({"
        "'database': s.DATABASES['default'], 'finders': s.WHITENOISE_USE_FINDERS, "
        "'static_root': str(s.STATIC_ROOT), 'middleware': s.MIDDLEWARE, "
        "'storages': s.STORAGES if hasattr(s, 'STORAGES') else None}, default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, "DATABASE_URL": POSTGRES_URL, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


PRODUCTION_ENV = {
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "portal.example",
    "PAYMENT_BANK_TRANSFER_ONLY": "true",
}


@pytest.mark.parametrize(
    ("module", "env"),
    [("portal.settings.base", {}), ("portal.settings.production", PRODUCTION_ENV)],
)
def test_connections_are_closed_after_each_request_unless_told(module, env):
    """runserver serves each request in a new thread: a persistent connection per thread
    stayed open after it (83 idle seen) until PostgreSQL refused clients. Only bin/serve
    and bin/worker, a fixed number of single-threaded processes, set CONN_MAX_AGE."""
    assert _settings(module, **env)["database"]["CONN_MAX_AGE"] == 0
    told = _settings(module, CONN_MAX_AGE="60", **env)["database"]
    assert told["CONN_MAX_AGE"] == 60
    assert told["CONN_HEALTH_CHECKS"] is True


def test_the_process_scripts_set_persistent_connections_only_under_fixed_process_pools():
    serve = (ROOT / "bin" / "serve").read_text()
    assert 'CONN_MAX_AGE="${CONN_MAX_AGE:-60}"' in serve
    assert "--worker-class sync" in serve  # one request, so one connection, per process
    assert "--threads" not in serve
    assert 'CONN_MAX_AGE="${CONN_MAX_AGE:-60}"' in (ROOT / "bin" / "worker").read_text()
    assert "CONN_MAX_AGE" not in (ROOT / "bin" / "run-demo").read_text()


def test_production_serves_collected_static_files_with_whitenoise():
    production = _settings("portal.settings.production", **PRODUCTION_ENV)
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in production["middleware"]
    assert production["finders"] is False
    assert production["static_root"] == str(ROOT / "staticfiles")
    assert production["storages"]["staticfiles"]["BACKEND"] == (
        "whitenoise.storage.CompressedManifestStaticFilesStorage"
    )
    serve = (ROOT / "bin" / "serve").read_text()
    assert "collectstatic --noinput" in serve


def test_run_cluster_says_what_it_needs():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [str(ROOT / "bin" / "run-cluster")], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr and "REDIS_URL" in result.stderr


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_the_local_cluster_bills_the_night_while_serving_pages():
    """bench/cluster_check.py: gunicorn (2 web processes), 2 Celery workers and 1 beat on
    PostgreSQL and Redis; nightly_billing sent through the broker while 8 clients fetch
    pages. It uses the database <suite database>_cluster (dropped and created) and flushes
    CLUSTER_CHECK_REDIS_URL, by default the suite's REDIS_URL."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("CLUSTER_CHECK_REDIS_URL") or os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        if IN_CI:
            pytest.fail("CI needs DATABASE_URL (PostgreSQL) and REDIS_URL for the cluster")
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL)")
    base, _, name = database_url.rpartition("/")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "cluster_check.py"),
            f"--database-url={base}/{name.split('?')[0]}_cluster",
            f"--redis-url={redis_url}",
            "--extra=600",  # two chunks of renewals: both workers get one
            "--rounds=1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.splitlines()[-1].startswith("OK ")
