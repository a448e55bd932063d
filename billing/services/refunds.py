"""Staff refunds: money given back on a succeeded payment of a paid invoice, either to the
payment method (the gateway refunds it) or as customer credit. Either way a credit note
documents it, and it is audited. The customer chooses nothing.

`amount` is what the customer gets back, VAT included, in the invoice's currency. The
credit note credits its part before VAT (rounded half up) with VAT at the invoice's rate;
to the payment method the gateway refunds the note's total, as credit the customer gets
the part before VAT (credit is used before VAT on the next invoices).

Order: the gateway first (outside any lock, with an idempotency key per refund), then the
records in one transaction; a failure between the two is repaired by running it again,
the gateway answering the same refund for the same key.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction

from audit.services import Actor, audit_record
from billing.errors import BillingError
from billing.gateways import card_gateway, card_gateway_name, paypal_gateway, paypal_gateway_name
from billing.gateways import interface as gw
from billing.gateways.errors import GatewayError
from billing.models import (
    Gateway,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
)
from billing.money import round_money
from billing.services.credit_notes import credit_note_amounts, credit_note_issue
from billing.services.locks import lock_customer, lock_invoice
from billing.services.payments import gateway_idempotency_key


@dataclass(frozen=True)
class RefundPreview:
    amount_before_vat: Decimal
    vat: Decimal
    total: Decimal  # what goes back, VAT included
    destination: str


def refund_preview(*, payment: Payment, amount: object, destination: str) -> RefundPreview:
    if destination not in (Refund.TO_METHOD, Refund.TO_CREDIT):
        raise BillingError("Choose where the money goes back.", code="destination_invalid")
    if payment.status != PaymentStatus.SUCCEEDED or payment.invoice is None:
        raise BillingError(
            "Only a succeeded invoice payment can be refunded.", code="not_refundable"
        )
    if payment.invoice.status != InvoiceStatus.PAID:
        raise BillingError(
            f"Invoice {payment.invoice.number} is not paid: credit it instead.",
            code="not_refundable",
        )
    if destination == Refund.TO_METHOD and payment.gateway == Gateway.OFFLINE:
        raise BillingError(
            "A bank transfer is refunded by the bank: refund it as credit, or pay it back by "
            "transfer and record that.",
            code="method_not_refundable",
        )
    try:
        value = Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        raise BillingError(
            "Enter the amount to refund, e.g. 24.00.", code="amount_invalid"
        ) from None
    if not value.is_finite() or value <= 0 or value != round_money(value):
        raise BillingError(
            "The amount must be more than zero, with at most two decimals.", code="amount_invalid"
        )
    left = payment.amount - payment.refunded
    if value > left:
        raise BillingError(
            f"Only {left} {payment.currency} of this payment is left to refund.",
            code="refund_too_large",
        )
    invoice = payment.invoice
    before_vat = round_money(value * 100 / (100 + invoice.vat_rate))
    amounts = credit_note_amounts(invoice=invoice, amount=before_vat)
    return RefundPreview(
        amount_before_vat=before_vat,
        vat=amounts.vat,
        total=min(amounts.total, left) if destination == Refund.TO_METHOD else before_vat,
        destination=destination,
    )


def payment_refund(
    *, payment: Payment, amount: object, destination: str, reason: str, actor: Actor
) -> Refund:
    reason = (reason or "").strip()
    if not reason:
        raise BillingError("Say why the payment is refunded.", code="reason_missing")
    preview = refund_preview(payment=payment, amount=amount, destination=destination)
    key = gateway_idempotency_key(scope=f"refund-{payment.pk}-{payment.refunds.count() + 1}")
    gateway_ref = ""
    if destination == Refund.TO_METHOD:
        if payment.gateway not in (card_gateway_name(), paypal_gateway_name()):
            raise BillingError(
                f"This payment went through {payment.get_gateway_display()}, which is not "
                "configured now: refund it as credit instead.",
                code="gateway_not_configured",
            )
        try:
            gateway = paypal_gateway() if payment.gateway == Gateway.PAYPAL else card_gateway()
            result = gateway.refund(
                gw.RefundRequest(
                    payment_ref=payment.gateway_ref,
                    amount=preview.total,
                    currency=payment.currency,
                    idempotency_key=key,
                )
            )
        except GatewayError as error:
            raise BillingError(error.message, code=error.code) from error
        gateway_ref = result.gateway_ref
    return refund_record(
        payment=payment,
        preview=preview,
        reason=reason,
        key=key,
        gateway_ref=gateway_ref,
        actor=actor,
    )


@transaction.atomic
def refund_record(
    *, payment: Payment, preview: RefundPreview, reason: str, key: str, gateway_ref: str, actor
) -> Refund:
    lock_customer(pk=payment.customer_id)
    lock_invoice(pk=payment.invoice_id)
    existing = Refund.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    note = credit_note_issue(
        invoice=payment.invoice,
        amount=preview.amount_before_vat,
        reason=f"Refund: {reason}",
        actor=actor,
        refund_paid_part=preview.destination == Refund.TO_METHOD,
    )
    refund = Refund.objects.create(
        payment=payment,
        amount=preview.total,
        destination=preview.destination,
        gateway_ref=gateway_ref,
        credit_note=note,
        reason=reason[:200],
        idempotency_key=key,
    )
    # Exact Decimal under the row lock (SQLite keeps NUMERIC as floats: no SQL arithmetic).
    locked = Payment.objects.select_for_update().get(pk=payment.pk)
    Payment.objects.filter(pk=payment.pk).update(refunded=locked.refunded + preview.total)
    audit_record(
        actor=actor,
        action="payment.refund",
        target=payment,
        after={
            "amount": preview.total,
            "destination": preview.destination,
            "credit_note": note.number,
            "gateway_ref": gateway_ref,
            "reason": reason,
        },
    )
    return refund
