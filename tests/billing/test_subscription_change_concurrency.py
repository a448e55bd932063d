"""Two edits of one subscription at once end consistent: the row lock runs them one after
the other, and the second sees the first's quantity (PostgreSQL, real row locks)."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from billing.errors import BillingError
from billing.models import CreditEntry, CreditNote, Invoice, InvoiceKind, Subscription
from billing.services.quantity_change import subscription_change_quantity
from tests.factories import SubscriptionFactory

TODAY = date(2026, 11, 23)  # 8 of 30 days left in November


def _run_concurrently(subscription, quantities):
    barrier = threading.Barrier(len(quantities))
    outcomes = []

    def edit(quantity):
        try:
            barrier.wait()
            # Each thread holds a stale copy saying quantity=10, as two browser tabs would.
            subscription_change_quantity(
                subscription=subscription, quantity=quantity, actor=None, today=TODAY
            )
            outcomes.append("ok")
        except BillingError as error:
            outcomes.append(error.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(q,)) for q in quantities]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_identical_increases_invoice_once(on_postgres):
    subscription = SubscriptionFactory(quantity=10)
    outcomes = _run_concurrently(subscription, [15, 15])
    assert sorted(outcomes) == ["The subscription already has 15 licences.", "ok"]
    subscription.refresh_from_db()
    subscription.organization.refresh_from_db()
    assert subscription.quantity == subscription.organization.licence_count == 15
    (invoice,) = Invoice.objects.filter(kind=InvoiceKind.PRORATION)
    assert invoice.subtotal.amount == Decimal("5.33")  # 4.00 x 5 x 8/30


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_different_edits_bill_exactly_the_net_change(on_postgres):
    subscription = SubscriptionFactory(quantity=10)
    outcomes = _run_concurrently(subscription, [20, 12])
    assert outcomes == ["ok", "ok"]
    subscription = Subscription.objects.get(pk=subscription.pk)
    subscription.organization.refresh_from_db()
    final = subscription.quantity
    assert final in (20, 12)
    assert subscription.organization.licence_count == final
    invoiced = sum(i.subtotal.amount for i in Invoice.objects.filter(kind=InvoiceKind.PRORATION))
    credited = sum(e.amount for e in CreditEntry.objects.filter(subscription=subscription))
    # Either 10 -> 20 -> 12 (invoice 10 licences, then a credit note of 8 lowering that
    # unpaid invoice, no credit) or 10 -> 12 -> 20 (invoice 2, then 8 more): never both
    # edits priced from the stale quantity 10.
    if final == 12:
        (note,) = CreditNote.objects.all()
        assert (invoiced, credited, note.subtotal.amount) == (
            Decimal("10.67"),
            0,
            Decimal("8.53"),
        )
    else:
        assert (invoiced, credited) == (Decimal("2.13") + Decimal("8.53"), 0)
