"""Stripe's webhook events: what each does to our records (docs/RULES.md, "Payments").

Two steps (services/webhooks.py runs them): `stripe_prepare` asks Stripe what it must
(a Checkout Session's outcome, a refund of a card we do not accept), outside any
transaction and lock; `stripe_apply` then records it, inside the transaction that marks
the event processed. Stripe does not deliver events in order: every move below is
allowed from the state it expects only, so a replayed or late event changes nothing.
"""

import logging
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db import transaction

from audit.models import AuditEntry
from audit.services import audit_record
from billing.errors import BillingError
from billing.gateways import card_gateway
from billing.gateways import interface as gw
from billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentKind,
    PaymentMethodKind,
    PaymentStatus,
    Refund,
)
from billing.notifications import notify_payment_failed
from billing.services.collection import collection_failed_later
from billing.services.ownership import hosted_owner_matches
from billing.services.payment_events import (
    payment_dispute_note,
    payment_dispute_opened,
    payment_dispute_won,
    payment_flag_amount_mismatch,
    payment_reverse_once,
    staff_alert,
    stripe_amount,
)
from billing.services.payments import (
    invoice_pay_url,
    payment_card_refusal,
    payment_record_transition,
    payment_reference,
    payment_refused_card_record,
    payment_refused_card_refund,
)
from billing.services.refunds import refund_preview, refund_record
from billing.services.top_ups import top_up_record_result, top_up_reference

WEBHOOK_ACTOR = "webhook"
SESSION_EXPIRED = "session_expired"
INTENT_CANCELED = "payment_canceled"

log = logging.getLogger("billing.security")


@dataclass(frozen=True)
class Prepared:
    """What stripe_prepare learnt from Stripe for stripe_apply."""

    payment: Payment | None = None
    result: gw.ChargeResult | None = None
    refund: gw.RefundResult | None = None  # a card we do not accept, refunded at once
    refused: str = ""  # why that card is not accepted


def _reference(payment: Payment) -> str:
    """The reference we sent when opening the payment's session."""
    if payment.kind == PaymentKind.TOP_UP:
        return top_up_reference(payment)
    return payment_reference(payment=payment)


def _payment_for(*, refs: list[str], payment_id: str = "") -> Payment | None:
    payments = Payment.objects.filter(gateway="stripe")
    if payment_id.isdigit():
        found = payments.filter(pk=int(payment_id)).first()
        if found is not None:
            return found
    refs = [ref for ref in refs if ref]
    return payments.filter(gateway_ref__in=refs).first() if refs else None


def _mismatch(*, payment: Payment, result: gw.ChargeResult) -> bool:
    """Money Stripe says it received that is not the attempt's amount and currency."""
    if result.status != gw.SUCCEEDED:
        return False
    return result.amount != payment.amount or result.currency.upper() != payment.currency.upper()


def _record(*, payment: Payment, result: gw.ChargeResult) -> Payment:
    """Records the result, once. A top-up that succeeded is also credited to the balance
    (services/top_ups.py); a received amount that is not the attempt's is flagged, never
    settled; a pending attempt that fails later tells the customer, once."""
    if _mismatch(payment=payment, result=result):
        return payment_flag_amount_mismatch(
            payment=payment, received=result.amount, currency=result.currency, actor=WEBHOOK_ACTOR
        )
    if payment.kind == PaymentKind.TOP_UP:
        return top_up_record_result(payment=payment, result=result, actor=WEBHOOK_ACTOR)
    with transaction.atomic():
        recorded, was = payment_record_transition(
            payment=payment, result=result, actor=WEBHOOK_ACTOR
        )
        collection_failed_later(payment=recorded, was=was)
        _pay_page_failed_later(payment=recorded, was=was)
    return recorded


def _pay_page_failed_later(*, payment: Payment, was: str | None) -> None:
    """A debit started from the pay page (with the customer), pending, then refused by the
    bank: the customer left long ago, so the "payment failed" e-mail with a link to pay,
    once (keyed on the move this call made). Collection's own are collection's."""
    if (
        was != PaymentStatus.PENDING
        or payment.status != PaymentStatus.FAILED
        or payment.off_session
        or payment.invoice_id is None
    ):
        return
    invoice = Invoice.objects.select_related("customer__contact").get(pk=payment.invoice_id)
    if invoice.status == InvoiceStatus.OPEN:
        notify_payment_failed(
            invoice=invoice, payment=payment, retry_on=None, url=invoice_pay_url(invoice=invoice)
        )


def _bank_returned(*, payment: Payment) -> None:
    """A SEPA debit the bank returned after it succeeded: the invoice owes it again
    (payment_reverse) and the customer is told, with a link to pay, once."""
    reversed_payment, reversed_now = payment_reverse_once(
        payment=payment, reason="debit failed at the bank", actor=WEBHOOK_ACTOR
    )
    if not reversed_now or reversed_payment.invoice_id is None:
        return
    invoice = Invoice.objects.select_related("customer__contact").get(
        pk=reversed_payment.invoice_id
    )
    if invoice.status == InvoiceStatus.OPEN:
        notify_payment_failed(
            invoice=invoice,
            payment=reversed_payment,
            retry_on=None,
            url=invoice_pay_url(invoice=invoice),
        )


def _intent_result(*, status: str, data: dict, payment: Payment, error_code: str = ""):
    """A PaymentIntent event's object as a ChargeResult: the amount is what Stripe
    received (amount_received), never what we asked for."""
    amount = payment.amount
    if status == gw.SUCCEEDED:
        received = stripe_amount(data.get("amount_received"))
        amount = received if received is not None else Decimal(-1)  # none: never ours
    return gw.ChargeResult(
        status=status,
        gateway_ref=data.get("id", "") if data.get("object") == "payment_intent" else "",
        amount=amount,
        currency=str(data.get("currency") or payment.currency).upper(),
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


# ---- step 1: ask Stripe, outside any transaction ---------------------------------------


def stripe_prepare(event: gw.GatewayEvent) -> Prepared:
    """Gateway calls the event needs, made before any row is locked. A GatewayError goes
    up (the view answers 500, Stripe sends the event again, it is still unprocessed)."""
    if not event.type.startswith("checkout.session."):
        return Prepared()
    data = event.data
    if data.get("mode") != "payment":
        return Prepared()
    payment = _payment_for(
        refs=[data.get("id", ""), data.get("payment_intent") or ""],
        payment_id=(data.get("metadata") or {}).get("payment", ""),
    )
    if payment is None:
        return Prepared()
    result = card_gateway().payment_session_result(data["id"])
    why = payment_card_refusal(result=result)
    if why is None or not hosted_owner_matches(
        customer=payment.customer, owner=result.owner, reference=_reference(payment)
    ):
        return Prepared(payment=payment, result=result)  # another's: stripe_apply ignores it
    # The hosted page let through a card we refuse (Amex, prepaid): refunded at once.
    refund = payment_refused_card_refund(payment=payment, result=result)
    return Prepared(payment=payment, result=result, refund=refund, refused=why)


# ---- step 2: apply, in the event's transaction -----------------------------------------


def stripe_apply(event: gw.GatewayEvent, prepared: Prepared) -> str:
    kind = event.type
    if kind.startswith("checkout.session."):
        return _checkout_session(event, prepared)
    if kind.startswith("payment_intent."):
        return _payment_intent(event)
    if kind.startswith("charge.dispute."):
        return _dispute(event)
    if kind in REFUND_EVENTS:
        return _refund_event(event)
    if kind in METHOD_EVENTS:
        return _method_event(event)
    return "ignored: type"


REFUND_EVENTS = (
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "refund.failed",
)
METHOD_EVENTS = (
    "mandate.updated",
    "payment_method.automatically_updated",
    "payment_method.detached",
)


def _checkout_session(event: gw.GatewayEvent, prepared: Prepared) -> str:
    data = event.data
    if data.get("mode") != "payment":
        return "ignored: setup sessions are finished by the return page"
    if event.type not in ("checkout.session.completed", "checkout.session.expired"):
        return "ignored: type"
    payment, result = prepared.payment, prepared.result
    if payment is None or result is None:
        return "ignored: no such payment"
    # The payment was found by the metadata's payment id or the session's refs: the
    # session must also be that payment's customer's (services/ownership.py).
    if not hosted_owner_matches(
        customer=payment.customer, owner=result.owner, reference=_reference(payment)
    ):
        log.warning("ignored a checkout session of another owner for payment %s", payment.pk)
        return f"ignored: session is not payment {payment.pk}'s customer's"
    if prepared.refund is not None:
        return _refused_card(payment=payment, result=result, prepared=prepared)
    if event.type == "checkout.session.expired" and result.status == gw.FAILED:
        result = replace(result, error_code=SESSION_EXPIRED)
    recorded = _record(payment=payment, result=result)
    return f"payment {payment.pk}: {recorded.status}"


def _refused_card(*, payment: Payment, result: gw.ChargeResult, prepared: Prepared) -> str:
    """A card we do not accept paid on the hosted page: refunded already (stripe_prepare);
    recorded as the return page records it (payments.payment_refused_card_record)."""
    payment_refused_card_record(
        payment=payment,
        result=result,
        refund=prepared.refund,
        why=prepared.refused,
        actor=WEBHOOK_ACTOR,
    )
    return f"payment {payment.pk}: card not accepted, refunded"


def _payment_intent(event: gw.GatewayEvent) -> str:
    data = event.data
    payment = _payment_for(
        refs=[data.get("id", "")], payment_id=(data.get("metadata") or {}).get("payment", "")
    )
    if payment is None:
        return "ignored: no such payment"
    error = ""
    if event.type == "payment_intent.succeeded":
        status = gw.SUCCEEDED
    elif event.type == "payment_intent.processing":
        status = gw.PENDING
    elif event.type == "payment_intent.requires_action":
        status = gw.REQUIRES_ACTION
    elif event.type == "payment_intent.canceled":
        status, error = gw.FAILED, INTENT_CANCELED
    elif event.type == "payment_intent.payment_failed":
        if payment.status == PaymentStatus.REVERSED:
            return f"ignored: payment {payment.pk} already reversed"
        if payment.status == PaymentStatus.SUCCEEDED:
            if not _returned_after_success(event=event, payment=payment):
                return f"ignored: payment {payment.pk} succeeded after this failure"
            _bank_returned(payment=payment)
            return f"payment {payment.pk}: reversed"
        status = gw.FAILED
        error = (data.get("last_payment_error") or {}).get("code", "") or ""
    else:
        return "ignored: type"
    recorded = _record(
        payment=payment,
        result=_intent_result(status=status, data=data, payment=payment, error_code=error),
    )
    if recorded.error_code == "amount_mismatch" and recorded.status == PaymentStatus.PENDING:
        return f"payment {payment.pk}: flagged, amount mismatch"
    return f"payment {payment.pk}: {status}"


def _dispute(event: gw.GatewayEvent) -> str:
    data = event.data
    dispute_id = data.get("id", "")
    payment = _payment_for(refs=[data.get("payment_intent") or ""])
    if payment is None:
        return "ignored: no such payment"
    if event.type == "charge.dispute.created":
        if _dispute_closed_before(payment=payment, dispute_id=dispute_id):
            # Its "closed" came first (won, or lost and reversed then): nothing to open.
            return f"ignored: dispute {dispute_id} already closed"
        payment_dispute_opened(
            payment=payment,
            dispute_id=dispute_id,
            reason=str(data.get("reason") or ""),
            actor=WEBHOOK_ACTOR,
        )
        return f"payment {payment.pk}: reversed"
    if event.type == "charge.dispute.closed":
        if _dispute_closed_before(payment=payment, dispute_id=dispute_id):
            return f"ignored: dispute {dispute_id} already closed"
        if data.get("status") == "won":
            # A "closed" that overtook its "created": the reversal comes first, in order.
            if payment.status == PaymentStatus.SUCCEEDED:
                payment_dispute_note(
                    payment=payment, dispute_id=dispute_id, what="won", actor=WEBHOOK_ACTOR
                )
                return f"payment {payment.pk}: dispute won, nothing was reversed"
            payment_dispute_won(payment=payment, dispute_id=dispute_id, actor=WEBHOOK_ACTOR)
            return f"payment {payment.pk}: dispute won, succeeded again"
        if data.get("status") == "lost" and payment.status == PaymentStatus.SUCCEEDED:
            # Lost before we saw it open: the money is gone all the same.
            payment_dispute_opened(
                payment=payment, dispute_id=dispute_id, reason="lost", actor=WEBHOOK_ACTOR
            )
        payment_dispute_note(
            payment=payment,
            dispute_id=dispute_id,
            what=str(data.get("status") or "closed")[:30],
            actor=WEBHOOK_ACTOR,
        )
        return f"payment {payment.pk}: dispute {data.get('status') or 'closed'}"
    if event.type in ("charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"):
        what = event.type.rsplit(".", 1)[-1]
        payment_dispute_note(payment=payment, dispute_id=dispute_id, what=what, actor=WEBHOOK_ACTOR)
        return f"payment {payment.pk}: dispute {what}"
    return "ignored: type"


def _dispute_closed_before(*, payment: Payment, dispute_id: str) -> bool:
    return AuditEntry.objects.filter(
        target_type="billing.Payment",
        target_id=str(payment.pk),
        action__in=("payment.dispute_won", "payment.dispute_lost"),
        after__dispute=dispute_id,
    ).exists()


def _refund_event(event: gw.GatewayEvent) -> str:
    """Refunds made in Stripe's dashboard. A charge.refunded carries its refunds when the
    API includes them; refund.* events carry one. Each Stripe refund id is recorded once,
    when it has succeeded (a SEPA refund is pending for days: recorded when it succeeds)."""
    data = event.data
    if data.get("object") == "charge":
        refunds = (data.get("refunds") or {}).get("data") or []
        outcomes = [
            _refund_one({**refund, "payment_intent": data.get("payment_intent")})
            for refund in refunds
        ]
        return "; ".join(outcomes) or "ignored: refunds come as refund events"
    return _refund_one(data)


def _refund_one(refund: dict) -> str:
    refund_id = refund.get("id", "")
    payment = _payment_for(refs=[refund.get("payment_intent") or ""])
    if payment is None or not refund_id:
        return "ignored: no such payment"
    recorded = Refund.objects.filter(payment=payment, gateway_ref=refund_id).first()
    status = refund.get("status")
    if status in ("failed", "canceled"):
        audit_record(
            actor=WEBHOOK_ACTOR,
            action="payment.refund_failed",
            target=payment,
            after={"refund": refund_id, "status": status, "recorded": recorded is not None},
        )
        if recorded is not None:
            # Our credit note says the money went back; it did not: a person decides.
            log.error(
                "Stripe refund %s of payment %s %s after it was recorded",
                refund_id,
                payment.pk,
                status,
            )
            staff_alert(
                subject=f"Refund {refund_id} of payment {payment.pk} {status}",
                body=(
                    f"Stripe reports refund {refund_id} ({recorded.amount} {payment.currency}) "
                    f"of payment {payment.pk} as {status}; its credit note was issued. Pay the "
                    "customer another way or record what happened."
                ),
            )
        return f"payment {payment.pk}: refund {refund_id} {status}"
    if recorded is not None:
        return f"payment {payment.pk}: refund {refund_id} already recorded"
    if status != "succeeded":
        return f"payment {payment.pk}: refund {refund_id} {status or 'pending'}, not recorded yet"
    amount = stripe_amount(refund.get("amount"))
    try:
        preview = refund_preview(payment=payment, amount=amount, destination=Refund.TO_METHOD)
    except BillingError as error:
        log.error("Stripe refund %s of payment %s not recorded: %s", refund_id, payment.pk, error)
        staff_alert(
            subject=f"Refund {refund_id} of payment {payment.pk} not recorded",
            body=f"A refund made at Stripe could not be recorded: {error.message}",
        )
        return f"ignored: {error.message}"[:200]
    made = refund_record(
        payment=payment,
        preview=preview,
        reason="Refunded at Stripe",
        key=f"stripe-refund-{refund_id}",
        gateway_ref=refund_id,
        actor=WEBHOOK_ACTOR,
    )
    return f"payment {payment.pk}: refunded {made.amount}"


def _method_event(event: gw.GatewayEvent) -> str:
    from billing.services.payment_methods_events import payment_method_gateway_event

    return payment_method_gateway_event(event=event, actor=WEBHOOK_ACTOR)
