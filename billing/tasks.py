"""Celery tasks: thin. They take ids or dates, call one service, and retry only
transient database errors (a deadlock or a dropped connection); a domain error is final."""

import logging
from datetime import date, datetime

from celery import shared_task
from django.db import OperationalError, transaction
from django.utils import timezone

from billing.gateways.errors import GatewayError
from billing.models import NightlyRunKind
from billing.notifications import invoices_email_issued
from billing.services.collection import (
    collection_attempt,
    collection_due,
    payment_refresh_pending,
    payments_pending_ids,
)
from billing.services.nightly_runs import (
    nightly_run_count,
    nightly_run_finish,
    nightly_run_pending,
    nightly_run_start,
    nightly_runs_watch,
)
from billing.services.overdue import overdue_mark
from billing.services.reminders import reminders_send
from billing.services.renewals import renewals_due_chunks, renewals_renew_chunk

logger = logging.getLogger(__name__)


# A chunk of 5,000 renews in about a second (docs/PERFORMANCE.md). Past the soft limit
# SoftTimeLimitExceeded rolls its transaction back; the hard limit ends the process (under
# prefork). Either way the watchdog queues it again. The hard limit (seconds) stays below
# CELERY_VISIBILITY_TIMEOUT, so the broker never hands out a chunk still running.
CHUNK_LIMITS = {"soft_time_limit": 240, "time_limit": 300}


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
    **CHUNK_LIMITS,
)
def renew_subscriptions_chunk(subscription_ids: list[int], today: str) -> dict:
    result = renewals_renew_chunk(
        subscription_ids=subscription_ids, today=date.fromisoformat(today)
    )
    return {"subscriptions": result.subscriptions, "invoices": result.invoices}


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
    ignore_result=True,  # fire and forget: nobody waits for it
)
def email_issued_invoices(invoice_ids: list[int]) -> dict:
    """Queued on commit by the renewals: each invoice's e-mail (PDF attached), once; a
    retry skips the invoices already e-mailed (Invoice.emailed_at)."""
    return {"emailed": invoices_email_issued(invoice_ids=invoice_ids)}


@shared_task(
    autoretry_for=(OperationalError, GatewayError),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
    ignore_result=True,
)
def collect_invoice(invoice_id: int, today: str) -> None:
    """One automatic collection attempt (off-session), if still due."""
    collection_attempt(invoice_id=invoice_id, today=date.fromisoformat(today))


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True
)
def refresh_pending_payments() -> int:
    """Every 10 minutes: where do the pending payments stand at the gateway?"""
    ids = list(payments_pending_ids())
    for payment_id in ids:
        payment_refresh_pending(payment_id=payment_id)
    return len(ids)


@shared_task
def nightly_billing() -> dict:
    """00:00 UTC: fans the due renewals out to the workers in chunks, then marks overdue
    invoices and sends the reminders that are due."""
    today = timezone.now().date()
    chunks = 0
    with transaction.atomic():
        for ids in renewals_due_chunks(today=today):
            transaction.on_commit(
                lambda ids=ids: renew_subscriptions_chunk.delay(ids, today.isoformat())
            )
            chunks += 1
        retries = list(collection_due(today=today))
        for invoice_id in retries:
            transaction.on_commit(
                lambda invoice_id=invoice_id: collect_invoice.delay(invoice_id, today.isoformat())
            )
        counts = {"renewal_chunks": chunks, "collections": len(retries)}
        nightly_run_start(kind=NightlyRunKind.RENEWALS, day=today, counts=counts)
        transaction.on_commit(
            lambda: renewals_finish.apply_async((today.isoformat(),), countdown=60)
        )
    overdue = overdue_mark(today=today)
    reminders = reminders_send(today=today)
    more = {"overdue_marked": overdue, "reminders_sent": reminders}
    nightly_run_count(kind=NightlyRunKind.RENEWALS, day=today, counts=more)
    return {**counts, **more}


# The finish steps wait with a countdown of 60 s, then retry every 60 s. Redis holds a
# countdown task unacknowledged in the worker until it runs: safe while the countdown plus
# the run stays under CELERY_VISIBILITY_TIMEOUT (600 s), else it is handed out twice
# (harmless: a finish step only reads and records).
@shared_task(bind=True, max_retries=60, ignore_result=True)
def renewals_finish(self, today: str) -> dict:
    """Queued after the renewals fan-out: waits (retrying every minute) until no
    subscription due that day is left, then records the run complete (or incomplete
    after an hour: the watchdog takes over)."""
    day = date.fromisoformat(today)
    pending = nightly_run_pending(kind=NightlyRunKind.RENEWALS, day=day)
    if pending and self.request.retries < self.max_retries:
        raise self.retry(countdown=60)
    run = nightly_run_finish(kind=NightlyRunKind.RENEWALS, day=day)
    return {"day": today, "status": run.status, **run.counts}


@shared_task(ignore_result=True)
def nightly_runs_watchdog() -> list[dict]:
    """Every 5 minutes: nightly runs still incomplete past NIGHTLY_RUN_ALERT_MINUTES are
    queued again and alerted once (services/nightly_runs.py)."""
    return [
        {
            "kind": run.kind,
            "day": f"{run.day}",
            "status": run.status,
            "requeued": run.requeued_chunks,
        }
        for run in nightly_runs_watch()
    ]


# ---- cloud instances: nightly billing from the prepaid balance --------------------------


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
    **CHUNK_LIMITS,
)
def bill_instances_chunk(customer_ids: list[int], at: str) -> dict:
    """One chunk of customers, one transaction (services/instance_billing.py)."""
    from billing.services.instance_billing import instance_bill_chunk

    result = instance_bill_chunk(customer_ids=customer_ids, at=datetime.fromisoformat(at))
    return {"customers": result.customers, "billed": result.billed, "disabled": result.disabled}


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True
)
def email_instance_notices(notices: list[dict]) -> int:
    """Queued on commit by a billed chunk: disabled instances and low balances."""
    from billing.notifications_balance import notify_instance_notices

    for notice in notices:
        notify_instance_notices(notice=notice)
    return len(notices)


@shared_task(bind=True, max_retries=60, ignore_result=True)
def instance_billing_finish(self, at: str) -> dict:
    """Queued after the fan-out: waits (retrying every minute) until no enabled instance
    is left unbilled for the run, then runs the check and logs its counts."""
    from billing.services.instance_billing import instance_billing_check, instance_billing_pending

    run = datetime.fromisoformat(at)
    if instance_billing_pending(at=run) and self.request.retries < self.max_retries:
        raise self.retry(countdown=60)
    check = instance_billing_check(day=run.date())
    summary = {
        "day": run.date().isoformat(),
        "enabled": check.enabled,
        "charges": check.charges,
        "unbilled": len(check.unbilled),
        "charged_twice": len(check.twice),
    }
    (logger.info if check.ok else logger.error)("instance billing check %s", summary)
    nightly_run_finish(kind=NightlyRunKind.INSTANCES, day=run.date(), counts=summary)
    return summary


@shared_task
def nightly_instance_billing() -> dict:
    """00:00 UTC: fans the customers with enabled instances out to the workers in chunks
    (queued on commit), then queues the check that ends the run."""
    from billing.services.instance_billing import instance_billing_chunks, run_at

    at = run_at(timezone.now().date()).isoformat()
    chunks = 0
    with transaction.atomic():
        for ids in instance_billing_chunks():
            transaction.on_commit(lambda ids=ids: bill_instances_chunk.delay(ids, at))
            chunks += 1
        day = datetime.fromisoformat(at).date()
        nightly_run_start(kind=NightlyRunKind.INSTANCES, day=day, counts={"chunks": chunks})
        transaction.on_commit(lambda: instance_billing_finish.apply_async((at,), countdown=60))
    return {"chunks": chunks, "at": at}


# ---- sweeps: work a crash or a lost queue left undone ------------------------------------


@shared_task(
    autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5, ignore_result=True
)
def sweep_unfinished_work() -> dict:
    """Every few minutes: invoice e-mails and first collection attempts that were
    committed but never done (services/sweeps.py)."""
    from billing.services.sweeps import sweeps_run

    result = sweeps_run()
    return {"emailed": result.emailed, "collections_started": result.collections_started}
