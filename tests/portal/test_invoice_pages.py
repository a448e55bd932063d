"""Billing history, invoice detail and PDF download: scoped to the logged-in customer."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from billing.models import InvoiceKind
from billing.services.invoices import (
    invoice_add_line,
    invoice_create_draft,
    invoice_finalize,
    invoice_mark_paid,
)
from tests.factories import CustomerFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _finalized(customer, issued_on, quantity=10, paid=False):
    invoice = invoice_create_draft(customer=customer, kind=InvoiceKind.ONE_OFF)
    invoice_add_line(
        invoice=invoice, description="Core monthly", quantity=quantity, unit_price=Decimal("4.00")
    )
    invoice = invoice_finalize(invoice=invoice, actor=None, issued_on=issued_on)
    return invoice_mark_paid(invoice=invoice, actor=None) if paid else invoice


@pytest.fixture
def history(client):
    customer = CustomerFactory()
    invoices = {
        "paid_2025": _finalized(customer, date(2025, 12, 1), quantity=5, paid=True),
        "paid_2026": _finalized(customer, date(2026, 10, 1), quantity=8, paid=True),
        "open_2026": _finalized(customer, date(2026, 11, 1), quantity=10),
    }
    client.force_login(customer.contact)
    return customer, invoices


def _numbers(body, invoices):
    return {key for key, invoice in invoices.items() if f'data-invoice="{invoice.number}"' in body}


@time_machine.travel("2026-11-23T10:00:00Z", tick=False)
def test_history_shows_status_amount_due_date_pdf_and_pay_for_open_ones(client, history):
    _, invoices = history
    body = client.get(reverse("portal:invoices")).content.decode()
    assert _numbers(body, invoices) == {"paid_2025", "paid_2026", "open_2026"}
    open_row = body.split(f'data-invoice="{invoices["open_2026"].number}"')[1].split("</tr>")[0]
    assert "48.00 EUR" in open_row  # 10 x 4.00 + 20% VAT
    assert "15 Nov 2026" in open_row and "Open" in open_row and "Overdue" in open_row
    pay = reverse("portal:invoice_pay", args=[invoices["open_2026"].number])
    assert f'href="{pay}"' in open_row and ">Pay now<" in open_row
    pdf = reverse("portal:invoice_pdf", args=[invoices["open_2026"].number])
    assert f'href="{pdf}"' in open_row
    paid_row = body.split(f'data-invoice="{invoices["paid_2026"].number}"')[1].split("</tr>")[0]
    assert "Paid" in paid_row and ">Pay now<" not in paid_row


def test_history_filters_by_status_and_year(client, history):
    _, invoices = history
    url = reverse("portal:invoices")
    body = client.get(url, {"status": "paid"}).content.decode()
    assert _numbers(body, invoices) == {"paid_2025", "paid_2026"}
    body = client.get(url, {"year": "2026"}).content.decode()
    assert _numbers(body, invoices) == {"paid_2026", "open_2026"}
    body = client.get(url, {"status": "paid", "year": "2025"}).content.decode()
    assert _numbers(body, invoices) == {"paid_2025"}
    body = client.get(url, {"status": "void"}).content.decode()
    assert _numbers(body, invoices) == set() and "No invoices match these filters." in body
    # A bad filter value is ignored rather than failing.
    body = client.get(url, {"status": "bogus", "year": "1999"}).content.decode()
    assert _numbers(body, invoices) == {"paid_2025", "paid_2026", "open_2026"}


def test_detail_shows_lines_totals_and_bank_transfer_with_the_number_as_reference(client, history):
    _, invoices = history
    invoice = invoices["open_2026"]
    body = client.get(reverse("portal:invoice_detail", args=[invoice.number])).content.decode()
    assert f"Invoice {invoice.number}" in body
    assert "Core monthly" in body
    assert '<td class="num" data-invoice-total>48.00 EUR</td>' in body
    assert 'id="payment"' in body
    assert "FR76 3000 6000 0112 3456 7890 189" in body and "AGRIFRPP" in body
    assert f"<code data-transfer-reference>{invoice.number}</code>" in body
    paid = invoices["paid_2026"]
    body = client.get(reverse("portal:invoice_detail", args=[paid.number])).content.decode()
    assert "Paid on" in body and "IBAN" not in body


def test_pdf_downloads_as_an_attachment(client, history):
    _, invoices = history
    number = invoices["open_2026"].number
    response = client.get(reverse("portal:invoice_pdf", args=[number]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{number}.pdf"'
    assert response.content.startswith(b"%PDF")


def test_another_customers_invoice_and_drafts_are_not_found(client, history):
    customer, invoices = history
    other = _finalized(CustomerFactory(), date(2026, 11, 2))
    for name in ("portal:invoice_detail", "portal:invoice_pdf"):
        assert client.get(reverse(name, args=[other.number])).status_code == 404
    body = client.get(reverse("portal:invoices")).content.decode()
    assert other.number not in body
    draft = invoice_create_draft(customer=customer)
    assert (
        client.get(reverse("portal:invoice_detail", args=[f"Draft #{draft.pk}"])).status_code == 404
    )


def test_proration_invoice_is_listed_with_its_subscription(client):
    subscription = SubscriptionFactory(organization_name="Acme Paris")
    invoice = invoice_create_draft(
        customer=subscription.customer, subscription=subscription, kind=InvoiceKind.PRORATION
    )
    invoice_add_line(invoice=invoice, description="2 more", quantity=2, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=invoice, actor=None)
    client.force_login(subscription.customer.contact)
    body = client.get(reverse("portal:invoices")).content.decode()
    row = body.split(f'data-invoice="{invoice.number}"')[1].split("</tr>")[0]
    assert "Proration" in row and "Acme Paris" in row


@pytest.mark.parametrize(("today", "overdue"), [("2026-11-15", False), ("2026-11-16", True)])
def test_overdue_badge_follows_the_billing_rule(client, history, today, overdue):
    """The due date is the last day to pay: the badge appears the day after, on the list
    and on the invoice page alike (the same rule as the nightly read-only pass)."""
    _, invoices = history  # the open invoice is due on 15 Nov 2026
    number = invoices["open_2026"].number
    with time_machine.travel(f"{today}T12:00:00Z", tick=False):
        listing = client.get(reverse("portal:invoices")).content.decode()
        detail = client.get(reverse("portal:invoice_detail", args=[number])).content.decode()
    row = listing.split(f'data-invoice="{number}"')[1].split("</tr>")[0]
    assert ("Overdue" in row) is overdue
    assert ("badge-overdue" in detail) is overdue
