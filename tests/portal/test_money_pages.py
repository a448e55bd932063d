"""Money you can trust, as the customer sees it: the decrease preview split between open
invoices and credit, credit notes as documents, the credit history, the billing overview
and the countdown before an organization becomes read-only. Exact amounts throughout.

The "credit hole" sequence: a Core monthly subscription of 30 licences, its November
period paid (120.00 EUR + 24.00 VAT = 144.00 EUR); on 23 November (8 of 30 days left)
30 -> 1030 issues an open proration invoice of 1,000 x 4.00 x 8/30 = 1,066.67 + VAT
213.33 = 1,280.00 EUR; then 1030 -> 30 gives back 1,066.67 before VAT, all of it on that
unpaid invoice (1,280.00 with VAT): it becomes void and no credit is made.
"""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from billing.models import CreditNote, Invoice, InvoiceKind, InvoiceStatus
from billing.services.credit import credit_grant_by_staff
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import (
    invoice_add_line,
    invoice_create_draft,
    invoice_finalize,
    invoice_mark_paid,
)
from billing.services.proration import subscription_quantity_preview
from billing.services.quantity_change import subscription_change_quantity
from tests.billing.test_pdf import pdf_text
from tests.factories import SubscriptionFactory, period_invoice_paid

pytestmark = pytest.mark.django_db

NOW = "2026-11-23T10:00:00Z"


@pytest.fixture(autouse=True)
def _november_23rd():
    with time_machine.travel(NOW, tick=False):
        yield


def change(subscription, quantity):
    subscription.refresh_from_db()
    preview = subscription_quantity_preview(
        subscription=subscription, quantity=quantity, today=timezone.now().date()
    )
    return subscription_change_quantity(
        subscription=subscription, quantity=quantity, actor="test", expected_terms=preview.terms
    )


@pytest.fixture
def core(client):
    subscription = SubscriptionFactory(quantity=30, organization_name="Acme Paris")
    period_invoice_paid(subscription)
    client.force_login(subscription.customer.contact)
    return subscription


def _preview(client, subscription, quantity) -> str:
    url = reverse("portal:subscription_preview", args=[subscription.public_id])
    return client.get(url, {"quantity": str(quantity)}).content.decode()


def test_decrease_preview_lowers_the_open_invoice_and_makes_no_credit(client, core):
    change(core, 1030)
    proration = Invoice.objects.get(kind=InvoiceKind.PRORATION)
    assert proration.total.amount == Decimal("1280.00")
    fragment = _preview(client, core, 30)
    assert f"Reduces open invoice {proration.number} by" in fragment
    assert f'data-amount="reduces-{proration.number}">1,280.00 EUR' in fragment
    assert 'data-amount="credit-gained"' not in fragment
    assert "money not yet paid is never turned into credit" in fragment
    assert f"reduce={proration.number}:1280.00:0.00;credit_gained=0.00" in fragment


def test_decrease_preview_of_a_paid_period_is_all_credit(client, core):
    fragment = _preview(client, core, 25)
    assert "Reduces open invoice" not in fragment
    assert 'data-amount="credit-gained">5.33 EUR' in fragment


@pytest.fixture
def credit_hole(client, core):
    """30 -> 1030 -> 30 on 23 November: the proration invoice is credited in full."""
    change(core, 1030)
    change(core, 30)
    proration = Invoice.objects.get(kind=InvoiceKind.PRORATION)
    note = CreditNote.objects.get()
    return core, proration, note


def test_credit_hole_documents_seen_by_the_customer(client, credit_hole):
    subscription, proration, note = credit_hole
    assert proration.status == InvoiceStatus.VOID
    body = client.get(reverse("portal:invoices")).content.decode()
    row = body.split(f'data-credit-note="{note.number}"')[1].split("</tr>")[0]
    assert "23 Nov 2026" in row and proration.number in row and "−1,280.00 EUR" in row
    assert reverse("portal:invoice_pdf", args=[note.number]) in row
    invoice_row = body.split(f'data-invoice="{proration.number}"')[1].split("</tr>")[0]
    assert "Void" in invoice_row and ">Pay<" not in invoice_row
    # Newest first: on the same day, the credit note before the invoice it corrects.
    assert body.index(f'data-credit-note="{note.number}"') < body.index(
        f'data-invoice="{proration.number}"'
    )
    assert 'data-amount="credit">0.00 EUR' in body

    only_notes = client.get(reverse("portal:invoices"), {"status": "credit_note"})
    assert f'data-credit-note="{note.number}"' in only_notes.content.decode()
    assert "data-invoice=" not in only_notes.content.decode()

    detail = client.get(reverse("portal:invoice_detail", args=[proration.number])).content
    detail = detail.decode()
    assert 'data-amount="amount-due">0.00 EUR' in detail
    note_row = detail.split(f'data-credit-note="{note.number}"')[1].split("</tr>")[0]
    assert "1,280.00 EUR" in note_row and 'data-amount="credited">0.00 EUR' in note_row
    assert 'data-amount="applied">1,280.00 EUR' in note_row
    assert "This invoice is void" in detail

    page = client.get(reverse("portal:invoice_detail", args=[note.number])).content.decode()
    assert f"Credit note {note.number}" in page
    assert 'data-amount="subtotal">1,066.67 EUR' in page
    assert 'data-amount="vat">213.33 EUR' in page
    assert 'data-amount="total">1,280.00 EUR' in page
    assert 'data-amount="applied">1,280.00 EUR' in page
    assert 'data-amount="credited">0.00 EUR' in page
    assert f">{proration.number}</a>" in page and note.reason in page

    pdf = client.get(reverse("portal:invoice_pdf", args=[note.number]))
    assert pdf["Content-Type"] == "application/pdf"
    assert f'filename="{note.number}.pdf"' in pdf["Content-Disposition"]
    text = pdf_text(pdf.content)
    for expected in (
        f"Credit note {note.number}",
        f"Corrects invoice {proration.number}",
        "1,066.67 EUR",
        "213.33 EUR",
        "1,280.00 EUR",
        "Applied to invoice",
        "Credited to your account",
        "CAJ Mobility SAS",
        subscription.customer.name,
    ):
        assert expected in text, expected

    credit = client.get(reverse("portal:credit")).content.decode()
    assert 'data-amount="credit">0.00 EUR' in credit and "No credit yet." in credit
    # /balance/ is the prepaid balance of cloud instances now, apart from the credit.
    balance = client.get(reverse("portal:balance")).content.decode()
    assert 'data-amount="balance">0.00 EUR' in balance


def test_open_invoice_with_a_credit_note_asks_for_the_amount_due(client, customer):
    invoice = invoice_create_draft(customer=customer, kind=InvoiceKind.ONE_OFF)
    invoice_add_line(invoice=invoice, description="Core", quantity=25, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=invoice, actor=None)  # 100.00 + 20.00 VAT
    note = credit_note_issue(invoice=invoice, amount="20.00", reason="Goodwill", actor=None)
    assert note.total.amount == Decimal("24.00")
    client.force_login(customer.contact)
    detail = client.get(reverse("portal:invoice_detail", args=[invoice.number])).content.decode()
    assert "data-invoice-total>120.00 EUR" in detail
    assert 'data-amount="amount-due">96.00 EUR' in detail
    assert 'data-amount="pay">96.00 EUR' in detail and "120.00 EUR</strong>" not in detail
    listing = client.get(reverse("portal:invoices")).content.decode()
    row = listing.split(f'data-invoice="{invoice.number}"')[1].split("</tr>")[0]
    assert "120.00 EUR" in row and "96.00 EUR due" in row
    assert "Please pay 96.00 EUR" in pdf_text(
        client.get(reverse("portal:invoice_pdf", args=[invoice.number])).content
    )


def test_credit_history_lists_each_entry_linked_to_its_source(client, customer):
    invoice = invoice_create_draft(customer=customer, kind=InvoiceKind.ONE_OFF)
    invoice_add_line(invoice=invoice, description="Core", quantity=25, unit_price=Decimal("4"))
    invoice = invoice_mark_paid(invoice=invoice_finalize(invoice=invoice, actor=None), actor=None)
    note = credit_note_issue(invoice=invoice, amount="20.00", reason="Goodwill", actor=None)
    credit_grant_by_staff(
        customer=customer, amount="5.50", reason="Sorry for the outage", actor=None
    )
    client.force_login(customer.contact)
    body = client.get(reverse("portal:credit")).content.decode()
    assert 'data-amount="credit">25.50 EUR' in body
    rows = body.split("data-credit-entry=")[1:]
    assert len(rows) == 2
    staff, from_note = rows  # newest first
    assert "Granted by staff" in staff and "Sorry for the outage" in staff
    assert 'data-amount="entry">5.50 EUR' in staff
    assert 'data-amount="balance-after">25.50 EUR' in staff
    assert "Credit note" in from_note
    assert reverse("portal:invoice_detail", args=[note.number]) in from_note
    assert reverse("portal:invoice_detail", args=[invoice.number]) in from_note
    assert 'data-amount="entry">20.00 EUR' in from_note
    assert 'data-amount="balance-after">20.00 EUR' in from_note
    for name in ("portal:invoices", "portal:invoice_detail"):
        args = [invoice.number] if name == "portal:invoice_detail" else []
        page = client.get(reverse(name, args=args)).content.decode()
        assert 'data-amount="credit">25.50 EUR' in page, name


def _overdue_one_off(subscription):
    """10 x 4.00 + 20% VAT = 48.00 EUR, issued 1 Nov, due 15 Nov: overdue on 23 Nov."""
    invoice = invoice_create_draft(
        customer=subscription.customer, subscription=subscription, kind=InvoiceKind.ONE_OFF
    )
    invoice_add_line(invoice=invoice, description="Setup", quantity=10, unit_price=Decimal("4"))
    return invoice_finalize(invoice=invoice, actor=None, issued_on=date(2026, 11, 1))


def test_billing_overview_and_the_read_only_countdown(client, core, settings):
    settings.BILLING_INVOICE_DUE_DAYS = 14
    lyon = SubscriptionFactory(customer=core.customer, quantity=10, organization_name="Lyon")
    overdue = _overdue_one_off(lyon)
    change(core, 1030)  # open proration invoice: 1,280.00 EUR, due 7 Dec 2026
    proration = Invoice.objects.get(kind=InvoiceKind.PRORATION)
    assert proration.due_on == date(2026, 12, 7)

    body = client.get(reverse("portal:subscriptions")).content.decode()
    overview = body.split("data-billing-overview")[1].split("</section>")[0]
    assert 'data-amount="amount-due">1,328.00 EUR' in overview  # 1,280.00 + 48.00
    assert 'data-amount="credit">0.00 EUR' in overview
    overdue_item = overview.split(f'data-overdue="{overdue.number}"')[1].split("</li>")[0]
    assert "48.00 EUR" in overdue_item and "due 15 Nov 2026" in overdue_item
    assert "Read-only" in overdue_item and "Lyon" in overdue_item
    item = overview.split(f'data-deadline="{proration.number}"')[1].split("</li>")[0]
    assert "1,280.00 EUR</strong> by 7 Dec 2026" in item
    assert "Acme Paris becomes read-only on <span data-read-only-on>8 Dec 2026" in item
    assert "(15 days left)" in item
    renewals = overview.split("Next renewals")[1]
    paris = renewals.split(f'data-renewal="{core.public_id}"')[1].split("</li>")[0]
    assert "1 Dec 2026" in paris and "4,944.00 EUR" in paris  # 1,030 x 4.00 + 20% VAT
    lyon_item = renewals.split(f'data-renewal="{lyon.public_id}"')[1].split("</li>")[0]
    assert "48.00 EUR" in lyon_item

    page = client.get(reverse("portal:organization", args=[core.organization.pk]))
    banner = page.content.decode().split(f'data-deadline="{proration.number}"')[1]
    banner = banner.split("</div>")[0]
    assert (
        f'Pay invoice <a href="{reverse("portal:invoice_detail", args=[proration.number])}'
        in banner
    )
    assert 'data-amount="due">1,280.00 EUR' in banner
    name = core.organization.name
    assert f"by <strong>7 Dec 2026</strong> or {name} becomes read-only on" in banner
    assert "8 Dec 2026" in banner and "15 days left" in banner
    # Lyon's invoice is overdue: no countdown, its mode banner says why it is read-only.
    lyon_page = client.get(reverse("portal:organization", args=[lyon.organization.pk]))
    assert "data-deadline" not in lyon_page.content.decode()


def test_the_countdown_follows_the_amount_due_and_ends_with_the_invoice(client, core):
    change(core, 1030)
    proration = Invoice.objects.get(kind=InvoiceKind.PRORATION)
    credit_note_issue(invoice=proration, amount="1000.00", reason="Goodwill", actor=None)
    url = reverse("portal:organization", args=[core.organization.pk])
    assert 'data-amount="due">80.00 EUR' in client.get(url).content.decode()  # 1,280 - 1,200
    invoice_mark_paid(invoice=Invoice.objects.get(pk=proration.pk), actor=None)
    assert "data-deadline" not in client.get(url).content.decode()
    body = client.get(reverse("portal:subscriptions")).content.decode()
    assert 'data-amount="amount-due">0.00 EUR' in body and "Nothing to pay now." in body
