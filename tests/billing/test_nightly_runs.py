"""The nightly runs' record and the watchdog (billing/services/nightly_runs.py): a run still
incomplete NIGHTLY_RUN_ALERT_MINUTES after it started gets its missing chunks queued
again and staff one e-mail; a complete run is left alone. Time travels, nothing sleeps."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.core import mail

from billing.models import (
    BalanceEntry,
    BalanceKind,
    Invoice,
    InvoiceKind,
    NightlyRun,
    NightlyRunKind,
    NightlyRunStatus,
)
from billing.services.nightly_runs import nightly_run_finish, nightly_run_start, nightly_runs_watch
from billing.services.renewals import renewals_run
from billing.tasks import nightly_billing, nightly_instance_billing
from fleet.models import Instance
from tests.billing.instance_helpers import new_instance, package, top_up, utc
from tests.factories import CustomerFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

DEC_1 = date(2026, 12, 1)  # the subscriptions' period (1 Nov - 1 Dec) ends: renewal night
RUN = utc(2026, 12, 1, 0, 0, 5)  # the nightly task starts


def _staff_alerts() -> list:
    return [m for m in mail.outbox if m.to == [settings.STAFF_ALERT_EMAIL]]


def _lost_renewal_run(settings) -> NightlyRun:
    """The fan-out recorded its run and queued one chunk, which a dead worker lost."""
    settings.NIGHTLY_RUN_ALERT_MINUTES = 30
    SubscriptionFactory(quantity=25)
    with time_machine.travel(RUN, tick=False):
        return nightly_run_start(
            kind=NightlyRunKind.RENEWALS, day=DEC_1, counts={"renewal_chunks": 1}
        )


def test_a_run_not_yet_past_the_alert_time_is_left_alone(settings):
    run = _lost_renewal_run(settings)
    with time_machine.travel(RUN + timedelta(minutes=29), tick=False):
        assert nightly_runs_watch() == []
    run.refresh_from_db()
    assert (run.status, run.alerted_at, run.requeued_at) == (NightlyRunStatus.RUNNING, None, None)
    assert not Invoice.objects.exists()  # nothing queued again
    assert mail.outbox == []


def test_an_incomplete_run_is_queued_again_and_alerted_once(
    settings, django_capture_on_commit_callbacks
):
    run = _lost_renewal_run(settings)
    tick = RUN + timedelta(minutes=31)
    with (
        time_machine.travel(tick, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        [outcome] = nightly_runs_watch()
    # The eager worker ran the queued chunk: the subscription is renewed, once.
    assert (outcome.kind, outcome.requeued_chunks, outcome.alerted) == ("renewals", 1, True)
    assert Invoice.objects.filter(kind=InvoiceKind.RENEWAL).count() == 1
    [alert] = _staff_alerts()
    assert alert.subject == "Nightly run incomplete: renewals 2026-12-01"
    assert "1 subscriptions still due" in alert.body
    assert "/admin/nightly-health/" in alert.body
    run.refresh_from_db()
    assert (run.status, run.alerted_at, run.requeues) == (NightlyRunStatus.INCOMPLETE, tick, 1)

    # The next tick: nothing is missing any more, the run is complete; no second e-mail,
    # nothing queued again, still one invoice.
    with (
        time_machine.travel(tick + timedelta(minutes=5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        [outcome] = nightly_runs_watch()
    assert (outcome.status, outcome.requeued_chunks, outcome.alerted) == ("complete", 0, False)
    assert len(_staff_alerts()) == 1
    assert Invoice.objects.filter(kind=InvoiceKind.RENEWAL).count() == 1
    run.refresh_from_db()
    assert run.status == NightlyRunStatus.COMPLETE
    assert run.finished_at == tick + timedelta(minutes=5)
    assert run.counts["completed_by"] == "watchdog"
    assert run.counts["renewal_invoices"] == 1


def test_a_run_still_incomplete_is_not_alerted_twice_and_requeued_once_per_period(
    settings, django_capture_on_commit_callbacks
):
    """No worker consumes what is queued (execute=False): the run stays incomplete."""
    run = _lost_renewal_run(settings)
    tick = RUN + timedelta(minutes=31)
    outcomes = []
    for minutes in (0, 5, 10, 31):  # a tick every 5 minutes, then one 31 minutes later
        with (
            time_machine.travel(tick + timedelta(minutes=minutes), tick=False),
            django_capture_on_commit_callbacks(execute=False) as callbacks,
        ):
            [outcome] = nightly_runs_watch()
        outcomes.append((outcome.requeued_chunks, outcome.alerted, len(callbacks)))
    # Queued again at once and 30 minutes later; in between nothing; one e-mail ever.
    assert outcomes == [(1, True, 2), (0, False, 0), (0, False, 0), (1, False, 1)]
    assert not Invoice.objects.exists()
    run.refresh_from_db()
    assert (run.status, run.alerted_at, run.requeues) == (NightlyRunStatus.INCOMPLETE, tick, 2)


def test_a_complete_run_is_left_alone(settings, django_capture_on_commit_callbacks):
    _lost_renewal_run(settings)
    with time_machine.travel(RUN + timedelta(seconds=2), tick=False):
        renewals_run(today=DEC_1)
        run = nightly_run_finish(kind=NightlyRunKind.RENEWALS, day=DEC_1)
    assert run.status == NightlyRunStatus.COMPLETE
    before = NightlyRun.objects.values().get(pk=run.pk)
    with (
        time_machine.travel(RUN + timedelta(hours=2), tick=False),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        assert nightly_runs_watch() == []
    assert callbacks == []  # nothing queued, no e-mail
    assert _staff_alerts() == []
    assert NightlyRun.objects.values().get(pk=run.pk) == before
    assert Invoice.objects.filter(kind=InvoiceKind.RENEWAL).count() == 1


def test_an_incomplete_instance_run_is_billed_once_when_queued_again(
    settings, django_capture_on_commit_callbacks
):
    settings.NIGHTLY_RUN_ALERT_MINUTES = 30
    customer = CustomerFactory()
    top_up(customer, "100.00", "t1")
    instance = new_instance(customer, package("p", "10.00"))
    Instance.objects.filter(pk=instance.pk).update(enabled=True, paid_until=utc(2026, 12, 1))
    with time_machine.travel(RUN, tick=False):
        nightly_run_start(kind=NightlyRunKind.INSTANCES, day=DEC_1, counts={"chunks": 1})
    for minutes in (31, 36):  # the chunk queued again and billed, then the run complete
        with (
            time_machine.travel(RUN + timedelta(minutes=minutes), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            nightly_runs_watch()
    charges = BalanceEntry.objects.filter(kind=BalanceKind.INSTANCE_CHARGE)
    assert [(e.instance_id, e.amount) for e in charges] == [(instance.pk, Decimal("-10.00"))]
    assert len(_staff_alerts()) == 1
    run = NightlyRun.objects.get(kind=NightlyRunKind.INSTANCES)
    assert (run.status, run.requeues) == (NightlyRunStatus.COMPLETE, 1)


def test_the_nightly_tasks_record_their_runs_and_the_finish_steps_complete_them(
    django_capture_on_commit_callbacks,
):
    SubscriptionFactory(quantity=25)
    customer = CustomerFactory()
    top_up(customer, "100.00", "t1")
    instance = new_instance(customer, package("p", "10.00"))
    Instance.objects.filter(pk=instance.pk).update(enabled=True, paid_until=utc(2026, 12, 1))
    with (
        time_machine.travel(RUN, tick=False),
        django_capture_on_commit_callbacks(execute=True),  # eager: chunks, then finish
    ):
        nightly_billing()
        nightly_instance_billing()
    runs = {run.kind: run for run in NightlyRun.objects.all()}
    renewals, instances = runs["renewals"], runs["instances"]
    assert (renewals.status, renewals.started_at, renewals.finished_at) == ("complete", RUN, RUN)
    assert renewals.counts["renewal_chunks"] == 1
    assert renewals.counts["renewal_invoices"] == 1
    assert (instances.status, instances.counts["charges"], instances.counts["unbilled"]) == (
        "complete",
        1,
        0,
    )
    assert _staff_alerts() == []
    assert NightlyRun.objects.filter(alerted_at__isnull=False).count() == 0
