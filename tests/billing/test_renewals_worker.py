"""nightly_billing through the real broker and a real worker: it fans the renewals out in
chunks (queued on commit) and the worker issues the invoices."""

import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from billing.models import Invoice, InvoiceKind
from billing.tasks import nightly_billing
from tests.factories import SubscriptionFactory


def _invoice_count() -> int:
    try:
        return Invoice.objects.count()
    except OperationalError:
        # The test database on SQLite is in memory with a shared cache: a read while the
        # worker's thread writes fails at once with "table is locked" instead of waiting.
        return -1


@pytest.mark.django_db(transaction=True)
def test_nightly_billing_runs_through_the_broker_and_issues_the_invoices(
    celery_worker,
):
    today = timezone.now().date()
    due = [SubscriptionFactory(current_period_start=today - timedelta(days=31)) for _ in range(3)]
    for subscription in due:  # make the period end today, whatever the month's length
        subscription.current_period_end = today
        subscription.save(update_fields=["current_period_end"])
    not_due = SubscriptionFactory(current_period_start=today)

    summary = nightly_billing.delay().get(timeout=30)
    assert summary == {
        "renewal_chunks": 1,
        "collections": 0,
        "overdue_marked": 0,
        "reminders_sent": 0,
    }

    # The chunk task was queued on commit by the nightly task: wait for the worker to
    # finish it (a deadline, not a timing assertion).
    deadline = time.monotonic() + 30
    while _invoice_count() < len(due) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(Invoice.objects.values_list("subscription_id", flat=True)) == sorted(
        s.pk for s in due
    )
    assert set(Invoice.objects.values_list("kind", flat=True)) == {InvoiceKind.RENEWAL}
    assert not Invoice.objects.filter(subscription=not_due).exists()
