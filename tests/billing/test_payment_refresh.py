"""payment_refresh: the customer back from 3-D Secure, the charge asked again and recorded
once; payments it does not own (PayPal, hosted page, final) are returned unchanged."""

from decimal import Decimal

import pytest

from billing.gateways import sandbox
from billing.models import InvoiceStatus, PaymentMethod, PaymentStatus
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.payments import payment_charge_method, payment_refresh
from billing.services.paypal_payments import payment_paypal_start
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _invoice(customer):
    draft = invoice_create_draft(customer=customer)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    return invoice_finalize(invoice=draft, actor=None)


def _card(customer, number):
    ref = sandbox.sandbox_method_create(card_number=number, exp_month=12, exp_year=2034).ref
    return PaymentMethod.objects.create(
        customer=customer, kind="card", gateway="sandbox", gateway_ref=ref, brand="visa"
    )


def test_3d_secure_completed_then_refreshed_pays_the_invoice_once():
    customer = CustomerFactory()
    invoice = _invoice(customer)
    method = _card(customer, "4000 0027 6000 3184")
    payment = payment_charge_method(
        invoice=invoice, method=method, actor="test", off_session=False, return_url="/back/"
    )
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert payment_refresh(payment=payment, actor="test").status == PaymentStatus.REQUIRES_ACTION
    sandbox.sandbox_authenticate(payment.gateway_ref, complete=True)
    assert payment_refresh(payment=payment, actor="test").status == PaymentStatus.SUCCEEDED
    assert payment_refresh(payment=payment, actor="test").status == PaymentStatus.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert customer.credit_entries.count() == 0  # recorded once: no "overpayment"


def test_a_paypal_payment_is_not_asked_of_the_card_gateway():
    customer = CustomerFactory()
    invoice = _invoice(customer)
    started = payment_paypal_start(
        invoice=invoice, actor="test", return_url="/r/", cancel_url="/c/"
    )
    payment = payment_refresh(payment=started.payment, actor="test")
    assert payment.status == PaymentStatus.REQUIRES_ACTION
