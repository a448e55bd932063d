"""Credit notes: own gapless series, VAT at the invoice's rate, never more than the
invoice, credit to the balance (paid) or the invoice voided (open, credited in full)."""

from datetime import date
from decimal import Decimal

import pytest
from djmoney.money import Money

from audit.models import AuditEntry
from billing.errors import BillingError
from billing.models import CreditNote, InvoiceStatus
from billing.services.credit import credit_grant
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import (
    invoice_add_line,
    invoice_create_draft,
    invoice_finalize,
    invoice_mark_paid,
)
from tests.factories import CustomerFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _invoice(customer, quantity=10, price="4.00", subscription=None, issued_on=None):
    draft = invoice_create_draft(customer=customer, subscription=subscription)
    invoice_add_line(
        invoice=draft, description="Core monthly", quantity=quantity, unit_price=Decimal(price)
    )
    return invoice_finalize(invoice=draft, actor=None, issued_on=issued_on or date(2026, 11, 2))


def test_credit_on_a_paid_invoice_goes_to_the_balance_with_vat_at_the_invoice_rate():
    customer = CustomerFactory(country="FR")
    invoice = invoice_mark_paid(invoice=_invoice(customer), actor=None)  # 40.00 + 8.00 VAT
    note = credit_note_issue(
        invoice=invoice,
        amount="12.34",
        reason="Two licences billed twice",
        actor=None,
        issued_on=date(2026, 11, 23),
    )
    assert note.number == "CN-2026-000001"
    assert (note.subtotal, note.vat_amount, note.total) == (
        Money("12.34", "EUR"),
        Money("2.47", "EUR"),  # 2.468 rounded half up
        Money("14.81", "EUR"),
    )
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("12.34")  # used before VAT on the next invoice
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert AuditEntry.objects.filter(action="credit_note.issue", target_id=str(note.pk)).exists()


def test_credit_note_numbers_are_their_own_gapless_series_per_year():
    customer = CustomerFactory(country="US")
    invoice = invoice_mark_paid(invoice=_invoice(customer), actor=None)
    first = credit_note_issue(
        invoice=invoice, amount="1.00", reason="a", actor=None, issued_on=date(2026, 12, 31)
    )
    second = credit_note_issue(
        invoice=invoice, amount="1.00", reason="b", actor=None, issued_on=date(2027, 1, 1)
    )
    third = credit_note_issue(
        invoice=invoice, amount="1.00", reason="c", actor=None, issued_on=date(2027, 1, 1)
    )
    assert [first.number, second.number, third.number] == [
        "CN-2026-000001",
        "CN-2027-000001",
        "CN-2027-000002",
    ]
    assert invoice.number == "CAJ-2026-000001"  # invoice numbers are untouched


def test_open_invoice_credited_on_its_unpaid_part_is_void_and_the_credit_it_used_stays_used():
    customer = CustomerFactory(country="FR")
    credit_grant(kind="staff_grant", customer=customer, amount=Decimal("15.00"), reason="decrease")
    invoice = _invoice(customer)  # 40.00 - 15.00 credit = 25.00 + 5.00 VAT = 30.00
    assert (invoice.total, invoice.amount_due) == (Money("30.00", "EUR"), Money("30.00", "EUR"))
    note = credit_note_issue(invoice=invoice, amount="25.00", reason="Wrong plan", actor=None)
    assert (note.taxable, note.vat_amount, note.total) == (
        Money("25.00", "EUR"),
        Money("5.00", "EUR"),
        Money("30.00", "EUR"),
    )
    assert (note.applied_to_invoice, note.credited) == (
        Money("30.00", "EUR"),
        Money("0.00", "EUR"),
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due) == (InvoiceStatus.VOID, Money("0.00", "EUR"))
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("0.00")  # 15.00 paid the first 15.00 of service


def test_crediting_the_whole_subtotal_gives_back_the_credit_the_invoice_used():
    customer = CustomerFactory(country="FR")
    credit_grant(kind="staff_grant", customer=customer, amount=Decimal("15.00"), reason="decrease")
    invoice = _invoice(customer)  # 40.00 - 15.00 credit = 25.00 + 5.00 VAT = 30.00
    note = credit_note_issue(invoice=invoice, amount="40.00", reason="Billed in error", actor=None)
    # The taxable 25.00 and its VAT cancel what is due; the 15.00 credit paid comes back.
    assert (note.taxable, note.vat_amount, note.total) == (
        Money("25.00", "EUR"),
        Money("5.00", "EUR"),
        Money("45.00", "EUR"),
    )
    assert (note.applied_to_invoice, note.credited) == (
        Money("30.00", "EUR"),
        Money("15.00", "EUR"),
    )
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("15.00")
    assert customer.credit_entries.filter(kind="credit_note", credit_note=note).get().amount == (
        Decimal("15.00")
    )


def test_open_invoice_credited_in_part_lowers_its_amount_due_and_makes_no_credit():
    customer = CustomerFactory(country="FR")
    invoice = _invoice(customer)  # 40.00 + 8.00 VAT
    note = credit_note_issue(invoice=invoice, amount="10.00", reason="goodwill", actor=None)
    assert (note.applied_to_invoice, note.credited) == (
        Money("12.00", "EUR"),
        Money("0.00", "EUR"),
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.total == Money("48.00", "EUR")  # a finalized invoice never changes
    assert invoice.amount_due == Money("36.00", "EUR")
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("0.00")
    assert not customer.credit_entries.exists()


def test_the_note_crediting_the_last_cent_takes_exactly_the_vat_left():
    customer = CustomerFactory(country="FR")
    invoice = invoice_mark_paid(invoice=_invoice(customer, quantity=3, price="3.335"), actor=None)
    # 10.01 + 2.00 VAT
    first = credit_note_issue(invoice=invoice, amount="5.01", reason="a", actor=None)
    last = credit_note_issue(invoice=invoice, amount="5.00", reason="b", actor=None)
    assert first.vat_amount == Money("1.00", "EUR")  # 1.002
    assert last.vat_amount == Money("1.00", "EUR")  # what is left of 2.00
    assert first.total + last.total == invoice.total


def test_voiding_the_last_overdue_invoice_returns_the_organization_to_active():
    subscription = SubscriptionFactory()
    org = subscription.organization
    invoice = _invoice(
        subscription.customer, subscription=subscription, issued_on=date(2026, 11, 1)
    )
    org.has_overdue_invoice = True
    org.mode = "read_only"
    org.save()
    credit_note_issue(invoice=invoice, amount="40.00", reason="Billed in error", actor=None)
    org.refresh_from_db()
    assert (org.has_overdue_invoice, org.mode) == (False, "active")


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("40.01", r"Only 40.00 EUR \(before VAT\) is left to credit"),
        ("0", "more than zero"),
        ("-5", "more than zero"),
        ("abc", "Enter the amount to credit"),
        ("1.005", "two decimal places"),
        ("NaN", "more than zero"),
    ],
)
def test_a_bad_amount_is_refused_and_nothing_changes(amount, message):
    customer = CustomerFactory(country="FR")
    invoice = invoice_mark_paid(invoice=_invoice(customer), actor=None)
    with pytest.raises(BillingError, match=message):
        credit_note_issue(invoice=invoice, amount=amount, reason="x", actor=None)
    assert not CreditNote.objects.exists()
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("0.00")


def test_more_than_what_is_left_after_earlier_notes_is_refused():
    customer = CustomerFactory(country="US", currency="USD")
    invoice = invoice_mark_paid(invoice=_invoice(customer), actor=None)
    credit_note_issue(invoice=invoice, amount="30.00", reason="a", actor=None)
    with pytest.raises(BillingError, match="Only 10.00 USD"):
        credit_note_issue(invoice=invoice, amount="10.01", reason="b", actor=None)
    assert CreditNote.objects.count() == 1


def test_drafts_void_invoices_and_a_missing_reason_are_refused():
    customer = CustomerFactory()
    draft = invoice_create_draft(customer=customer)
    with pytest.raises(BillingError, match="draft"):
        credit_note_issue(invoice=draft, amount="1", reason="x", actor=None)
    invoice = _invoice(customer)
    with pytest.raises(BillingError, match="reason"):
        credit_note_issue(invoice=invoice, amount="1", reason="  ", actor=None)
    credit_note_issue(invoice=invoice, amount="40.00", reason="void it", actor=None)
    with pytest.raises(BillingError, match="void"):
        credit_note_issue(invoice=invoice, amount="1", reason="x", actor=None)
    assert CreditNote.objects.count() == 1
