"""Proration to the cent: the preview and the applied change agree, for every kind of period.

Fraction = remaining days (today inclusive, period end exclusive) / days in the period;
one rounding per line, half up. French customers pay 20% VAT, US ones none.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from djmoney.money import Money

from audit.models import AuditEntry
from billing.models import CreditEntry, Invoice, InvoiceKind, InvoiceStatus, PlanKind
from billing.services.credit import credit_grant
from billing.services.proration import (
    proration_amount,
    proration_remaining_days,
    subscription_quantity_preview,
)
from billing.services.quantity_change import subscription_change_quantity
from tests.factories import (
    CustomerFactory,
    PlanFactory,
    SubscriptionFactory,
    period_invoice_paid,
)

pytestmark = pytest.mark.django_db

D = Decimal


def _subscription(
    *,
    interval="month",
    currency="EUR",
    country="FR",
    unit="4.00",
    start,
    quantity=10,
    billing_day=None,
    vat_number="",
):
    customer = CustomerFactory(currency=currency, country=country, vat_number=vat_number)
    plan = PlanFactory(
        code=f"core-{interval}-{currency}-{unit}".lower().replace(".", ""),
        kind=PlanKind.CORE,
        interval=interval,
        currency=currency,
        unit_price=Money(D(unit), currency),
    )
    extra = {"billing_day": billing_day} if billing_day else {}
    return SubscriptionFactory(
        customer=customer, plan=plan, quantity=quantity, current_period_start=start, **extra
    )


# (case, subscription, today, new quantity, remaining/period days,
#  line amount, VAT, total charged now)
INCREASES = [
    (
        "28-day month",
        dict(start=date(2026, 2, 1)),
        date(2026, 2, 15),
        13,
        (14, 28),
        "6.00",
        "1.20",
        "7.20",
    ),
    (
        "29-day month (leap February)",
        dict(start=date(2028, 2, 1)),
        date(2028, 2, 20),
        15,
        (10, 29),
        "6.90",
        "1.38",
        "8.28",
    ),
    (
        "30-day month",
        dict(start=date(2026, 11, 1)),
        date(2026, 11, 23),
        12,
        (8, 30),
        "2.13",
        "0.43",
        "2.56",
    ),
    (
        "31-day month",
        dict(start=date(2026, 12, 1)),
        date(2026, 12, 10),
        17,
        (22, 31),
        "19.87",
        "3.97",
        "23.84",
    ),
    (
        "billed on the 31st, February period",
        dict(start=date(2027, 1, 31), billing_day=31),
        date(2027, 2, 14),
        11,
        (14, 28),
        "2.00",
        "0.40",
        "2.40",
    ),
    (
        "yearly plan",
        dict(interval="year", unit="40.00", start=date(2026, 3, 15)),
        date(2026, 11, 23),
        14,
        (112, 365),
        "49.10",
        "9.82",
        "58.92",
    ),
    (
        "yearly plan over a leap year",
        dict(interval="year", unit="40.00", start=date(2027, 6, 1)),
        date(2028, 1, 10),
        11,
        (143, 366),
        "15.63",
        "3.13",
        "18.76",
    ),
    (
        "first day of the period",
        dict(start=date(2026, 11, 1)),
        date(2026, 11, 1),
        13,
        (30, 30),
        "12.00",
        "2.40",
        "14.40",
    ),
    (
        "last day of the period",
        dict(start=date(2026, 11, 1)),
        date(2026, 11, 30),
        13,
        (1, 30),
        "0.40",
        "0.08",
        "0.48",
    ),
    (
        "exact half cent rounds up",
        dict(unit="4.05", start=date(2026, 11, 1)),
        date(2026, 11, 30),
        11,
        (1, 30),
        "0.14",
        "0.03",
        "0.17",
    ),
    (
        "USD, outside the EU: no VAT",
        dict(currency="USD", country="US", unit="4.50", start=date(2026, 11, 1)),
        date(2026, 11, 23),
        20,
        (8, 30),
        "12.00",
        "0.00",
        "12.00",
    ),
    (
        "EUR, EU VAT number: reverse charge",
        dict(country="DE", vat_number="DE136695976", start=date(2026, 11, 1)),
        date(2026, 11, 23),
        13,
        (8, 30),
        "3.20",
        "0.00",
        "3.20",
    ),
]


@pytest.mark.parametrize(
    "case,setup,today,quantity,days,amount,vat,total", INCREASES, ids=[c[0] for c in INCREASES]
)
def test_increase_is_invoiced_at_once_to_the_cent(
    case, setup, today, quantity, days, amount, vat, total, django_capture_on_commit_callbacks
):
    subscription = _subscription(**setup)
    currency = subscription.customer.currency
    preview = subscription_quantity_preview(
        subscription=subscription, quantity=quantity, today=today
    )
    (line,) = preview.lines
    assert (line.remaining_days, line.period_days) == days
    assert (preview.subtotal, preview.vat_amount, preview.total_now) == (
        D(amount),
        D(vat),
        D(total),
    )
    assert preview.credit_gained == D("0.00")

    with django_capture_on_commit_callbacks(execute=True):
        change = subscription_change_quantity(
            subscription=subscription, quantity=quantity, actor=None, today=today
        )

    invoice = change.invoice
    assert invoice.kind == InvoiceKind.PRORATION and invoice.status == InvoiceStatus.OPEN
    assert invoice.issued_on == today
    assert invoice.lines.get().amount == Money(amount, currency)
    assert invoice.subtotal == Money(amount, currency)
    assert invoice.vat_amount == Money(vat, currency)
    assert invoice.total == Money(total, currency)
    assert (invoice.period_start, invoice.period_end) == (
        today,
        subscription.current_period_end,
    )
    subscription.refresh_from_db()
    subscription.organization.refresh_from_db()
    assert subscription.quantity == quantity
    assert subscription.organization.licence_count == quantity
    assert AuditEntry.objects.filter(action="subscription.change_quantity").count() == 1
    (email,) = mail.outbox
    assert email.to == [subscription.customer.email]
    assert f"now has {quantity} licences" in email.body
    assert f"{invoice.number}: {total} {currency}" in email.body


def test_remaining_days_count_today_and_not_the_end_day():
    start, end = date(2026, 11, 1), date(2026, 12, 1)
    assert proration_remaining_days(today=start, period_start=start, period_end=end) == 30
    assert (
        proration_remaining_days(today=date(2026, 11, 30), period_start=start, period_end=end) == 1
    )
    assert proration_amount(
        unit_price=D("4.05"), quantity=1, remaining_days=1, period_days=30
    ) == D("0.14")  # 0.135 exactly: half up


DECREASES = [
    ("30-day month, EUR", dict(start=date(2026, 11, 1)), date(2026, 11, 23), 4, "6.40"),
    ("31-day month, EUR", dict(start=date(2026, 12, 1)), date(2026, 12, 10), 3, "19.87"),
    (
        "28-day month, USD",
        dict(currency="USD", country="US", unit="4.50", start=date(2026, 2, 1)),
        date(2026, 2, 15),
        7,
        "6.75",
    ),
    ("last day of the period", dict(start=date(2026, 11, 1)), date(2026, 11, 30), 9, "0.13"),
]


@pytest.mark.parametrize(
    "case,setup,today,quantity,credit", DECREASES, ids=[c[0] for c in DECREASES]
)
def test_monthly_decrease_goes_to_credit_to_the_cent(
    case, setup, today, quantity, credit, django_capture_on_commit_callbacks
):
    subscription = _subscription(**setup)
    period_invoice_paid(subscription)  # the period was paid: its unused part comes back
    preview = subscription_quantity_preview(
        subscription=subscription, quantity=quantity, today=today
    )
    assert (preview.credit_gained, preview.total_now) == (D(credit), D("0.00"))
    # Documented by a credit note on the period's paid invoice: nothing was owed on it.
    (reduction,) = preview.reductions
    assert (reduction.amounts.applied_to_invoice, reduction.amounts.credited) == (
        D("0.00"),
        D(credit),
    )
    with django_capture_on_commit_callbacks(execute=True):
        change = subscription_change_quantity(
            subscription=subscription,
            quantity=quantity,
            actor=None,
            today=today,
            expected_terms=preview.terms,
        )
    assert change.invoice is None
    assert not Invoice.objects.filter(kind=InvoiceKind.PRORATION).exists()
    (note,) = change.credit_notes
    assert (note.credited.amount, note.subtotal.amount) == (D(credit), D(credit))
    subscription.customer.refresh_from_db()
    assert subscription.customer.credit_balance == D(credit)
    subscription.organization.refresh_from_db()
    assert subscription.organization.licence_count == quantity
    (email,) = mail.outbox
    assert f"Credit added to your account: {credit} {subscription.customer.currency}" in email.body


def test_yearly_decrease_waits_for_the_renewal_without_credit(django_capture_on_commit_callbacks):
    subscription = _subscription(interval="year", unit="40.00", start=date(2026, 3, 15))
    with django_capture_on_commit_callbacks(execute=True):
        change = subscription_change_quantity(
            subscription=subscription, quantity=6, actor=None, today=date(2026, 11, 23)
        )
    preview = change.preview
    assert preview.effective_on == date(2027, 3, 15)
    assert preview.licences_now == 10
    assert preview.next_renewal.quantity == 6
    assert preview.next_renewal.total == D("288.00")  # 6 x 40.00 + 20% VAT
    assert (preview.total_now, preview.credit_gained) == (D("0.00"), D("0.00"))
    subscription.refresh_from_db()
    subscription.organization.refresh_from_db()
    assert (subscription.quantity, subscription.pending_quantity) == (10, 6)
    assert subscription.organization.licence_count == 10
    assert not Invoice.objects.exists() and not CreditEntry.objects.exists()
    assert "from its renewal on 15 March 2027" in mail.outbox[0].body

    # Going back to the current quantity cancels the scheduled decrease.
    subscription_change_quantity(
        subscription=subscription, quantity=10, actor=None, today=date(2026, 11, 24)
    )
    subscription.refresh_from_db()
    assert (subscription.quantity, subscription.pending_quantity) == (10, None)


def test_increase_then_decrease_on_the_same_day_nets_to_zero_without_credit():
    subscription = _subscription(start=date(2026, 11, 1))
    period_invoice_paid(subscription)
    today = date(2026, 11, 23)
    up = subscription_change_quantity(
        subscription=subscription, quantity=15, actor=None, today=today
    )
    down = subscription_change_quantity(
        subscription=subscription, quantity=10, actor=None, today=today
    )
    assert up.invoice.subtotal == Money("5.33", "EUR")  # 4.00 x 5 x 8/30 = 5.333...
    # The unpaid increase is credited off its own invoice, which is void: no credit.
    (note,) = down.credit_notes
    assert (note.invoice, note.subtotal, note.total) == (
        up.invoice,
        Money("5.33", "EUR"),
        up.invoice.total,
    )
    assert note.credited.amount == D("0.00")
    up.invoice.refresh_from_db()
    assert (up.invoice.status, up.invoice.amount_due) == ("void", Money("0.00", "EUR"))
    subscription.customer.refresh_from_db()
    assert subscription.customer.credit_balance == D("0.00")
    subscription.refresh_from_db()
    subscription.organization.refresh_from_db()
    assert subscription.quantity == subscription.organization.licence_count == 10


def test_credit_covering_the_charge_fully_pays_the_invoice():
    subscription = _subscription(start=date(2026, 11, 1))
    customer = subscription.customer
    credit_grant(
        kind="staff_grant", customer=customer, amount=D("20.00"), reason="earlier decrease"
    )
    preview = subscription_quantity_preview(
        subscription=subscription, quantity=13, today=date(2026, 11, 23)
    )
    assert (preview.subtotal, preview.credit_used, preview.vat_amount, preview.total_now) == (
        D("3.20"),
        D("3.20"),
        D("0.00"),
        D("0.00"),
    )
    invoice = subscription_change_quantity(
        subscription=subscription, quantity=13, actor=None, today=date(2026, 11, 23)
    ).invoice
    assert invoice.credit_applied == Money("3.20", "EUR")
    assert invoice.total == Money("0.00", "EUR")
    assert invoice.status == InvoiceStatus.PAID
    customer.refresh_from_db()
    assert customer.credit_balance == D("16.80")


def test_credit_covering_the_charge_partly_leaves_the_rest_with_vat_to_pay():
    subscription = _subscription(start=date(2026, 11, 1))
    customer = subscription.customer
    credit_grant(kind="staff_grant", customer=customer, amount=D("1.00"), reason="earlier decrease")
    preview = subscription_quantity_preview(
        subscription=subscription, quantity=13, today=date(2026, 11, 23)
    )
    assert (preview.credit_used, preview.vat_amount, preview.total_now) == (
        D("1.00"),
        D("0.44"),
        D("2.64"),
    )
    invoice = subscription_change_quantity(
        subscription=subscription, quantity=13, actor=None, today=date(2026, 11, 23)
    ).invoice
    assert (invoice.credit_applied, invoice.vat_amount, invoice.total) == (
        Money("1.00", "EUR"),
        Money("0.44", "EUR"),
        Money("2.64", "EUR"),
    )
    assert invoice.status == InvoiceStatus.OPEN
    customer.refresh_from_db()
    assert customer.credit_balance == D("0.00")


def test_today_defaults_to_the_utc_date():
    subscription = _subscription(start=date(2026, 11, 1))
    # 23:30 in UTC is already the 24th in Paris: the UTC date (23rd) counts, 8 days left.
    with time_machine.travel("2026-11-23T23:30:00Z", tick=False):
        change = subscription_change_quantity(subscription=subscription, quantity=12, actor=None)
    assert change.preview.lines[0].remaining_days == 8
    assert change.invoice.subtotal == Money("2.13", "EUR")
