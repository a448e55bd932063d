"""The invoice e-mail claim under real row locks (PostgreSQL): the on-commit task and
sweeps racing for the same un-e-mailed invoices, in parallel threads, send each e-mail
once (the conditional UPDATE of emailed_at lets one sender through)."""

import threading
from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from billing import tasks
from billing.models import Invoice
from billing.services.renewals import renewals_renew_chunk
from billing.services.sweeps import invoice_emails_sweep
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.postgres


@pytest.mark.django_db(transaction=True)
def test_tasks_and_sweeps_racing_email_each_invoice_once(on_postgres, settings):
    settings.BILLING_SWEEP_GRACE_MINUTES = 10
    subscriptions = [SubscriptionFactory() for _ in range(5)]
    renewals_renew_chunk(subscription_ids=[s.pk for s in subscriptions], today=date(2026, 12, 1))
    # The renewal task ran right after the commit (outside a test transaction on_commit
    # runs at once); forget that, as if the process had been killed first.
    Invoice.objects.update(emailed_at=None, created_at=timezone.now() - timedelta(minutes=11))
    mail.outbox.clear()
    ids = list(Invoice.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) == 5

    barrier = threading.Barrier(8)
    sent, errors = [], []

    def run(work):
        try:
            barrier.wait(timeout=30)
            sent.append(work())
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    workers = [lambda: tasks.email_issued_invoices(invoice_ids=ids)["emailed"]] * 4
    workers += [invoice_emails_sweep] * 4
    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sum(sent) == 5
    subjects = sorted(m.subject for m in mail.outbox)
    assert len(subjects) == 5
    for number in Invoice.objects.values_list("number", flat=True):
        assert sum(f"invoice {number} issued" in s for s in subjects) == 1
    assert not Invoice.objects.filter(emailed_at__isnull=True).exists()
