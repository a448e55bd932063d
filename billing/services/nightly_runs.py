"""The nightly runs' record (billing.models.NightlyRun) and their watchdog.

The nightly tasks record when a run started and what they queued; the finish steps
record when no work was left. A chunk can still be lost: its worker killed (the broker
hands it out again after CELERY_VISIBILITY_TIMEOUT only if the broker kept it), Redis
restarted empty, a chunk past its time limit. So a watchdog, every few minutes, looks at
each run still not complete NIGHTLY_RUN_ALERT_MINUTES after it started and

- queues what is still missing again: the chunk services are idempotent (they lock their
  rows and skip what is already done), so a chunk queued twice bills nothing twice; at
  most once every NIGHTLY_RUN_ALERT_MINUTES, so a queue nobody consumes does not grow
  each tick;
- e-mails staff (STAFF_ALERT_EMAIL) once per run; the admin health page shows it too;
- marks the run complete once nothing is missing (a finish step lost with its worker).
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice, InvoiceKind, NightlyRun, NightlyRunKind, NightlyRunStatus
from billing.services.instance_billing import (
    INSTANCE_CHUNK_SIZE,
    instance_billing_pending,
    run_at,
)
from billing.services.renewals import renewals_due_chunks, subscriptions_due_for_renewal
from fleet.models import Instance

logger = logging.getLogger(__name__)

# Runs older than this are no longer watched: they were alerted, and a later night's run
# bills what they missed (renewals catch up; instances are billed from their paid-until).
WATCH_DAYS = 2


def nightly_run_alert_after() -> timedelta:
    return timedelta(minutes=getattr(settings, "NIGHTLY_RUN_ALERT_MINUTES", 30))


def nightly_run_start(*, kind: NightlyRunKind, day: date, counts: dict) -> NightlyRun:
    """Called by the nightly task when it has queued its chunks. Sent again (Redis lost
    its queue), the run keeps its start and is running again until its finish step."""
    with transaction.atomic():
        run, created = NightlyRun.objects.select_for_update().get_or_create(
            kind=kind, day=day, defaults={"started_at": timezone.now(), "counts": counts}
        )
        if not created:
            run.counts = {**run.counts, **counts}
            run.status, run.finished_at = NightlyRunStatus.RUNNING, None
            run.save(update_fields=["counts", "status", "finished_at"])
    return run


def nightly_run_count(*, kind: NightlyRunKind, day: date, counts: dict) -> None:
    """Adds counts to the run (e.g. the overdue invoices marked after the fan-out)."""
    with transaction.atomic():
        run = NightlyRun.objects.select_for_update().filter(kind=kind, day=day).first()
        if run:
            run.counts = {**run.counts, **counts}
            run.save(update_fields=["counts"])


def nightly_run_pending(*, kind: NightlyRunKind, day: date) -> bool:
    """Whether the run still has work to do: a subscription due that day not renewed, an
    enabled instance not billed past that day's 00:00 UTC."""
    if kind == NightlyRunKind.RENEWALS:
        return subscriptions_due_for_renewal(today=day).exists()
    return instance_billing_pending(at=run_at(day))


def nightly_run_finish(
    *, kind: NightlyRunKind, day: date, counts: dict | None = None
) -> NightlyRun:
    """The finish step: complete if nothing is left, else incomplete (the watchdog takes
    over). A run started before this record existed gets one, started at 00:00 UTC."""
    pending = nightly_run_pending(kind=kind, day=day)
    now = timezone.now()
    with transaction.atomic():
        run, _ = NightlyRun.objects.select_for_update().get_or_create(
            kind=kind, day=day, defaults={"started_at": run_at(day)}
        )
        run.counts = {**run.counts, **(counts or {}), **_done(run)}
        if pending:
            run.status = NightlyRunStatus.INCOMPLETE
        else:
            run.status, run.finished_at = NightlyRunStatus.COMPLETE, run.finished_at or now
        run.save(update_fields=["counts", "status", "finished_at"])
    return run


def _done(run: NightlyRun) -> dict:
    """What the run did, counted in the database (chunks may have been retried)."""
    if run.kind == NightlyRunKind.RENEWALS:
        invoices = Invoice.objects.filter(kind=InvoiceKind.RENEWAL, created_at__gte=run.started_at)
        return {"renewal_invoices": invoices.count()}
    return {"still_unbilled": Instance.objects.filter(_unbilled(run_at(run.day))).count()}


def _unbilled(at: datetime) -> Q:
    return Q(enabled=True) & (Q(paid_until__isnull=True) | Q(paid_until__lte=at))


# ---- the watchdog ----------------------------------------------------------------------


@dataclass
class WatchOutcome:
    kind: str
    day: date
    status: str
    requeued_chunks: int = 0
    alerted: bool = False


def nightly_runs_watch(*, now: datetime | None = None) -> list[WatchOutcome]:
    """Every run not complete NIGHTLY_RUN_ALERT_MINUTES after it started: requeue what is
    missing, alert staff once, or mark it complete if nothing is missing any more."""
    now = now or timezone.now()
    due = NightlyRun.objects.filter(
        started_at__lte=now - nightly_run_alert_after(),
        day__gte=now.date() - timedelta(days=WATCH_DAYS),
    ).exclude(status=NightlyRunStatus.COMPLETE)
    return [_watch(run_id=run_id, now=now) for run_id in due.values_list("pk", flat=True)]


@transaction.atomic
def _watch(*, run_id: int, now: datetime) -> WatchOutcome:
    run = NightlyRun.objects.select_for_update().get(pk=run_id)
    outcome = WatchOutcome(kind=run.kind, day=run.day, status=run.status)
    if run.status == NightlyRunStatus.COMPLETE:  # finished meanwhile
        return outcome
    if not nightly_run_pending(kind=run.kind, day=run.day):
        run.status, run.finished_at = NightlyRunStatus.COMPLETE, now
        run.counts = {**run.counts, **_done(run), "completed_by": "watchdog"}
        run.save(update_fields=["status", "finished_at", "counts"])
        outcome.status = run.status
        logger.info("nightly run %s completed (seen by the watchdog)", run)
        return outcome
    run.status = NightlyRunStatus.INCOMPLETE
    if run.requeued_at is None or run.requeued_at <= now - nightly_run_alert_after():
        outcome.requeued_chunks = _requeue(run)
        run.requeued_at, run.requeues = now, run.requeues + 1
    if run.alerted_at is None:
        run.alerted_at, outcome.alerted = now, True
        _alert(run)
    run.save(update_fields=["status", "requeued_at", "requeues", "alerted_at"])
    outcome.status = run.status
    logger.error(
        "nightly run %s incomplete %s after its start: %d chunk(s) queued again",
        run,
        now - run.started_at,
        outcome.requeued_chunks,
    )
    return outcome


def _requeue(run: NightlyRun) -> int:
    """Queues the missing chunks again, on commit (the tasks module imports the services)."""
    from billing.tasks import bill_instances_chunk, renew_subscriptions_chunk

    chunks = 0
    if run.kind == NightlyRunKind.RENEWALS:
        today = run.day.isoformat()
        for ids in renewals_due_chunks(today=run.day):
            transaction.on_commit(lambda ids=ids: renew_subscriptions_chunk.delay(ids, today))
            chunks += 1
        return chunks
    at = run_at(run.day)
    customer_ids = list(
        Instance.objects.filter(_unbilled(at))
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()
    )
    for start in range(0, len(customer_ids), INSTANCE_CHUNK_SIZE):
        ids = customer_ids[start : start + INSTANCE_CHUNK_SIZE]
        transaction.on_commit(lambda ids=ids: bill_instances_chunk.delay(ids, at.isoformat()))
        chunks += 1
    return chunks


def _alert(run: NightlyRun) -> None:
    """One e-mail to staff, sent on commit (a failing mail server is logged, the run's
    alerted_at stays set: the admin health page shows the run in red either way)."""
    missing = (
        subscriptions_due_for_renewal(today=run.day).count()
        if run.kind == NightlyRunKind.RENEWALS
        else Instance.objects.filter(_unbilled(run_at(run.day))).count()
    )
    renewals = run.kind == NightlyRunKind.RENEWALS
    what = "subscriptions still due" if renewals else "enabled instances unbilled"
    body = (
        f"The nightly run {run.get_kind_display()} of {run.day:%Y-%m-%d} started at "
        f"{run.started_at:%Y-%m-%d %H:%M} UTC and is not complete: {missing} {what}.\n\n"
        "Its missing chunks were queued again. If it is still incomplete, check that the "
        "Celery workers and beat are running (admin: Workers and nightly runs), then "
        "docs/DEPLOY.md, 'Nightly runs and the watchdog'.\n\n"
        f"Counts so far: {run.counts}\n"
        f"{settings.PORTAL_BASE_URL}{reverse('admin:nightly-health')}\n"
    )
    mail = EmailMessage(
        subject=f"Nightly run incomplete: {run.kind} {run.day:%Y-%m-%d}",
        body=body,
        to=[settings.STAFF_ALERT_EMAIL],
    )
    transaction.on_commit(mail.send, robust=True)


# ---- read by the admin health page -----------------------------------------------------


def nightly_runs_latest() -> dict[str, NightlyRun | None]:
    """The last run of each kind."""
    return {
        kind: NightlyRun.objects.filter(kind=kind).order_by("-day").first()
        for kind in NightlyRunKind.values
    }


def nightly_runs_attention() -> list[NightlyRun]:
    """Runs not complete, or alerted, in the last WATCH_DAYS + 5 days: shown in red."""
    since = timezone.now().date() - timedelta(days=WATCH_DAYS + 5)
    return list(
        NightlyRun.objects.filter(day__gte=since)
        .filter(~Q(status=NightlyRunStatus.COMPLETE) | Q(alerted_at__isnull=False))
        .order_by("-day", "kind")
    )
