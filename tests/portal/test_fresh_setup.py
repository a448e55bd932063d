"""A fresh clone has no var/: the code that writes there makes its folders
(portal/folders.py), and kombu's exchange tables stay out of the repository root."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery.backends.filesystem import FilesystemBackend
from django.apps import apps
from django.conf import settings as django_settings
from kombu import Connection, Exchange, Queue

from portal.celery import _ensure_embedded_folders
from portal.celery import app as celery_app
from portal.folders import embedded_folders, ensure_embedded_folders


def _embedded(settings, var: Path, *, database: bool = True):
    """The settings of portal/settings/base.py without DATABASE_URL and REDIS_URL, with
    var/ at `var`, set on `settings` (Django's, or a plain namespace)."""
    if database:
        settings.DATABASES = {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(var / "portal.sqlite3")}
        }
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(var / "celery" / "queue"),
        "data_folder_out": str(var / "celery" / "queue"),
        "processed_folder": str(var / "celery" / "processed"),
        "store_processed": False,
        "control_folder": str(var / "celery" / "control"),
    }
    settings.CELERY_RESULT_BACKEND = f"file://{var / 'celery' / 'results'}"
    settings.CELERY_BEAT_SCHEDULE_FILENAME = str(var / "celery" / "beat-schedule")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(var / "cache"),
        }
    }
    settings.EMAIL_BACKEND = "portal.mail.FileAndConsoleEmailBackend"
    settings.EMAIL_FILE_PATH = str(var / "mail")
    return settings


EXPECTED = [
    "",
    "celery/queue",
    "celery/processed",
    "celery/control",
    "celery/results",
    "celery",
    "cache",
    "mail",
]


def test_the_embedded_defaults_write_only_under_var():
    """portal/settings/base.py without DATABASE_URL and REDIS_URL (as `make run` on a fresh
    clone; CI sets both for the suite, hence a fresh interpreter)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    script = (
        "import json; from portal.settings import base as s; print(json.dumps("
        "[str(s.VAR_DIR), s.CELERY_BROKER_URL, s.CELERY_BROKER_TRANSPORT_OPTIONS]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    var, broker, options = json.loads(out)
    var = Path(var)
    assert broker == "filesystem://"
    assert Path(options["control_folder"]) == var / "celery" / "control"
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        assert Path(options[key]).is_relative_to(var / "celery")


def test_every_folder_of_the_embedded_set_up_is_made_by_the_code(tmp_path):
    var = tmp_path / "var"
    settings = _embedded(SimpleNamespace(), var)
    assert embedded_folders(settings) == [var / path if path else var for path in EXPECTED]
    assert not var.exists()

    ensure_embedded_folders(settings)

    for path in EXPECTED:
        assert (var / path).is_dir(), path
    ensure_embedded_folders(settings)  # again: nothing to do, no error


def test_django_start_up_and_the_celery_app_make_them(settings, tmp_path):
    """PortalConfig.ready() (django.setup(): manage.py, runserver, the worker) and the
    Celery app's on_after_configure both call ensure_embedded_folders."""
    _embedded(settings, tmp_path / "from-ready", database=False)
    apps.get_app_config("portal").ready()
    assert (tmp_path / "from-ready" / "celery" / "results").is_dir()

    _embedded(settings, tmp_path / "from-celery", database=False)
    receivers = [ref() for _, ref in celery_app.on_after_configure.receivers]
    assert _ensure_embedded_folders in receivers
    _ensure_embedded_folders(sender=celery_app)
    assert (tmp_path / "from-celery" / "celery" / "queue").is_dir()


def test_the_result_backend_works_on_a_fresh_var(tmp_path):
    """A task sent outside `make run` (e.g. by a management command) used to fail after the
    renewals had committed: the file result backend refuses a missing folder."""
    settings = _embedded(SimpleNamespace(), tmp_path / "var")
    ensure_embedded_folders(settings)
    backend = FilesystemBackend(app=celery_app, url=settings.CELERY_RESULT_BACKEND)
    backend.set(b"key", b"value")
    assert backend.get(b"key") == b"value"


def test_servers_need_no_folder(tmp_path):
    """With DATABASE_URL and REDIS_URL (and no file e-mails) only beat's schedule is local."""
    var = tmp_path / "var"
    settings = SimpleNamespace(
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "portal"}},
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        CELERY_BROKER_TRANSPORT_OPTIONS={},
        CELERY_RESULT_BACKEND="redis://127.0.0.1:6379/0",
        CELERY_BEAT_SCHEDULE_FILENAME=str(var / "celery" / "beat-schedule"),
        CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}},
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    )
    assert embedded_folders(settings) == [var / "celery"]


@pytest.mark.parametrize("name", [":memory:", "file:memorydb?mode=memory&cache=shared", ""])
def test_an_in_memory_sqlite_database_needs_no_folder(name):
    settings = SimpleNamespace(
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": name}},
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
    )
    assert embedded_folders(settings) == []


def test_the_filesystem_broker_writes_nothing_where_it_runs(tmp_path, monkeypatch):
    """kombu's default control_folder is ./control: with the portal's transport options a
    message round trip writes the exchange table under var/celery/control only."""
    var = tmp_path / "var"
    settings = _embedded(SimpleNamespace(), var)
    ensure_embedded_folders(settings)
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    # Fresh names: kombu keeps the bindings it has declared in a process-wide state, and
    # skips writing the exchange table of a binding another test already declared.
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    exchange = Exchange(name, type="direct")
    queue = Queue(name, exchange, routing_key=name)
    with Connection(
        "filesystem://", transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS
    ) as connection:
        producer = connection.Producer()
        producer.publish({"ping": 1}, exchange=exchange, routing_key=name, declare=[queue])
        message = queue(connection.default_channel).get(no_ack=True)
    assert message.payload == {"ping": 1}
    assert list(workdir.iterdir()) == []
    assert (var / "celery" / "control" / f"{name}.exchange").is_file()
