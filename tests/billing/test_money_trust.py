"""Money never appears from nothing.

The sequence reproduced on the demo (Core monthly 30 -> 1030 -> 30 made 3,200.00 EUR of
spendable credit out of an unpaid invoice), then a property test over random sequences
of increases, decreases, payments, credit notes, staff grants and renewals:
- credit created never exceeds what was paid (money or credit) plus what staff granted;
- the ledger sums to the balance, and each entry's balance_after runs that sum;
- every invoice's amount due == total - credit notes applied - payments, never negative.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from djmoney.money import Money
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.errors import BillingError
from billing.models import (
    CreditEntry,
    CreditKind,
    CreditNote,
    Customer,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Subscription,
)
from billing.money import round_money
from billing.services.credit import credit_grant_by_staff
from billing.services.credit_notes import credit_note_creditable, credit_note_issue
from billing.services.invoices import invoice_mark_paid
from billing.services.proration import subscription_quantity_preview
from billing.services.quantity_change import subscription_change_quantity
from billing.services.renewals import renewals_renew_chunk
from tests.factories import CustomerFactory, PlanFactory, SubscriptionFactory, period_invoice_paid

pytestmark = pytest.mark.django_db

NOV_23 = date(2026, 11, 23)  # 8 of November's 30 days left


def _core_monthly(customer, quantity):
    plan = PlanFactory(code="core-monthly-eur", unit_price=Money("14.31", "EUR"))
    subscription = SubscriptionFactory(customer=customer, plan=plan, quantity=quantity)
    period_invoice_paid(subscription)
    return subscription


def test_the_demo_credit_hole_is_closed():
    customer = CustomerFactory(country="FR")
    paris = _core_monthly(customer, 30)
    lyon = SubscriptionFactory(customer=customer, plan=paris.plan, quantity=30)
    period_invoice_paid(lyon)

    up = subscription_change_quantity(subscription=paris, quantity=1030, actor=None, today=NOV_23)
    assert up.invoice.status == InvoiceStatus.OPEN
    assert up.invoice.total == Money("4579.20", "EUR")  # 14.31 x 1000 x 8/30 = 3816.00 + VAT

    paris.refresh_from_db()
    preview = subscription_quantity_preview(subscription=paris, quantity=30, today=NOV_23)
    (reduction,) = preview.reductions
    assert (reduction.invoice_number, reduction.amounts.applied_to_invoice) == (
        up.invoice.number,
        Decimal("4579.20"),
    )
    assert preview.credit_gained == Decimal("0.00")
    down = subscription_change_quantity(
        subscription=paris, quantity=30, actor=None, today=NOV_23, expected_terms=preview.terms
    )
    assert [note.credited.amount for note in down.credit_notes] == [Decimal("0.00")]
    up.invoice.refresh_from_db()
    assert (up.invoice.status, up.invoice.amount_due) == (InvoiceStatus.VOID, Money("0", "EUR"))
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("0.00")

    # A third change, on another organization, is invoiced: there is no credit to pay it.
    third = subscription_change_quantity(subscription=lyon, quantity=40, actor=None, today=NOV_23)
    assert third.invoice.credit_applied == Money("0.00", "EUR")
    assert third.invoice.status == InvoiceStatus.OPEN
    assert third.invoice.amount_due == third.invoice.total == Money("45.79", "EUR")


def test_a_decrease_below_a_paid_increase_credits_only_the_paid_part():
    customer = CustomerFactory(country="FR")
    subscription = _core_monthly(customer, 10)
    up = subscription_change_quantity(
        subscription=subscription, quantity=20, actor=None, today=NOV_23
    )
    invoice_mark_paid(invoice=up.invoice, actor=None)
    down = subscription_change_quantity(
        subscription=subscription, quantity=5, actor=None, today=NOV_23
    )
    # 15 licences x 14.31 x 8/30 = 57.24, all of it paid: 10 from the increase's invoice
    # (newest first), the other 5 from the period's invoice, each with its credit note.
    assert [(n.invoice, n.credited.amount) for n in down.credit_notes] == [
        (up.invoice, Decimal("38.16")),
        (Invoice.objects.get(kind=InvoiceKind.RENEWAL), Decimal("19.08")),
    ]
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("57.24")
    assert set(customer.credit_entries.values_list("kind", flat=True)) == {"credit_note"}


def test_a_preview_confirmed_after_the_credit_moved_is_refused_and_changes_nothing():
    customer = CustomerFactory(country="FR")
    subscription = _core_monthly(customer, 10)
    credit_grant_by_staff(customer=customer, amount="5.00", reason="goodwill", actor="staff")
    preview = subscription_quantity_preview(subscription=subscription, quantity=12, today=NOV_23)
    assert preview.credit_used == Decimal("5.00")
    credit_grant_by_staff(customer=customer, amount="1.00", reason="more", actor="staff")
    invoices_before = Invoice.objects.count()
    with pytest.raises(BillingError) as refused:
        subscription_change_quantity(
            subscription=subscription,
            quantity=12,
            actor=None,
            today=NOV_23,
            expected_terms=preview.terms,
        )
    assert refused.value.code == "preview_changed"
    subscription.refresh_from_db()
    customer.refresh_from_db()
    assert (subscription.quantity, customer.credit_balance) == (10, Decimal("6.00"))
    assert Invoice.objects.count() == invoices_before


# ---- the property test ---------------------------------------------------------------

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("change"), st.integers(0, 1), st.integers(1, 40)),
        st.tuples(st.just("pay"), st.integers(0, 5)),
        st.tuples(st.just("note"), st.integers(0, 5), st.integers(1, 100)),
        st.tuples(st.just("grant"), st.integers(1, 3000)),
        st.tuples(st.just("days"), st.integers(1, 20)),
    ),
    min_size=1,
    max_size=14,
)


def _paid_value(invoice: Invoice) -> Decimal:
    """What was paid for an invoice, before VAT: the credit it used, plus its taxable part
    once paid."""
    taxable = invoice.subtotal.amount - invoice.credit_applied.amount
    return invoice.credit_applied.amount + (
        taxable if invoice.status == InvoiceStatus.PAID else Decimal(0)
    )


def _check_invariants(customer: Customer) -> None:
    customer.refresh_from_db()
    entries = CreditEntry.objects.filter(customer=customer).order_by("id")
    running = Decimal(0)
    for entry in entries:
        running += entry.amount
        assert entry.balance_after == running >= 0
    assert running == customer.credit_balance
    created = entries.filter(amount__gt=0).exclude(kind=CreditKind.STAFF_GRANT)
    made = created.aggregate(s=Sum("amount"))["s"] or Decimal(0)
    paid = sum((_paid_value(i) for i in Invoice.objects.filter(customer=customer)), Decimal(0))
    assert made <= paid, f"credit made {made} > paid {paid}"
    for invoice in Invoice.objects.filter(customer=customer).exclude(status="draft"):
        applied = CreditNote.objects.filter(invoice=invoice).aggregate(s=Sum("applied_to_invoice"))[
            "s"
        ] or Decimal(0)
        paid_amount = invoice.total.amount - applied if invoice.status == "paid" else 0
        assert invoice.amount_due.amount == invoice.total.amount - applied - paid_amount
        assert invoice.amount_due.amount >= 0


def _apply(operation, *, customer, subscriptions, today) -> date:
    kind = operation[0]
    if kind == "change":
        subscription = Subscription.objects.get(pk=subscriptions[operation[1]].pk)
        subscription_change_quantity(
            subscription=subscription, quantity=operation[2], actor=None, today=today
        )
    elif kind == "pay":
        open_invoices = list(Invoice.objects.filter(customer=customer, status="open"))
        if open_invoices:
            invoice_mark_paid(invoice=open_invoices[operation[1] % len(open_invoices)], actor=None)
    elif kind == "note":
        invoices = list(
            Invoice.objects.filter(customer=customer).exclude(status__in=["draft", "void"])
        )
        if invoices:
            invoice = invoices[operation[1] % len(invoices)]
            left = credit_note_creditable(invoice=invoice)
            amount = round_money(left * operation[2] / 100)
            if amount > 0:
                credit_note_issue(invoice=invoice, amount=amount, reason="property", actor=None)
    elif kind == "grant":
        credit_grant_by_staff(
            customer=customer, amount=Decimal(operation[1]) / 100, reason="test", actor="staff"
        )
    else:
        today += timedelta(days=operation[1])
        renewals_renew_chunk(subscription_ids=[s.pk for s in subscriptions], today=today)
    return today


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
def test_no_sequence_makes_credit_from_money_never_paid(operations):
    with transaction.atomic():
        customer = CustomerFactory(country="FR")
        plan = PlanFactory(code="core-monthly-prop", unit_price=Money("9.99", "EUR"))
        subscriptions = [
            SubscriptionFactory(customer=customer, plan=plan, quantity=10) for _ in range(2)
        ]
        for subscription in subscriptions:
            period_invoice_paid(subscription)
        today = date(2026, 11, 10)
        for operation in operations:
            try:
                with transaction.atomic():
                    today = _apply(
                        operation, customer=customer, subscriptions=subscriptions, today=today
                    )
            except BillingError:
                pass  # refused: the savepoint rolled back whatever it had started
            _check_invariants(customer)
        assert Invoice.objects.filter(customer=customer, kind=InvoiceKind.RENEWAL).exists()
        transaction.set_rollback(True)
