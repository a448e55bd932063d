"""The Celery app bench/faults.py starts its workers with (`celery -A bench.faults_worker
worker`): the portal's app and tasks, plus what a fault test needs.

- No transport options of its own: the broker options are the portal's settings
  (CELERY_BROKER_TRANSPORT_OPTIONS, the visibility timeout from CELERY_VISIBILITY_TIMEOUT,
  which bench/faults.py sets small), so a fault test proves what production runs.
- The side tasks (invoice e-mails with their PDFs, collections, instance notices, the
  instance run's final check) go to a queue no worker of the test consumes: they are not
  what is checked, and a requeued chunk must not wait behind thousands of PDFs.
- FAULTS_HOOK: a fault at a point inside a chunk's transaction, after the invoices (or the
  ledger rows) are written and the invoice numbers drawn, before the commit. It fires on
  the FAULTS_AT-th chunk this process runs (default 2: after one chunk has committed), once.
    hang       write FAULTS_MARKER, then sleep: the test SIGKILLs the worker now.
    pause      write FAULTS_MARKER, sleep FAULTS_PAUSE seconds (the test restarts Redis
               meanwhile), then go on.
    terminate  pg_terminate_backend() of this process's own connection, from a second
               connection, then the next query: OperationalError inside the transaction,
               and the task's autoretry.
"""

import os
import time
from pathlib import Path

from celery.signals import task_prerun

from portal.celery import app

SIDE_QUEUE = "faults-side"

app.conf.update(
    task_routes={
        name: {"queue": SIDE_QUEUE}
        for name in (
            "billing.tasks.email_issued_invoices",
            "billing.tasks.email_instance_notices",
            "billing.tasks.collect_invoice",
            "billing.tasks.instance_billing_finish",
            "billing.tasks.renewals_finish",
        )
    },
)

_state = {"installed": False, "calls": 0, "fired": False}


def _marker(text: str) -> None:
    path = os.environ.get("FAULTS_MARKER")
    if path:
        Path(path).write_text(text)


def _terminate_own_connection() -> None:
    import psycopg
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    _marker(f"terminated backend {pid}")
    with connection.cursor() as cursor:  # the connection is gone: OperationalError
        cursor.execute("SELECT 1")


def _fault() -> None:
    hook = os.environ.get("FAULTS_HOOK", "")
    if hook == "hang":
        _marker("in a chunk's transaction, hanging")
        time.sleep(3600)
    elif hook == "pause":
        _marker("in a chunk's transaction, pausing")
        time.sleep(float(os.environ.get("FAULTS_PAUSE", "5")))
    elif hook == "terminate":
        _terminate_own_connection()


def _wrap(function):
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        _state["calls"] += 1
        if not _state["fired"] and _state["calls"] == int(os.environ.get("FAULTS_AT", "2")):
            _state["fired"] = True
            _fault()
        return result

    return wrapper


@task_prerun.connect
def _install_hooks(**kwargs):
    """Once Django is set up (the first task): the points inside the chunk transactions."""
    if _state["installed"] or not os.environ.get("FAULTS_HOOK"):
        return
    from billing.services import instance_billing, renewals

    renewals.invoices_issue_many = _wrap(renewals.invoices_issue_many)
    instance_billing.bulk_insert_rows = _wrap(instance_billing.bulk_insert_rows)
    _state["installed"] = True
