"""Gapless numbering under real row locks (PostgreSQL): 20 invoices finalized in parallel
threads get 20 consecutive numbers, no gap, no duplicate."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from billing.models import Invoice, InvoiceStatus, NumberSequence
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from tests.factories import CustomerFactory

pytestmark = pytest.mark.postgres

PARALLEL = 20


def _run_in_threads(work, items):
    barrier = threading.Barrier(len(items))
    errors = []

    def run(item):
        try:
            barrier.wait(timeout=30)
            work(item)
        except Exception as error:  # reported below, with the thread's item
            errors.append((item, error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_finalizations_get_twenty_consecutive_numbers(on_postgres):
    customers = [CustomerFactory() for _ in range(4)]
    drafts = []
    for index in range(PARALLEL):
        draft = invoice_create_draft(customer=customers[index % 4])
        invoice_add_line(invoice=draft, description="Core", quantity=1, unit_price=Decimal("4"))
        drafts.append(draft.pk)

    _run_in_threads(
        lambda pk: invoice_finalize(
            invoice=Invoice.objects.get(pk=pk), actor=None, issued_on=date(2026, 11, 23)
        ),
        drafts,
    )

    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"CAJ-2026-{n:06d}" for n in range(1, PARALLEL + 1)]
    assert set(Invoice.objects.values_list("status", flat=True)) == {InvoiceStatus.OPEN}
    assert NumberSequence.objects.get(series="CAJ", year=2026).last_number == PARALLEL


@pytest.mark.django_db(transaction=True)
def test_parallel_credit_notes_on_one_invoice_never_exceed_it(on_postgres):
    """Ten staff credit 10.00 each on one open 40.00 invoice at once: four succeed,
    numbered CN-2026-000001..4 with no gap, lowering it to nothing; the rest are refused."""
    customer = CustomerFactory(country="US")
    draft = invoice_create_draft(customer=customer)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=draft, actor=None, issued_on=date(2026, 11, 2))
    refused = []

    def credit(_):
        from billing.errors import BillingError

        try:
            credit_note_issue(
                invoice=invoice,
                amount="10.00",
                reason="goodwill",
                actor=None,
                issued_on=date(2026, 11, 23),
            )
        except BillingError as error:
            refused.append(error.message)

    _run_in_threads(credit, list(range(10)))

    assert sorted(invoice.credit_notes.values_list("number", flat=True)) == [
        f"CN-2026-{n:06d}" for n in range(1, 5)
    ]
    assert len(refused) == 6
    customer.refresh_from_db()
    # Notes on an open invoice lower what it asks; none of it becomes credit.
    assert customer.credit_balance == Decimal("0.00")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.VOID, Decimal("0.00"))
