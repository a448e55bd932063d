"""The charge equals the preview the customer confirmed, even under concurrency
(PostgreSQL, real row locks, threads).

Reproduced on the demo before the fix: one customer with 20.00 EUR credit and two Core
monthly subscriptions; two increases confirmed at the same moment each previewed
"0.00 EUR now", and one of them issued an invoice with money due the customer never saw.
"""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from djmoney.money import Money

from billing.errors import BillingError
from billing.models import CreditEntry, Customer, Invoice, InvoiceKind
from billing.services.credit import credit_grant_by_staff
from billing.services.proration import subscription_quantity_preview
from billing.services.quantity_change import subscription_change_quantity
from billing.services.renewals import renewals_renew_chunk
from tests.factories import CustomerFactory, PlanFactory, SubscriptionFactory, period_invoice_paid

NOV_23 = date(2026, 11, 23)  # 8 of November's 30 days left


def _race(*jobs):
    """Runs the jobs at the same moment, each on its own connection; returns their
    outcomes in order (a result, or the BillingError's code)."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait()
            outcomes[index] = job()
        except BillingError as error:
            outcomes[index] = error.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _ledger_matches(customer: Customer) -> None:
    customer.refresh_from_db()
    total = CreditEntry.objects.filter(customer=customer).aggregate(s=Sum("amount"))["s"]
    assert customer.credit_balance == (total or 0) >= 0


def _customer_with_credit_and_two_subscriptions():
    customer = CustomerFactory(country="FR")
    plan = PlanFactory(code="core-monthly-race", unit_price=Money("13.50", "EUR"))
    subscriptions = [
        SubscriptionFactory(customer=customer, plan=plan, quantity=25) for _ in range(2)
    ]
    for subscription in subscriptions:
        period_invoice_paid(subscription)
    credit_grant_by_staff(customer=customer, amount="20.00", reason="goodwill", actor="staff")
    return customer, subscriptions


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_confirms_racing_for_one_credit_each_charge_what_was_previewed(on_postgres):
    customer, subscriptions = _customer_with_credit_and_two_subscriptions()
    # 13.50 x 5 x 8/30 = 18.00 each; the credit of 20.00 covers one of them.
    previews = [
        subscription_quantity_preview(subscription=s, quantity=30, today=NOV_23)
        for s in subscriptions
    ]
    assert [(p.credit_used, p.total_now) for p in previews] == [
        (Decimal("18.00"), Decimal("0.00")),
        (Decimal("18.00"), Decimal("0.00")),
    ]
    outcomes = _race(
        *[
            lambda s=s, p=p: subscription_change_quantity(
                subscription=s, quantity=30, actor=None, today=NOV_23, expected_terms=p.terms
            )
            for s, p in zip(subscriptions, previews, strict=True)
        ]
    )
    applied = [o for o in outcomes if not isinstance(o, str)]
    assert sorted(o for o in outcomes if isinstance(o, str)) == ["preview_changed"]
    (change,) = applied
    assert (change.invoice.total.amount, change.invoice.credit_applied.amount) == (
        Decimal("0.00"),
        Decimal("18.00"),
    )
    # The refused one changed nothing: one proration invoice, 2.00 of credit left.
    assert Invoice.objects.filter(kind=InvoiceKind.PRORATION).count() == 1
    assert sorted(s.quantity for s in type(subscriptions[0]).objects.all()) == [25, 30]
    _ledger_matches(customer)
    assert customer.credit_balance == Decimal("2.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_confirm_racing_a_renewal_that_uses_the_same_credit(on_postgres):
    customer, (renewing, editing) = _customer_with_credit_and_two_subscriptions()
    renewal_day = renewing.current_period_end  # 1 December
    preview = subscription_quantity_preview(subscription=editing, quantity=30, today=NOV_23)
    assert preview.credit_used == Decimal("18.00")
    outcomes = _race(
        lambda: renewals_renew_chunk(subscription_ids=[renewing.pk], today=renewal_day),
        lambda: subscription_change_quantity(
            subscription=editing,
            quantity=30,
            actor=None,
            today=NOV_23,
            expected_terms=preview.terms,
        ),
    )
    renewal, change = outcomes
    assert renewal.invoices == 1
    renewal_invoice = Invoice.objects.get(kind=InvoiceKind.RENEWAL, period_start=renewal_day)
    if change == "preview_changed":
        # The renewal took the credit first: the confirm was refused, nothing charged.
        assert renewal_invoice.credit_applied.amount == Decimal("20.00")
        assert not Invoice.objects.filter(kind=InvoiceKind.PRORATION).exists()
    else:
        # The confirm took the credit first, exactly as previewed; the renewal the rest.
        assert (change.invoice.total.amount, change.invoice.credit_applied.amount) == (
            Decimal("0.00"),
            Decimal("18.00"),
        )
        assert renewal_invoice.credit_applied.amount == Decimal("2.00")
    _ledger_matches(customer)
    assert customer.credit_balance == Decimal("0.00")
