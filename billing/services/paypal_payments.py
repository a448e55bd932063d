"""PayPal checkout for invoices (docs/RULES.md, "PayPal"): an order the customer approves
on PayPal, then we capture it; one Payment row per attempt, recorded through
services/payments.py (payment_record_result), which also settles what a capture pays.

- An order-create failure (5xx, 429, timeout) closes the attempt as failed: no customer
  saw an approve link, so no order of it can be approved or charged; a new attempt may
  start at once (a new PayPal-Request-Id and invoice_id).
- A new attempt first asks PayPal about the invoice's attempts still waiting for the
  customer: a captured one is recorded (the invoice may be paid: nothing new starts), the
  others are closed (superseded), so we never capture two orders of one invoice.
- A capture whose answer is lost stays pending; the gateway GETs the order and the
  pending poll asks again (collection.payment_refresh_pending -> payment_paypal_refresh).

Locks (services/locks.py): the customer, then the invoice, then the payment row.
"""

from audit.services import Actor
from billing.errors import BillingError
from billing.gateways import errors as gateway_errors
from billing.gateways import interface as gw
from billing.gateways import paypal_gateway
from billing.gateways.errors import GatewayError
from billing.models import Customer, Invoice, Payment, PaymentMethodKind, PaymentStatus
from billing.services.ownership import hosted_owner_check
from billing.services.payment_kinds import payment_kind_require
from billing.services.payments import (
    FINAL,
    Started,
    _attempt_create,
    payment_gateway_failed,
    payment_record_result,
)

SUPERSEDED = "superseded"


def payment_paypal_start(
    *, invoice: Invoice, actor: Actor, return_url: str, cancel_url: str
) -> Started:
    """PayPal checkout: an order the customer approves on PayPal, then we capture it."""
    payment_kind_require(kind=PaymentMethodKind.PAYPAL)
    gateway = paypal_gateway()
    _paypal_previous_settle(invoice=invoice, gateway=gateway, actor=actor)
    payment = _attempt_create(
        invoice=invoice,
        method_kind=PaymentMethodKind.PAYPAL,
        gateway=gateway.name,
        method=None,
        off_session=False,
        how="paypal",
    )
    try:
        order = gateway.order_create(
            gw.PayPalOrderRequest(
                amount=payment.amount,
                currency=payment.currency,
                reference=invoice.number,
                description=f"Invoice {invoice.number}",
                idempotency_key=payment.idempotency_key,
                return_url=return_url,
                cancel_url=cancel_url,
                invoice_id=f"{invoice.number}-{payment.attempt}",
            )
        )
    except GatewayError as error:
        # Closed, even when PayPal may have made the order: nobody saw its approve link,
        # so it can never be approved nor charged (docs/RULES.md, PayPal).
        payment_record_result(
            payment=payment,
            result=gw.ChargeResult(
                status=gw.FAILED,
                gateway_ref="",
                amount=payment.amount,
                currency=payment.currency,
                error_code=error.code,
                error_message=error.message,
            ),
            actor=actor,
        )
        # The PayPal gateway's messages are our own sentences (billing/gateways/paypal.py).
        raise BillingError(error.message, code=error.code) from error
    Payment.objects.filter(pk=payment.pk).update(
        status=PaymentStatus.REQUIRES_ACTION,
        gateway_ref=order.order_id,
        action_url=order.approve_url,
    )
    payment.refresh_from_db()
    return Started(payment=payment, redirect_url=order.approve_url)


def _paypal_previous_settle(*, invoice: Invoice, gateway, actor: Actor) -> None:
    """Before a new order: every attempt of the invoice still waiting for the customer is
    asked about at PayPal. A captured one is recorded (it may pay the invoice, and then
    nothing new starts); one not captured is closed, so its order is never captured."""
    waiting = invoice.payments.filter(
        gateway=gateway.name,
        method_kind=PaymentMethodKind.PAYPAL,
        status=PaymentStatus.REQUIRES_ACTION,
    ).exclude(gateway_ref="")
    for payment in waiting:
        try:
            state = gateway.order_get(payment.gateway_ref)
        except GatewayError as error:
            raise BillingError(
                "We cannot check your previous PayPal payment at the moment. Please try "
                "again in a few minutes: you will not be charged twice.",
                code=error.code,
            ) from error
        if state.captured:
            payment_record_result(
                payment=payment, result=state.result, actor=actor, gateway_report=True
            )
            continue
        payment_record_result(
            payment=payment,
            result=gw.ChargeResult(
                status=gw.FAILED,
                gateway_ref=payment.gateway_ref,
                amount=payment.amount,
                currency=payment.currency,
                error_code=SUPERSEDED,
                error_message="This PayPal payment was replaced by a newer one.",
            ),
            actor=actor,
        )


def payment_paypal_capture(*, customer: Customer, order_id: str, actor: Actor) -> Payment:
    """The customer approved the order on PayPal: capture it (once, by its request id).
    A lost answer leaves the attempt pending (the gateway has already asked PayPal's order;
    the pending poll asks again): never back to PayPal's approval page."""
    payment_kind_require(kind=PaymentMethodKind.PAYPAL)
    gateway = paypal_gateway()
    payment = Payment.objects.filter(
        customer=customer, gateway=gateway.name, gateway_ref=order_id
    ).first()
    if payment is None:
        raise BillingError("This PayPal payment was not found.", code="payment_not_found")
    if payment.status in FINAL:
        return payment
    try:
        result = gateway.order_capture(
            order_id=order_id, idempotency_key=paypal_capture_key(payment=payment)
        )
    except GatewayError as error:
        if error.may_retry:
            # No answer, and PayPal's order could not show a capture: it may still come.
            # Pending (no second order starts; the poll asks PayPal), never back to approval.
            Payment.objects.filter(pk=payment.pk).update(
                status=PaymentStatus.PENDING,
                action_url="",
                error_code=error.code,
                error_message=error.message[:300],
            )
            payment.refresh_from_db()
            return payment
        return payment_gateway_failed(payment=payment, error=error, actor=actor)
    # The order was found among this customer's attempts before the capture (PayPal
    # knows no customer of ours): its reference must be this attempt's invoice too.
    hosted_owner_check(
        customer=customer,
        owner=result.owner,
        what="PayPal order",
        reference=payment.invoice.number if payment.invoice_id else "",
    )
    return payment_record_result(payment=payment, result=result, actor=actor, gateway_report=True)


def paypal_capture_key(*, payment: Payment) -> str:
    """The PayPal-Request-Id of the attempt's capture: the same on every try."""
    return f"{payment.idempotency_key}-capture"


def payment_paypal_refresh(*, payment: Payment, actor: Actor) -> Payment:
    """Asks PayPal where a pending PayPal attempt stands (the pending poll): the order's
    capture is recorded; an order approved and not captured (a capture whose answer was
    lost before PayPal made it) is captured with the attempt's own key."""
    if payment.status != PaymentStatus.PENDING:
        return payment
    gateway = paypal_gateway()
    if not payment.gateway_ref:
        # An order never made, or made and never shown (see payment_paypal_start).
        return payment_record_result(
            payment=payment,
            result=gw.ChargeResult(
                status=gw.FAILED,
                gateway_ref="",
                amount=payment.amount,
                currency=payment.currency,
                error_code=payment.error_code or gateway_errors.UNAVAILABLE,
                error_message="PayPal did not answer when the payment started. Nothing "
                "was charged.",
            ),
            actor=actor,
        )
    try:
        state = gateway.order_get(payment.gateway_ref)
        result = state.result
        if not state.captured and state.status == "APPROVED":
            result = gateway.order_capture(
                order_id=payment.gateway_ref, idempotency_key=paypal_capture_key(payment=payment)
            )
    except GatewayError:
        return payment  # still unknown: the next poll asks again
    if result.status not in (gw.SUCCEEDED, gw.FAILED, gw.PENDING):
        return payment  # waiting for the customer: nothing to record
    return payment_record_result(payment=payment, result=result, actor=actor, gateway_report=True)
