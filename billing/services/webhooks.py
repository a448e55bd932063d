"""Gateway webhooks: each event is stored once by its id and acted on in the same
transaction; a replay finds it stored and changes nothing; an event arriving after a
later one changes nothing either (a final payment is never changed back, except a
succeeded one reversed by the bank); an unknown type is stored and ignored.

The signature is checked by the gateway module before anything here runs.
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.gateways import card_gateway
from billing.gateways import interface as gw
from billing.models import Payment, PaymentKind, PaymentMethodKind, PaymentStatus, WebhookEvent
from billing.services.collection import collection_failed_later
from billing.services.ownership import hosted_owner_matches
from billing.services.payments import (
    payment_record_result,
    payment_record_transition,
    payment_reverse,
)
from billing.services.top_ups import top_up_record_result, top_up_reference

WEBHOOK_ACTOR = "webhook"

log = logging.getLogger("billing.security")


def _reference(payment: Payment) -> str:
    """The reference we sent when opening the payment's session."""
    if payment.kind == PaymentKind.TOP_UP:
        return top_up_reference(payment)
    return payment.invoice.number if payment.invoice_id else ""


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


def _paypal(event: gw.GatewayEvent) -> str:
    resource = event.data
    related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
    refs = [related.get("order_id", ""), resource.get("id", "")]
    payment = _payment_for(provider="paypal", refs=refs)
    if payment is None:
        return "ignored: no such payment"
    if event.type == "PAYMENT.CAPTURE.COMPLETED":
        status = gw.SUCCEEDED
    elif event.type == "PAYMENT.CAPTURE.DENIED":
        status = gw.FAILED
    elif event.type == "PAYMENT.CAPTURE.PENDING":
        status = gw.PENDING
    elif event.type == "PAYMENT.CAPTURE.REVERSED":
        payment_reverse(payment=payment, reason="reversed by PayPal", actor=WEBHOOK_ACTOR)
        return f"payment {payment.pk}: reversed"
    else:
        return "ignored: type"
    payment_record_result(
        payment=payment,
        result=gw.ChargeResult(
            status=status,
            gateway_ref="",
            amount=payment.amount,
            currency=payment.currency,
            error_code="instrument_declined" if status == gw.FAILED else "",
        ),
        actor=WEBHOOK_ACTOR,
    )
    return f"payment {payment.pk}: {status}"


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
