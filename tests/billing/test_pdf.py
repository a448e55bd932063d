"""The invoice PDF: every legal item present, taken from the frozen invoice."""

import base64
import re
import zlib
from datetime import date
from decimal import Decimal

import pytest

from billing.errors import BillingError
from billing.models import InvoiceKind
from billing.pdf import invoice_pdf_render
from billing.services.credit import credit_grant
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from tests.factories import CustomerFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> str:
    """The text drawn on the pages. reportlab encodes each content stream as ASCII85 over
    Flate: undo both, then join the strings shown with Tj."""
    shown = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
        stream = stream.strip()
        if stream.endswith(b"~>"):
            stream = base64.a85decode(stream[:-2])
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            continue
        shown += [s.decode("latin-1") for s in re.findall(rb"\((.*?)(?<!\\)\) Tj", content, re.S)]
    return "\n".join(shown).replace("\\(", "(").replace("\\)", ")")


def _invoice(customer, subscription=None, **finalize):
    invoice = invoice_create_draft(
        customer=customer,
        subscription=subscription,
        kind=InvoiceKind.RENEWAL if subscription else InvoiceKind.ONE_OFF,
        period_start=date(2026, 11, 1),
        period_end=date(2026, 12, 1),
    )
    invoice_add_line(
        invoice=invoice,
        description="Core monthly, 25 licences",
        quantity=25,
        unit_price=Decimal("4.00"),
        period_start=date(2026, 11, 1),
        period_end=date(2026, 12, 1),
    )
    return invoice_finalize(invoice=invoice, actor=None, issued_on=date(2026, 11, 1), **finalize)


def test_pdf_carries_number_dates_parties_lines_vat_totals_and_transfer_reference():
    customer = CustomerFactory(
        name="Acme SAS", address_line1="8 avenue des Ternes", postal_code="75017", city="Paris"
    )
    subscription = SubscriptionFactory(customer=customer, organization_name="Acme Paris")
    credit_grant(
        kind="staff_grant", customer=customer, amount=Decimal("10.00"), reason="earlier decrease"
    )
    invoice = _invoice(customer, subscription)
    # Later edits of the customer do not rewrite the invoice: bill_to was frozen.
    customer.name = "Acme Renamed"
    customer.save()

    data = invoice_pdf_render(invoice=invoice)
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    for expected in (
        "Invoice CAJ-2026-000001",
        "Issued: 01 Nov 2026",
        "Due: 15 Nov 2026",
        "CAJ Mobility SAS",
        "FR40303265045",
        "Acme SAS",
        "8 avenue des Ternes",
        "75017 Paris",
        "Core monthly, 25 licences",
        "01 Nov 2026",
        "01 Dec 2026",
        "100.00 EUR",  # the line and the subtotal
        "-10.00 EUR",  # credit applied
        "VAT 20%",
        "18.00 EUR",  # 20% of 90.00
        "108.00 EUR",
        "FR76 3000 6000 0112 3456 7890 189",
        "AGRIFRPP",
        "CAJ-2026-000001",
        f"Subscription {subscription.public_id} (Acme Paris)",
    ):
        assert expected in text, expected
    assert "Acme Renamed" not in text
    assert "Reference:" in text


def test_reverse_charge_mention_is_printed():
    customer = CustomerFactory(country="DE", vat_number="DE136695976")
    text = pdf_text(invoice_pdf_render(invoice=_invoice(customer)))
    assert "VAT reverse charge: Article 196 of Council Directive 2006/112/EC." in text
    assert "VAT number: DE136695976" in text
    assert "VAT 0%" in text


def test_a_draft_has_no_pdf():
    draft = invoice_create_draft(customer=CustomerFactory())
    with pytest.raises(BillingError, match="draft invoice has no PDF"):
        invoice_pdf_render(invoice=draft)


def test_text_from_people_cannot_break_the_markup():
    customer = CustomerFactory(name="Smith & <Sons>")
    # Unescaped, "<Sons>" would be read as a markup tag and the rendering would fail.
    data = invoice_pdf_render(invoice=_invoice(customer))
    assert "Smith & <Sons>" in pdf_text(data).replace("\n", "")
