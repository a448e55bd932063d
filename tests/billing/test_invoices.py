from datetime import date
from decimal import Decimal

import pytest
from djmoney.money import Money

from audit.models import AuditEntry
from billing.errors import BillingError
from billing.models import Invoice, InvoiceStatus, NumberSequence
from billing.services.credit import credit_grant
from billing.services.invoices import (
    invoice_add_line,
    invoice_create_draft,
    invoice_finalize,
    invoice_mark_paid,
)
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _draft(customer, *lines):
    invoice = invoice_create_draft(customer=customer)
    for quantity, price in lines:
        invoice_add_line(
            invoice=invoice,
            description="Core monthly",
            quantity=quantity,
            unit_price=Decimal(price),
        )
    return invoice


def test_draft_has_no_number_and_finalizing_numbers_it_gaplessly():
    customer = CustomerFactory()
    first = _draft(customer, (25, "4.00"))
    second = _draft(customer, (3, "4.00"))
    assert first.number is None
    first = invoice_finalize(invoice=first, actor=None, issued_on=date(2026, 11, 23))
    second = invoice_finalize(invoice=second, actor=None, issued_on=date(2026, 11, 23))
    assert (first.number, second.number) == ("CAJ-2026-000001", "CAJ-2026-000002")
    assert first.status == InvoiceStatus.OPEN
    assert first.due_on == date(2026, 12, 7)  # 14 days after issue
    assert first.bill_to["name"] == customer.name
    assert AuditEntry.objects.filter(action="invoice.finalize").count() == 2


def test_numbers_restart_each_year():
    customer = CustomerFactory()
    december = invoice_finalize(
        invoice=_draft(customer, (1, "4")), actor=None, issued_on=date(2026, 12, 31)
    )
    january = invoice_finalize(
        invoice=_draft(customer, (1, "4")), actor=None, issued_on=date(2027, 1, 1)
    )
    assert december.number == "CAJ-2026-000001"
    assert january.number == "CAJ-2027-000001"


def test_french_customer_pays_20_percent_vat_rounded_half_up_per_line():
    customer = CustomerFactory(country="FR")
    invoice = _draft(customer, (3, "3.335"))  # 10.005 -> 10.01 (half up, once per line)
    invoice = invoice_finalize(invoice=invoice, actor=None, issued_on=date(2026, 11, 23))
    assert invoice.subtotal == Money("10.01", "EUR")
    assert invoice.vat_amount == Money("2.00", "EUR")
    assert invoice.total == Money("12.01", "EUR")


def test_eu_customer_with_vat_number_gets_reverse_charge():
    customer = CustomerFactory(country="DE", vat_number="DE136695976")
    invoice = invoice_finalize(invoice=_draft(customer, (10, "4.00")), actor=None)
    assert invoice.vat_amount == Money("0.00", "EUR")
    assert invoice.total == Money("40.00", "EUR")
    assert "reverse charge" in invoice.vat_note


def test_credit_is_used_before_vat():
    customer = CustomerFactory(country="FR")
    credit_grant(kind="staff_grant", customer=customer, amount=Decimal("15.00"), reason="decrease")
    invoice = invoice_finalize(invoice=_draft(customer, (10, "4.00")), actor=None)
    assert invoice.credit_applied == Money("15.00", "EUR")
    assert invoice.vat_amount == Money("5.00", "EUR")
    assert invoice.total == Money("30.00", "EUR")
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("0.00")
    assert sorted(customer.credit_entries.values_list("amount", flat=True)) == [
        Decimal("-15.00"),
        Decimal("15.00"),
    ]


def test_credit_covering_the_whole_invoice_pays_it_and_keeps_the_rest():
    customer = CustomerFactory(country="FR")
    credit_grant(kind="staff_grant", customer=customer, amount=Decimal("50.00"), reason="decrease")
    invoice = invoice_finalize(invoice=_draft(customer, (10, "4.00")), actor=None)
    assert invoice.total == Money("0.00", "EUR")
    assert invoice.status == InvoiceStatus.PAID
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("10.00")


def test_credit_balance_can_never_go_negative_in_the_database():
    from django.db import IntegrityError, transaction
    from django.db.models import F

    from billing.models import Customer

    customer = CustomerFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(credit_balance=F("credit_balance") - 1)
    customer.refresh_from_db()
    assert customer.credit_balance == 0


def test_finalized_invoice_refuses_new_lines_and_a_second_finalization():
    customer = CustomerFactory()
    invoice = invoice_finalize(invoice=_draft(customer, (1, "4.00")), actor=None)
    with pytest.raises(BillingError, match="credit note"):
        invoice_add_line(invoice=invoice, description="x", quantity=1, unit_price=Decimal(1))
    with pytest.raises(BillingError, match="cannot become open"):
        invoice_finalize(invoice=invoice, actor=None)
    assert invoice.lines.count() == 1
    assert NumberSequence.objects.get().last_number == 1


def test_paid_invoice_cannot_be_paid_again():
    invoice = invoice_finalize(invoice=_draft(CustomerFactory(), (1, "4.00")), actor=None)
    invoice_mark_paid(invoice=invoice, actor=None)
    with pytest.raises(BillingError, match="is paid"):
        invoice_mark_paid(invoice=invoice, actor=None)
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


def test_a_prorated_line_keeps_its_exact_half_cent_rounded_up():
    from billing.services.proration import proration_amount

    invoice = invoice_create_draft(customer=CustomerFactory())
    exact = proration_amount(
        unit_price=Decimal("4.05"), quantity=1, remaining_days=1, period_days=30
    )
    line = invoice_add_line(
        invoice=invoice, description="1 more", quantity=1, unit_price=Decimal("4.05"), amount=exact
    )
    assert line.amount == Money("0.14", "EUR")  # 0.135 exactly, half up
