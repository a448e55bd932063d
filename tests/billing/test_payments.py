"""The payment services on the sandbox gateway (the default with no keys): partial and
over-payment, a result recorded once whoever reports it, one attempt on its way at a time."""

from decimal import Decimal

import pytest
from django.core import mail

from audit.models import AuditEntry
from billing.errors import BillingError
from billing.gateways import card_gateway, paypal_gateway
from billing.gateways import interface as gw
from billing.models import CreditEntry, CreditKind, InvoiceStatus, Payment, PaymentStatus
from billing.services.payments import payment_record_bank_transfer, payment_record_result
from billing.services.paypal_payments import payment_paypal_start
from tests.billing.payment_helpers import open_invoice

pytestmark = pytest.mark.django_db


def _result(payment, status, **fields):
    return gw.ChargeResult(
        status=status,
        gateway_ref=fields.pop("gateway_ref", ""),
        amount=payment.amount,
        currency=payment.currency,
        **fields,
    )


def _start(invoice):
    return payment_paypal_start(
        invoice=invoice,
        actor="test",
        return_url="http://127.0.0.1:8000/return/",
        cancel_url="http://127.0.0.1:8000/cancel/",
    ).payment


def test_with_no_keys_the_sandbox_is_used():
    assert card_gateway().name == "sandbox"
    assert paypal_gateway().name == "sandbox"


def test_a_partial_bank_transfer_lowers_the_amount_due(django_capture_on_commit_callbacks):
    invoice = open_invoice()  # 48.00 EUR
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_record_bank_transfer(
            invoice=invoice, amount=Decimal("20.00"), actor="staff", reference="VIR 123"
        )
    assert (payment.status, payment.amount, payment.gateway) == (
        PaymentStatus.SUCCEEDED,
        Decimal("20.00"),
        "offline",
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_due.amount == Decimal("28.00")
    partly = AuditEntry.objects.get(action="invoice.partly_paid")
    assert Decimal(str(partly.after["paid"])) == Decimal("20.00")
    assert len(mail.outbox) == 1  # "payment received" for the 20.00
    assert not CreditEntry.objects.exists()

    payment_record_bank_transfer(invoice=invoice, amount=Decimal("28.00"), actor="staff")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_due.amount == 0
    assert invoice.payments.count() == 2


def test_an_overpayment_becomes_credit_before_vat():
    invoice = open_invoice()  # 40.00 + 20% VAT = 48.00
    payment_record_bank_transfer(invoice=invoice, amount=Decimal("60.00"), actor="staff")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    entry = CreditEntry.objects.get()
    assert (entry.kind, entry.amount) == (CreditKind.OVERPAYMENT, Decimal("10.00"))
    assert entry.invoice == invoice
    invoice.customer.refresh_from_db()
    assert invoice.customer.credit_balance == Decimal("10.00")


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5"), Decimal("1.005")])
def test_a_bank_transfer_amount_must_be_positive_cents(amount):
    invoice = open_invoice()
    with pytest.raises(BillingError) as refused:
        payment_record_bank_transfer(invoice=invoice, amount=amount, actor="staff")
    assert refused.value.code == "amount_invalid"
    assert not Payment.objects.exists()


def test_a_succeeded_result_recorded_twice_changes_nothing_twice():
    invoice = open_invoice()
    payment = _start(invoice)
    assert payment.status == PaymentStatus.REQUIRES_ACTION

    first = payment_record_result(
        payment=payment, result=_result(payment, gw.SUCCEEDED), actor="return page"
    )
    second = payment_record_result(
        payment=payment, result=_result(payment, gw.SUCCEEDED), actor="webhook"
    )
    assert first.status == second.status == PaymentStatus.SUCCEEDED
    assert second.succeeded_at == first.succeeded_at
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert AuditEntry.objects.filter(action="invoice.paid").count() == 1
    assert AuditEntry.objects.filter(action="payment.record").count() == 1
    assert not CreditEntry.objects.exists()  # not counted as an overpayment the second time
    # A failure reported afterwards does not change a final payment either.
    payment_record_result(payment=payment, result=_result(payment, gw.FAILED), actor="late")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


def test_a_failed_attempt_allows_a_new_one():
    invoice = open_invoice()
    first = _start(invoice)
    payment_record_result(
        payment=first,
        result=_result(first, gw.FAILED, error_code="instrument_declined"),
        actor="test",
    )
    first.refresh_from_db()
    assert first.status == PaymentStatus.FAILED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN

    second = _start(invoice)
    assert second.pk != first.pk
    assert (second.attempt, second.idempotency_key) == (2, f"test:invoice-{invoice.pk}-paypal-2")
    assert second.amount == Decimal("48.00")


def test_a_second_attempt_is_refused_while_one_is_pending():
    invoice = open_invoice()
    first = _start(invoice)
    payment_record_result(payment=first, result=_result(first, gw.PENDING), actor="test")
    with pytest.raises(BillingError) as refused:
        _start(invoice)
    assert refused.value.code == "payment_in_progress"
    assert Payment.objects.count() == 1


def test_nothing_to_pay_on_a_paid_invoice():
    invoice = open_invoice()
    payment_record_bank_transfer(invoice=invoice, amount=Decimal("48.00"), actor="staff")
    with pytest.raises(BillingError) as refused:
        _start(invoice)
    assert refused.value.code == "nothing_to_pay"
