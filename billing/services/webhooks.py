"""Gateway webhooks: each event is stored once by its id and acted on once (Stripe's in
services/webhooks_stripe.py, PayPal's here); a replay finds it stored and changes nothing;
an event arriving after a later one changes nothing either (a final payment is never
changed back, except a succeeded one reversed by the bank); an unknown type is stored and
ignored.

The signature is checked by the gateway module before anything here runs.
"""

import logging
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billing.errors import BillingError
from billing.gateways import interface as gw
from billing.models import Payment, PaymentStatus, Refund, WebhookEvent
from billing.notifications import notify_payment_failed
from billing.services.payments import (
    AMOUNT_MISMATCH,
    invoice_pay_url,
    payment_record_transition,
    payment_reverse,
)
from billing.services.refunds import refund_preview, refund_record
from billing.services.webhooks_stripe import WEBHOOK_ACTOR, stripe_apply, stripe_prepare

log = logging.getLogger("billing.security")


def _paypal_capture_id(resource: dict) -> str:
    """A refund names its capture only in its "up" link (/v2/payments/captures/{id})."""
    for link in resource.get("links") or []:
        href = (link or {}).get("href", "")
        if link.get("rel") == "up" and "/captures/" in href:
            return href.rstrip("/").rsplit("/", 1)[-1]
    return ""


def _paypal_payment(resource: dict) -> Payment | None:
    """PayPal's capture events name the capture (resource id) and, in related_ids, the
    order; refund events the refund and, in a link, the capture. We store both the order
    (gateway_ref) and the capture (gateway_capture_ref)."""
    related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
    refs = [
        ref
        for ref in (
            related.get("order_id", ""),
            related.get("capture_id", ""),
            resource.get("id", ""),
            _paypal_capture_id(resource),
        )
        if ref
    ]
    if not refs:
        return None
    return (
        Payment.objects.filter(gateway="paypal")
        .filter(Q(gateway_ref__in=refs) | Q(gateway_capture_ref__in=refs))
        .first()
    )


def _paypal(event: gw.GatewayEvent) -> str:
    resource = event.data
    payment = _paypal_payment(resource)
    if payment is None:
        return "ignored: no such payment"
    if event.type == "PAYMENT.CAPTURE.REVERSED":
        payment_reverse(payment=payment, reason="reversed by PayPal", actor=WEBHOOK_ACTOR)
        return f"payment {payment.pk}: reversed"
    if event.type == "PAYMENT.CAPTURE.REFUNDED":
        return _paypal_refunded(payment=payment, resource=resource)
    if event.type == "PAYMENT.CAPTURE.COMPLETED":
        status = gw.SUCCEEDED
    elif event.type == "PAYMENT.CAPTURE.DENIED":
        status = gw.FAILED
    elif event.type == "PAYMENT.CAPTURE.PENDING":
        status = gw.PENDING
    else:
        return "ignored: type"
    amount = resource.get("amount") or {}
    try:
        value = Decimal(str(amount.get("value")))
    except (InvalidOperation, ValueError):
        value = Decimal(-1)  # no amount: never taken as the attempt's
    related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
    capture_id = resource.get("id", "") if resource.get("id") != payment.gateway_ref else ""
    with transaction.atomic():
        recorded, was = payment_record_transition(
            payment=payment,
            result=gw.ChargeResult(
                status=status,
                gateway_ref=related.get("order_id", "") or "",
                amount=value,
                currency=str(amount.get("currency_code") or ""),
                error_code="instrument_declined" if status == gw.FAILED else "",
                error_message="PayPal denied the payment." if status == gw.FAILED else "",
                capture_ref=capture_id or "",
            ),
            actor=WEBHOOK_ACTOR,
            gateway_report=True,  # verified by PayPal (verify-webhook-signature)
        )
        denied_now = was not in (None, PaymentStatus.FAILED)
        if denied_now and recorded.status == PaymentStatus.FAILED and recorded.invoice_id:
            # A capture PayPal held (pending review) and then denied: tell the customer.
            invoice = recorded.invoice
            notify_payment_failed(
                invoice=invoice,
                payment=recorded,
                retry_on=None,
                url=invoice_pay_url(invoice=invoice),
            )
    if recorded.error_code == AMOUNT_MISMATCH:
        return f"payment {payment.pk}: flagged, amount mismatch"
    return f"payment {payment.pk}: {status}"


def _paypal_refunded(*, payment: Payment, resource: dict) -> str:
    """A refund made at PayPal (its dashboard, or ours, reported back): a credit note as
    a staff refund to the payment method makes one, once per PayPal refund id."""
    refund_id = resource.get("id", "")
    if not refund_id:
        return "ignored: refund without id"
    if Refund.objects.filter(payment=payment, gateway_ref=refund_id).exists():
        return f"payment {payment.pk}: refund {refund_id} already recorded"
    amount = str((resource.get("amount") or {}).get("value") or "")
    try:
        preview = refund_preview(payment=payment, amount=amount, destination=Refund.TO_METHOD)
    except BillingError as error:
        log.error("PayPal refund %s of payment %s not recorded: %s", refund_id, payment.pk, error)
        return f"ignored: {error.message}"[:200]
    refund = refund_record(
        payment=payment,
        preview=preview,
        reason="Refunded at PayPal",
        key=f"paypal-refund-{refund_id}",
        gateway_ref=refund_id,
        actor=WEBHOOK_ACTOR,
    )
    return f"payment {payment.pk}: refunded {refund.amount}"


# provider → (ask the gateway, outside any transaction; apply, inside the event's one)
HANDLERS = {
    "stripe": (stripe_prepare, stripe_apply),
    "paypal": (lambda event: None, lambda event, prepared: _paypal(event)),
}

__all__ = ["WEBHOOK_ACTOR", "webhook_receive"]


def webhook_receive(*, event: gw.GatewayEvent) -> WebhookEvent | None:
    """Stores and acts on a verified event, once. Returns None for an event already acted
    on (a replay: nothing changes).

    1. The event is stored (committed at once): a crash later leaves it unprocessed, and
       Stripe's next delivery finds it so and acts on it.
    2. The gateway is asked what the event needs (stripe_prepare), outside any
       transaction: no row is locked while the network answers.
    3. In one transaction, the stored event's row is locked (level 0, services/locks.py)
       and, still unprocessed, acted on and marked processed: two deliveries at once act
       once, the second finds it processed."""
    try:
        with transaction.atomic():
            stored = WebhookEvent.objects.create(
                provider=event.provider,
                event_id=event.event_id,
                type=event.type[:100],
                payload=event.payload,
            )
    except IntegrityError:
        stored = WebhookEvent.objects.get(provider=event.provider, event_id=event.event_id)
        if stored.processed_at is not None:
            return None
    prepare, apply = HANDLERS.get(event.provider, (None, None))
    prepared = prepare(event) if prepare else None
    with transaction.atomic():
        stored = WebhookEvent.objects.select_for_update().get(pk=stored.pk)
        if stored.processed_at is not None:
            return None
        stored.outcome = (apply(event, prepared) if apply else "ignored: provider")[:200]
        stored.processed_at = timezone.now()
        stored.save(update_fields=["outcome", "processed_at"])
        return stored
