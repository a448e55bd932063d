"""Gateway webhooks: each event is stored once by its id and acted on in the same
transaction; a replay finds it stored and changes nothing; an event arriving after a
later one changes nothing either (a final payment is never changed back, except a
succeeded one reversed by the bank); an unknown type is stored and ignored.

The signature is checked by the gateway module before anything here runs.
"""

import logging
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from billing.errors import BillingError
from billing.gateways import card_gateway
from billing.gateways import interface as gw
from billing.models import (
    Payment,
    PaymentKind,
    PaymentMethodKind,
    PaymentStatus,
    Refund,
    WebhookEvent,
)
from billing.notifications import notify_payment_failed
from billing.services.collection import collection_failed_later
from billing.services.ownership import hosted_owner_matches
from billing.services.payments import (
    AMOUNT_MISMATCH,
    invoice_pay_url,
    payment_record_transition,
    payment_reference,
    payment_reverse,
)
from billing.services.refunds import refund_preview, refund_record
from billing.services.top_ups import top_up_record_result, top_up_reference

WEBHOOK_ACTOR = "webhook"

log = logging.getLogger("billing.security")


def _reference(payment: Payment) -> str:
    """The reference we sent when opening the payment's session."""
    if payment.kind == PaymentKind.TOP_UP:
        return top_up_reference(payment)
    return payment_reference(payment=payment)


def _record(*, payment: Payment, result: gw.ChargeResult) -> Payment:
    """Records the result; a balance top-up (kind top_up) that succeeded is also credited
    to the balance, once (services/top_ups.py: the return page may come first)."""
    if payment.kind == PaymentKind.TOP_UP:
        return top_up_record_result(payment=payment, result=result, actor=WEBHOOK_ACTOR)
    with transaction.atomic():
        recorded, was = payment_record_transition(
            payment=payment, result=result, actor=WEBHOOK_ACTOR
        )
        collection_failed_later(payment=recorded, was=was)
    return recorded


def _payment_for(*, provider: str, refs: list[str], payment_id: str = "") -> Payment | None:
    payments = Payment.objects.filter(gateway=provider)
    if payment_id.isdigit():
        found = payments.filter(pk=int(payment_id)).first()
        if found is not None:
            return found
    refs = [ref for ref in refs if ref]
    return payments.filter(gateway_ref__in=refs).first() if refs else None


def _result(*, status: str, data: dict, payment: Payment, error_code: str = "") -> gw.ChargeResult:
    return gw.ChargeResult(
        status=status,
        gateway_ref=data.get("id", "") if data.get("object") == "payment_intent" else "",
        amount=payment.amount,
        currency=payment.currency,
        error_code=error_code,
        error_message=((data.get("last_payment_error") or {}).get("message") or "")[:300],
    )


def _returned_after_success(*, event: gw.GatewayEvent, payment: Payment) -> bool:
    """A failure reported for a succeeded payment is a bank return only for a SEPA debit,
    and only when Stripe made the event after the success (events are not delivered in
    order: an earlier refusal of the same PaymentIntent, retried and then paid, can arrive
    late and must not undo the payment). A card's chargeback comes as a dispute."""
    if payment.method_kind != PaymentMethodKind.SEPA_DEBIT:
        return False
    return payment.succeeded_at is None or event.created >= int(payment.succeeded_at.timestamp())


def _stripe(event: gw.GatewayEvent) -> str:
    data = event.data
    metadata = data.get("metadata") or {}
    if event.type == "checkout.session.completed":
        if data.get("mode") != "payment":
            return "ignored: setup sessions are finished by the return page"
        payment = _payment_for(
            provider="stripe",
            refs=[data.get("id", ""), data.get("payment_intent") or ""],
            payment_id=metadata.get("payment", ""),
        )
        if payment is None:
            return "ignored: no such payment"
        result = card_gateway().payment_session_result(data["id"])
        # The payment was found by the metadata's payment id or the session's refs: the
        # session must also be that payment's customer's (services/ownership.py).
        if not hosted_owner_matches(
            customer=payment.customer, owner=result.owner, reference=_reference(payment)
        ):
            log.warning("ignored a checkout session of another owner for payment %s", payment.pk)
            return f"ignored: session is not payment {payment.pk}'s customer's"
        _record(payment=payment, result=result)
        return f"payment {payment.pk}: {result.status}"
    if event.type.startswith("payment_intent."):
        payment = _payment_for(
            provider="stripe", refs=[data.get("id", "")], payment_id=metadata.get("payment", "")
        )
        if payment is None:
            return "ignored: no such payment"
        if event.type == "payment_intent.succeeded":
            status = gw.SUCCEEDED
        elif event.type == "payment_intent.processing":
            status = gw.PENDING
        elif event.type == "payment_intent.requires_action":
            status = gw.REQUIRES_ACTION
        elif event.type == "payment_intent.payment_failed":
            if payment.status == PaymentStatus.SUCCEEDED:
                if not _returned_after_success(event=event, payment=payment):
                    return f"ignored: payment {payment.pk} succeeded after this failure"
                payment_reverse(
                    payment=payment, reason="debit failed at the bank", actor=WEBHOOK_ACTOR
                )
                return f"payment {payment.pk}: reversed"
            status = gw.FAILED
        else:
            return "ignored: type"
        error = (
            (data.get("last_payment_error") or {}).get("code", "") if status == gw.FAILED else ""
        )
        _record(
            payment=payment,
            result=_result(status=status, data=data, payment=payment, error_code=error or ""),
        )
        return f"payment {payment.pk}: {status}"
    if event.type == "charge.dispute.created":
        payment = _payment_for(provider="stripe", refs=[data.get("payment_intent") or ""])
        if payment is None:
            return "ignored: no such payment"
        payment_reverse(payment=payment, reason="disputed (chargeback)", actor=WEBHOOK_ACTOR)
        return f"payment {payment.pk}: reversed"
    return "ignored: type"


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


HANDLERS = {"stripe": _stripe, "paypal": _paypal}


def webhook_receive(*, event: gw.GatewayEvent) -> WebhookEvent | None:
    """Stores and acts on a verified event. Returns None for an event already received."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                stored = WebhookEvent.objects.create(
                    provider=event.provider,
                    event_id=event.event_id,
                    type=event.type[:100],
                    payload=event.payload,
                )
        except IntegrityError:
            return None
        handler = HANDLERS.get(event.provider)
        stored.outcome = (handler(event) if handler else "ignored: provider")[:200]
        stored.processed_at = timezone.now()
        stored.save(update_fields=["outcome", "processed_at"])
        return stored
