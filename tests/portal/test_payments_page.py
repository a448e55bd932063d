"""Payments (/payments/): every payment with its method, amount, status and refunds, a
receipt for each one received; the invoice page lists its payments; a pending SEPA debit
shows as pending (not "Pay now") in the invoice list and on the invoice; a refund's credit
note says where the money went. Another customer's receipt is a 404."""

from decimal import Decimal

import pytest
from django.test import Client

from billing.gateways import sandbox
from billing.models import PaymentMethod, PaymentStatus, Refund
from billing.services.payments import payment_charge_method, payment_record_bank_transfer
from billing.services.refunds import payment_refund
from tests.billing.test_pdf import pdf_text
from tests.factories import SubscriptionFactory
from tests.portal.test_payment_pages import open_invoice

pytestmark = pytest.mark.django_db


def saved(customer, *, card: str = "", iban: str = "") -> PaymentMethod:
    """A card or SEPA mandate saved by the sandbox (the tests' gateway)."""
    record = sandbox.sandbox_method_create(
        card_number=card, iban=iban, exp_month=12 if card else None, exp_year=2030 if card else None
    )
    p = record.payload
    return PaymentMethod.objects.create(
        customer=customer,
        kind=p["kind"],
        gateway="sandbox",
        gateway_ref=record.ref,
        brand=p.get("brand", ""),
        last4=p["last4"],
        exp_month=p.get("exp_month"),
        exp_year=p.get("exp_year"),
        funding=p.get("funding", ""),
        is_default=not customer.payment_methods.exists(),
    )


@pytest.fixture
def anna():
    """Paid 48.00 EUR by Visa (20.00 EUR refunded to it), and a SEPA debit on its way."""
    customer = SubscriptionFactory(organization_name="Anna Paris").customer
    visa = saved(customer, card="4242 4242 4242 4242")
    paid = payment_charge_method(
        invoice=open_invoice(customer), method=visa, actor=None, off_session=False
    )
    assert paid.status == PaymentStatus.SUCCEEDED
    payment_refund(
        payment=paid, amount="20.00", destination=Refund.TO_METHOD, reason="Goodwill", actor="staff"
    )
    sepa = saved(customer, iban="DE89 3704 0044 0532 0130 00")
    pending_invoice = open_invoice(customer)
    pending = payment_charge_method(
        invoice=pending_invoice, method=sepa, actor=None, off_session=True
    )
    assert pending.status == PaymentStatus.PENDING
    client = Client()
    client.force_login(customer.contact)
    client.paid, client.pending, client.pending_invoice = paid, pending, pending_invoice
    return client


@pytest.fixture
def bruno_payment():
    customer = SubscriptionFactory(organization_name="Bruno Lyon").customer
    return payment_record_bank_transfer(
        invoice=open_invoice(customer), amount=Decimal("48.00"), actor="staff", reference="BRUNO-1"
    )


def test_the_payments_page_shows_each_payment_its_method_status_and_refunds(anna, bruno_payment):
    page = anna.get("/payments/").content.decode()
    paid = page.split(f'data-payment="{anna.paid.pk}"')[1].split("</tr>")[0]
    assert "Visa •••• 4242" in paid
    assert "48.00 EUR" in paid and "Paid" in paid
    assert "Refunded 20.00 EUR to Visa •••• 4242" in paid
    assert f"/payments/{anna.paid.pk}/receipt/" in paid
    pending = page.split(f'data-payment="{anna.pending.pk}"')[1].split("</tr>")[0]
    assert "SEPA debit, IBAN •••• 3000" in pending and "Pending" in pending
    assert "your bank confirms it within a few days" in pending
    assert "/receipt/" not in pending  # nothing received yet
    assert f'data-payment="{bruno_payment.pk}"' not in page and "BRUNO" not in page


def test_a_receipt_is_a_pdf_of_the_customer_s_own_received_payment(anna, bruno_payment):
    response = anna.get(f"/payments/{anna.paid.pk}/receipt/")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert f"Receipt R-{anna.paid.pk:06d}" in text
    assert "48.00 EUR" in text and "Visa" in text
    assert "Refunded 20.00 EUR to Visa" in text
    assert anna.get(f"/payments/{bruno_payment.pk}/receipt/").status_code == 404  # not hers
    assert anna.get(f"/payments/{anna.pending.pk}/receipt/").status_code == 404  # not received


def test_a_pending_sepa_debit_shows_as_pending_not_pay_now(anna):
    number = anna.pending_invoice.number
    invoices = anna.get("/invoices/").content.decode()
    row = invoices.split(f'data-invoice="{number}"')[1].split("</tr>")[0]
    assert "Payment on its way" in row and "Pay now" not in row
    detail = anna.get(f"/invoices/{number}/").content.decode()
    assert "data-payment-pending" in detail and "Pay now" not in detail
    assert "SEPA debit, IBAN •••• 3000" in detail  # the invoice lists its payment
    overview = anna.get("/subscriptions/").content.decode()
    assert f"/invoices/{number}/pay/" not in overview


def test_the_refund_s_credit_note_says_where_the_money_went(anna):
    note = anna.paid.refunds.get().credit_note
    page = anna.get(f"/invoices/{note.number}/").content.decode()
    assert "Refunded to Visa •••• 4242" in page and "20.00 EUR" in page
    text = pdf_text(anna.get(f"/invoices/{note.number}/pdf/").content)
    assert "Refunded to Visa" in text
