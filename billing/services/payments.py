"""Paying invoices: one Payment row per attempt, the gateway called outside any lock, and
the result recorded once, whoever reports it first (the return page, a webhook, the
collection task, a status poll).

Money rules:
- A succeeded payment covers the invoice's amount due; when it covers all of it the
  invoice is paid (its organization leaves read-only at once) and a receipt is e-mailed.
- A partial payment lowers the amount due; the invoice stays open.
- An overpayment (or money arriving for an invoice already settled) becomes customer
  credit, recorded (kind "overpayment"). Credit is used before VAT, so it is the amount
  paid less the invoice's VAT: 12.00 EUR over on a 20% invoice is 10.00 EUR of credit,
  which takes 12.00 EUR off the next invoice once VAT is added.
- A payment reversed after it succeeded (a SEPA debit the bank returns, a chargeback)
  reopens what it had paid and is audited.

PayPal (docs/RULES.md, "PayPal"): starting, capturing and polling an order live in
services/paypal_payments.py; recording what PayPal reports stays here:
- A capture whose amount or currency is not the attempt's is never settled: the payment
  stays pending, flagged (error_code amount_mismatch), audited and logged for staff.
- A capture that arrives for an invoice already settled is refunded to PayPal, not kept
  as credit.
- A failed attempt becomes succeeded only on a verified gateway report (webhook, GET of
  the order); a succeeded one never becomes failed.

Locks (services/locks.py): the customer, then the invoice, then the payment row.
"""

import logging
from dataclasses import asdict, dataclass
from dataclasses import replace as dataclass_replace
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audit.services import Actor, audit_record
from billing.errors import BillingError
from billing.gateways import card_gateway, card_gateway_name, paypal_gateway
from billing.gateways import interface as gw
from billing.gateways.errors import GatewayError, customer_message
from billing.gateways.kinds import payment_method_usable
from billing.models import (
    CreditKind,
    Customer,
    Gateway,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentKind,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
    Refund,
)
from billing.money import money, round_money
from billing.notifications import notify_payment_failed, notify_payment_received
from billing.services.card_rules import payment_method_check_accepted
from billing.services.credit import credit_grant
from billing.services.invoices import invoice_check_transition, invoice_mark_paid
from billing.services.locks import lock_customer, lock_invoice
from billing.services.overdue import overdue_refresh_subscription
from billing.services.ownership import hosted_owner_check
from billing.services.payment_kinds import METHOD_UNAVAILABLE, payment_kind_require
from billing.services.top_up_invoices import top_up_invoice_settle
from billing.staff_alerts import staff_alert

FINAL = {PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.REVERSED}
AMOUNT_MISMATCH = "amount_mismatch"
EXTRA_CAPTURE = "extra_capture"

log = logging.getLogger("billing.payments")


def gateway_customer(*, customer: Customer) -> gw.GatewayCustomer:
    """The customer as the gateway sees it. A gateway customer it makes on the way is
    remembered at once (committed before the hosted session is asked for), so a session
    that fails leaves no orphan and the next try reuses it."""
    return gw.GatewayCustomer(
        customer_id=customer.pk,
        email=customer.email,
        name=customer.name,
        gateway_customer_ref=customer.gateway_customer_ref,
        ref_created=lambda ref: _customer_ref_remember(customer=customer, ref=ref),
        create_key=gateway_idempotency_key(scope=f"customer-{customer.pk}"),
    )


def gateway_idempotency_key(*, scope: str) -> str:
    """THE builder of every idempotency key sent to a gateway (Stripe `idempotency_key`,
    PayPal `PayPal-Request-Id`, the sandbox): "<PAYMENT_INSTALLATION_ID>:<scope>", e.g.
    "prod:invoice-12-pay-1". The prefix keeps installations sharing one gateway account
    (staging, CI, a restored copy of the database) from replaying each other's answers.
    Keys are stored on their rows when made and resent from there, so a changed setting
    never changes the key of an attempt already sent."""
    return f"{settings.PAYMENT_INSTALLATION_ID}:{scope}"


def payment_idempotency_key(*, invoice: Invoice, attempt: int, how: str = "pay") -> str:
    """An invoice attempt's key: the invoice's id, how it is paid and the attempt number."""
    return gateway_idempotency_key(scope=f"invoice-{invoice.pk}-{how}-{attempt}")


def invoice_pay_url(*, invoice: Invoice) -> str:
    """The portal page where the customer pays this invoice (absolute, for e-mails and
    for 3-D Secure to come back to)."""
    path = reverse("portal:invoice_detail", args=[invoice.number])
    return f"{settings.PORTAL_BASE_URL.rstrip('/')}{path}"


def payment_invoice_ids(*, payment: Payment) -> list[int]:
    """The invoices a payment pays, in id order (the lock order): its invoice, or the
    invoices of its allocations (a payment of several invoices at once)."""
    if payment.invoice_id:
        return [payment.invoice_id]
    return sorted(payment.allocations.values_list("invoice_id", flat=True))


def payment_group_reference(*, payment: Payment) -> str:
    """Our reference at the gateway for a payment of several invoices: "PAY-<id>"."""
    return f"PAY-{payment.pk}"


def payment_reference(*, payment: Payment) -> str:
    """The reference sent with the payment's session or charge (and checked when the
    gateway reports it back): the invoice number, or the group reference."""
    if payment.invoice_id:
        return payment.invoice.number
    return payment_group_reference(payment=payment) if payment_invoice_ids(payment=payment) else ""


def _charge_words(*, payment: Payment) -> tuple[str, dict]:
    """The charge's description and metadata (what the gateway's dashboard shows)."""
    if payment.invoice_id:
        number = payment.invoice.number
        return f"Invoice {number}", {"invoice": number, "payment": str(payment.pk)}
    numbers = list(
        Invoice.objects.filter(pk__in=payment_invoice_ids(payment=payment))
        .order_by("pk")
        .values_list("number", flat=True)
    )
    return f"Invoices {', '.join(numbers)}"[:1000], {
        # Stripe keeps metadata values to 500 characters; the reference finds the rest.
        "invoices": ",".join(numbers)[:500],
        "reference": payment_group_reference(payment=payment),
        "payment": str(payment.pk),
    }


def payment_charge_request(*, payment: Payment, return_url: str = "") -> gw.ChargeRequest:
    """The charge of a saved method for this attempt. The first call builds it (with
    `return_url`, where 3-D Secure comes back to, defaulting to the invoice's page) and
    stores it on the attempt (Payment.charge_request); every later call returns exactly
    what was stored, whatever it is given: a retry under the same idempotency key
    (payment_refresh_pending after a timeout) must send the SAME parameters, or Stripe
    answers idempotency_error and the attempt stays pending for ever."""
    if payment.charge_request is None:
        customer = Customer.objects.select_related("contact").get(pk=payment.customer_id)
        description, metadata = _charge_words(payment=payment)
        built = gw.ChargeRequest(
            customer=gateway_customer(customer=customer),
            method_ref=payment.method.gateway_ref,
            amount=payment.amount,
            currency=payment.currency,
            idempotency_key=payment.idempotency_key,
            description=description,
            off_session=payment.off_session,
            # A payment of several invoices always passes its own page (invoices_pay_all).
            return_url=return_url or invoice_pay_url(invoice=payment.invoice),
            metadata=metadata,
        )
        # The first to store wins (two callers at once store one request, both send it).
        Payment.objects.filter(pk=payment.pk, charge_request__isnull=True).update(
            charge_request=_charge_request_dump(built)
        )
        payment.refresh_from_db(fields=["charge_request"])
    return _charge_request_load(payment.charge_request)


def _charge_request_dump(request: gw.ChargeRequest) -> dict:
    """As JSON: the amount as a string ("48.00", never a float)."""
    data = asdict(request)
    data["amount"] = str(request.amount)
    # A callback is no request parameter (the charge's customer exists at the gateway).
    data["customer"].pop("ref_created", None)
    return data


def _charge_request_load(data: dict) -> gw.ChargeRequest:
    return gw.ChargeRequest(
        **{
            **data,
            "customer": gw.GatewayCustomer(**data["customer"]),
            "amount": Decimal(data["amount"]),
        }
    )


@dataclass(frozen=True)
class Started:
    payment: Payment
    redirect_url: str  # where the customer goes next ("" when nothing is needed)


NOTHING_TO_PAY = "nothing_to_pay"
PAYMENT_IN_PROGRESS = "payment_in_progress"


def invoice_pay_refusal(*, invoice: Invoice) -> BillingError | None:
    """Why the invoice cannot be paid now, or None: nothing left to pay, or a payment
    already on its way (a SEPA debit the bank has not confirmed). Asked under the lock
    before an attempt opens, and by the pay page to show where the invoice stands."""
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due.amount <= 0:
        return BillingError(
            f"Invoice {invoice.number} has nothing left to pay.", code=NOTHING_TO_PAY
        )
    pending = invoice_payments_pending(invoice=invoice).first()
    if pending is not None:
        who = "PayPal" if pending.method_kind == PaymentMethodKind.PAYPAL else "the bank"
        return BillingError(
            f"A payment of invoice {invoice.number} is already on its way; it shows here once "
            f"{who} confirms it.",
            code=PAYMENT_IN_PROGRESS,
        )
    return None


def invoice_payments_pending(*, invoice: Invoice):
    """The invoice's payments on their way: its own, and payments of several invoices
    at once that include it (their allocations)."""
    return Payment.objects.filter(
        Q(invoice=invoice) | Q(allocations__invoice=invoice), status=PaymentStatus.PENDING
    ).distinct()


@transaction.atomic
def _attempt_create(
    *,
    invoice: Invoice,
    method_kind: str,
    gateway: str,
    method: PaymentMethod | None,
    off_session: bool,
    how: str,
) -> Payment:
    """Opens an attempt for the invoice's amount due, under the invoice's lock."""
    lock_customer(pk=invoice.customer_id)
    invoice = lock_invoice(pk=invoice.pk)
    if (refusal := invoice_pay_refusal(invoice=invoice)) is not None:
        raise refusal
    attempt = invoice.payments.count() + 1
    return Payment.objects.create(
        customer_id=invoice.customer_id,
        invoice=invoice,
        kind=PaymentKind.INVOICE,
        method=method,
        method_kind=method_kind,
        gateway=gateway,
        amount=invoice.amount_due.amount,
        currency=invoice.currency,
        status=PaymentStatus.PENDING,
        idempotency_key=payment_idempotency_key(invoice=invoice, attempt=attempt, how=how),
        attempt=attempt,
        off_session=off_session,
    )


def payment_gateway_failed(*, payment: Payment, error: GatewayError, actor: Actor) -> Payment:
    """A technical failure (timeout, 5xx): the attempt stays pending when the gateway may
    still have charged (the same key retried later cannot charge twice), else fails."""
    if error.may_retry:
        Payment.objects.filter(pk=payment.pk).update(
            error_code=error.code, error_message=error.message[:300]
        )
        payment.refresh_from_db()
        return payment
    return payment_record_result(
        payment=payment,
        result=gw.ChargeResult(
            status=gw.FAILED,
            gateway_ref=error.gateway_ref,
            amount=payment.amount,
            currency=payment.currency,
            error_code=error.code,
            error_message=error.message,
        ),
        actor=actor,
    )


def payment_charge_method(
    *,
    invoice: Invoice,
    method: PaymentMethod,
    actor: Actor,
    off_session: bool,
    return_url: str = "",
    how: str = "pay",
) -> Payment:
    """Charges a saved card or SEPA mandate for the invoice's amount due. `return_url`
    (where 3-D Secure comes back to) defaults to the invoice's page; it is stored with the
    rest of the request, so a timed-out attempt is repaired (payment_refresh_pending)
    with the very same parameters."""
    if method.customer_id != invoice.customer_id or method.removed_at is not None:
        raise BillingError("That payment method is not available.", code=METHOD_UNAVAILABLE)
    if not method.can_charge_off_session:
        raise BillingError(f"{method} cannot be charged directly.", code="method_not_chargeable")
    payment_method_require_usable(method=method)
    payment = _attempt_create(
        invoice=invoice,
        method_kind=method.kind,
        gateway=method.gateway,
        method=method,
        off_session=off_session,
        how=how,
    )
    return payment_attempt_charge(payment=payment, return_url=return_url, actor=actor)


def payment_method_require_usable(*, method: PaymentMethod) -> None:
    """A saved method the gateway configured now can charge (billing/gateways/kinds.py)."""
    if not payment_method_usable(kind=method.kind, gateway=method.gateway):
        raise BillingError(
            f"{method} cannot be charged at the moment. You can pay by bank transfer.",
            code=METHOD_UNAVAILABLE,
        )


def payment_attempt_charge(*, payment: Payment, return_url: str, actor: Actor) -> Payment:
    """Charges the attempt's saved method (outside any lock) and records the answer once:
    one invoice, or several paid at once."""
    request = payment_charge_request(payment=payment, return_url=return_url)
    try:
        result = card_gateway().charge(request)
    except GatewayError as error:
        return payment_gateway_failed(payment=payment, error=error, actor=actor)
    return payment_record_result(payment=payment, result=result, actor=actor)


def payment_hosted_start(
    *, invoice: Invoice, actor: Actor, success_url: str, cancel_url: str
) -> Started:
    """Pays by a new card on the gateway's hosted page (Stripe Checkout or the sandbox)."""
    payment_kind_require(kind=PaymentMethodKind.CARD)
    payment = _attempt_create(
        invoice=invoice,
        method_kind=PaymentMethodKind.CARD,
        gateway=card_gateway().name,
        method=None,
        off_session=False,
        how="checkout",
    )
    customer = Customer.objects.select_related("contact").get(pk=invoice.customer_id)
    try:
        session = card_gateway().payment_session_create(
            gw.PaymentSessionRequest(
                customer=gateway_customer(customer=customer),
                amount=payment.amount,
                currency=payment.currency,
                description=f"Invoice {invoice.number}",
                reference=invoice.number,
                idempotency_key=payment.idempotency_key,
                success_url=success_url,
                cancel_url=cancel_url,
                metadata={"invoice": invoice.number, "payment": str(payment.pk)},
            )
        )
    except GatewayError as error:
        payment_gateway_failed(payment=payment, error=error, actor=actor)
        raise BillingError(customer_message(error.code), code=error.code) from error
    _customer_ref_remember(customer=customer, ref=session.gateway_customer_ref)
    Payment.objects.filter(pk=payment.pk).update(
        status=PaymentStatus.REQUIRES_ACTION, gateway_ref=session.session_id, action_url=session.url
    )
    payment.refresh_from_db()
    return Started(payment=payment, redirect_url=session.url)


def payment_hosted_finish(*, customer: Customer, session_id: str, actor: Actor) -> Payment:
    """The customer is back from the hosted page (or its webhook came first). The session
    must be one this customer's attempt opened (the Payment row, scoped to the customer)
    and the gateway must say it is theirs, for this invoice (services/ownership.py)."""
    payment_kind_require(kind=PaymentMethodKind.CARD)
    payment = Payment.objects.filter(
        customer=customer, gateway=card_gateway().name, gateway_ref=session_id
    ).first()
    if payment is None:
        # Already recorded under the charge's own id by the webhook, or not ours.
        raise BillingError("This payment was not found.", code="payment_not_found")
    try:
        result = card_gateway().payment_session_result(session_id)
    except GatewayError as error:
        raise BillingError(customer_message(error.code), code=error.code) from error
    hosted_owner_check(
        customer=customer,
        owner=result.owner,
        what="payment session",
        reference=payment_reference(payment=payment),
    )
    if (why := payment_card_refusal(result=result)) is not None:
        return payment_refused_card(payment=payment, result=result, why=why, actor=actor)
    return payment_record_result(payment=payment, result=result, actor=actor)


CARD_NOT_ACCEPTED = "card_not_accepted"


def payment_card_refusal(*, result: gw.ChargeResult) -> str | None:
    """Why a hosted-page payment's card is one we do not accept (Amex, prepaid: the page
    should have blocked it), or None. Checked as set-up checks a saved card."""
    if result.status != gw.SUCCEEDED or result.method is None:
        return None
    try:
        payment_method_check_accepted(saved=result.method)
    except BillingError as refused:
        return refused.message
    return None


def payment_refused_card_key(*, payment: Payment) -> str:
    return gateway_idempotency_key(scope=f"payment-{payment.pk}-refused")


def payment_refused_card_refund(*, payment: Payment, result: gw.ChargeResult) -> gw.RefundResult:
    """The money of a card we do not accept goes straight back (the gateway call, outside
    any lock; one key per attempt: the return page and the webhook refund once)."""
    return card_gateway().refund(
        gw.RefundRequest(
            payment_ref=result.gateway_ref,
            amount=result.amount,
            currency=result.currency,
            idempotency_key=payment_refused_card_key(payment=payment),
        )
    )


@transaction.atomic
def payment_refused_card_record(
    *, payment: Payment, result: gw.ChargeResult, refund: gw.RefundResult, why: str, actor: Actor
) -> Payment:
    """The attempt closes as failed (card_not_accepted) with its refund: nothing is paid;
    the customer is told, with a link to pay another way, once (whoever records it)."""
    closed = dataclass_replace(
        result, status=gw.FAILED, error_code=CARD_NOT_ACCEPTED, error_message=why
    )
    recorded, was = payment_record_transition(payment=payment, result=closed, actor=actor)
    if recorded.error_code != CARD_NOT_ACCEPTED:
        return recorded  # closed otherwise before (and so never paid by this card)
    made, created = Refund.objects.get_or_create(
        idempotency_key=payment_refused_card_key(payment=payment),
        defaults={
            "payment": recorded,
            "amount": recorded.amount,
            "destination": Refund.TO_METHOD,
            "gateway_ref": refund.gateway_ref,
            "reason": "Card not accepted: refunded at once",
        },
    )
    if not created:
        return recorded
    Payment.objects.filter(pk=recorded.pk).update(refunded=recorded.amount)
    audit_record(
        actor=actor,
        action="payment.refund",
        target=recorded,
        after={
            "amount": recorded.amount,
            "destination": Refund.TO_METHOD,
            "gateway_ref": refund.gateway_ref,
            "reason": "card not accepted",
        },
    )
    if recorded.invoice_id:
        invoice = Invoice.objects.select_related("customer__contact").get(pk=recorded.invoice_id)
        notify_payment_failed(
            invoice=invoice, payment=recorded, retry_on=None, url=invoice_pay_url(invoice=invoice)
        )
    return recorded


def payment_refused_card(
    *, payment: Payment, result: gw.ChargeResult, why: str, actor: Actor
) -> Payment:
    """payment_refused_card_refund, then payment_refused_card_record. A refund the gateway
    refuses leaves the attempt as it was (the webhook or the next visit tries again)."""
    try:
        refund = payment_refused_card_refund(payment=payment, result=result)
    except GatewayError as error:
        raise BillingError(customer_message(error.code), code=error.code) from error
    return payment_refused_card_record(
        payment=payment, result=result, refund=refund, why=why, actor=actor
    )


def payment_paypal_refund_extra(*, payment_id: int, actor: Actor) -> Refund | None:
    """A PayPal capture that arrived for an invoice already settled (a second order that
    slipped through) goes back to the payer's PayPal, not to credit. Once, by its key."""
    payment = Payment.objects.get(pk=payment_id)
    key = f"{payment.idempotency_key}-extra-refund"
    if payment.status != PaymentStatus.SUCCEEDED or payment.error_code != EXTRA_CAPTURE:
        return None
    existing = Refund.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    try:
        result = paypal_gateway().refund(
            gw.RefundRequest(
                payment_ref=payment.gateway_capture_ref or payment.gateway_ref,
                amount=payment.amount,
                currency=payment.currency,
                idempotency_key=key,
            )
        )
    except GatewayError as error:
        log.error("Extra PayPal capture of payment %s not refunded: %s", payment.pk, error)
        return None
    with transaction.atomic():
        lock_customer(pk=payment.customer_id)
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        refund, created = Refund.objects.get_or_create(
            idempotency_key=key,
            defaults={
                "payment": locked,
                "amount": locked.amount,
                "destination": Refund.TO_METHOD,
                "gateway_ref": result.gateway_ref,
                "reason": "A second PayPal payment of an invoice already paid",
            },
        )
        if created:
            Payment.objects.filter(pk=locked.pk).update(refunded=locked.amount)
            audit_record(
                actor=actor,
                action="payment.refund",
                target=locked,
                after={
                    "amount": locked.amount,
                    "destination": Refund.TO_METHOD,
                    "gateway_ref": result.gateway_ref,
                    "reason": "extra PayPal capture",
                },
            )
    return refund


def payment_refresh(*, payment: Payment, actor: Actor) -> Payment:
    """Asks the card gateway where a charge of a saved card or SEPA mandate stands and
    records it: the customer is back from 3-D Secure (REQUIRES_ACTION, which
    collection.payment_refresh_pending leaves alone), or looks at a pending debit. A final
    payment, a hosted-page or PayPal payment, or one with no gateway id is returned as is."""
    if (
        payment.status in FINAL
        or payment.method_id is None
        or not payment.gateway_ref
        or payment.gateway != card_gateway_name()
    ):
        return payment
    try:
        result = card_gateway().charge_status(payment.gateway_ref)
    except GatewayError as error:
        raise BillingError(customer_message(error.code), code=error.code) from error
    # Back from 3-D Secure with the charge id in the URL: the charge must be this
    # payment's customer's (services/ownership.py).
    hosted_owner_check(
        customer=Customer.objects.get(pk=payment.customer_id),
        owner=result.owner,
        what="3-D Secure charge",
    )
    return payment_record_result(payment=payment, result=result, actor=actor)


TRANSFER_REFERENCE_TAKEN = "transfer_reference_taken"


@transaction.atomic
def payment_record_bank_transfer(
    *, invoice: Invoice, amount: Decimal, actor: Actor, reference: str = ""
) -> Payment:
    """Staff saw a bank transfer arrive: recorded as a succeeded payment and applied. An
    invoice may be paid by several transfers: each is its own payment with its own
    reference, the bank's (`reference`, as staff typed it) or, when none is given, a
    generated one ("<invoice number>-T<attempt>"). A bank reference already recorded is
    refused, and nothing changes (the unique (gateway, gateway_ref) backs it)."""
    if amount <= 0 or amount != round_money(amount):
        raise BillingError("Enter the amount received, e.g. 120.00.", code="amount_invalid")
    reference = " ".join(reference.split())
    if len(reference) > 100:
        raise BillingError(
            "The bank reference is too long (100 characters at most).", code="reference_invalid"
        )
    lock_customer(pk=invoice.customer_id)
    invoice = lock_invoice(pk=invoice.pk)
    attempt = invoice.payments.count() + 1
    reference = reference or f"{invoice.number}-T{attempt}"
    taken = (
        Payment.objects.filter(gateway=Gateway.OFFLINE, gateway_ref=reference)
        .select_related("invoice")
        .first()
    )
    if taken is not None:
        raise _transfer_reference_taken(reference=reference, taken=taken)
    try:
        with transaction.atomic():  # a savepoint: the same reference saved meanwhile
            payment = Payment.objects.create(
                customer_id=invoice.customer_id,
                invoice=invoice,
                method_kind=PaymentMethodKind.BANK_TRANSFER,
                gateway=Gateway.OFFLINE,
                amount=amount,
                currency=invoice.currency,
                idempotency_key=payment_idempotency_key(
                    invoice=invoice, attempt=attempt, how="transfer"
                ),
                attempt=attempt,
                gateway_ref=reference,
            )
    except IntegrityError as error:
        taken = Payment.objects.filter(gateway=Gateway.OFFLINE, gateway_ref=reference).first()
        raise _transfer_reference_taken(reference=reference, taken=taken) from error
    return payment_record_result(
        payment=payment,
        result=gw.ChargeResult(
            status=gw.SUCCEEDED,
            gateway_ref=payment.gateway_ref,
            amount=amount,
            currency=invoice.currency,
        ),
        actor=actor,
    )


def _transfer_reference_taken(*, reference: str, taken: Payment | None) -> BillingError:
    where = ""
    if taken is not None and taken.invoice_id:
        where = f" on invoice {Invoice.objects.get(pk=taken.invoice_id).number}"
    return BillingError(
        f"A bank transfer with the reference {reference} is already recorded{where}. "
        "Nothing was recorded: check the bank statement, each transfer is recorded once.",
        code=TRANSFER_REFERENCE_TAKEN,
    )


def _customer_ref_remember(*, customer: Customer, ref: str) -> None:
    if not ref or ref == customer.gateway_customer_ref:
        return
    if Customer.objects.filter(pk=customer.pk, gateway_customer_ref="").update(
        gateway_customer_ref=ref
    ):
        customer.gateway_customer_ref = ref


@transaction.atomic
def payment_record_result(
    *, payment: Payment, result: gw.ChargeResult, actor: Actor, gateway_report: bool = False
) -> Payment:
    """Records what the gateway said, once. A final attempt is never changed again, except
    a succeeded one reversed (payment_reverse) and a failed one the gateway itself reports
    succeeded (`gateway_report`). Returns the payment as it now stands."""
    return payment_record_transition(
        payment=payment, result=result, actor=actor, gateway_report=gateway_report
    )[0]


def payment_record_transition(
    *, payment: Payment, result: gw.ChargeResult, actor: Actor, gateway_report: bool = False
) -> tuple[Payment, str | None]:
    """payment_record_result, also returning the status this call found under the lock
    and moved the payment from, or None when it changed nothing (already final): what
    happens once per transition (a "payment failed" e-mail) keys on it, not on a status
    read before the lock, which two callers may both have read as pending.

    `gateway_report`: the result is the gateway's own word on the money (a verified
    webhook, the order or charge read back), not our guess from an error. Only such a
    report moves a FAILED attempt to SUCCEEDED: the money was taken, the records follow.
    Nothing moves a SUCCEEDED attempt to FAILED (payment_reverse handles money taken back)."""
    lock_customer(pk=payment.customer_id)
    for invoice_id in payment_invoice_ids(payment=payment):  # id order (services/locks.py)
        lock_invoice(pk=invoice_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    revived = (
        gateway_report and payment.status == PaymentStatus.FAILED and result.status == gw.SUCCEEDED
    )
    if payment.status in FINAL and not revived:
        return payment, None
    before = payment.status
    if result.gateway_ref:
        payment.gateway_ref = result.gateway_ref
    if result.capture_ref:
        payment.gateway_capture_ref = result.capture_ref
    if _amount_mismatch(payment=payment, result=result, actor=actor, before=before):
        return payment, before
    payment.error_code, payment.error_message = result.error_code, result.error_message[:300]
    if result.status == gw.SUCCEEDED:
        payment.status = PaymentStatus.SUCCEEDED
        payment.succeeded_at = timezone.now()
        payment.action_url = ""
    elif result.status == gw.FAILED:
        payment.status = PaymentStatus.FAILED
    elif result.status == gw.REQUIRES_ACTION:
        payment.status = PaymentStatus.REQUIRES_ACTION
        payment.action_url = result.action_url or payment.action_url
    else:
        payment.status = PaymentStatus.PENDING
    payment.save()
    audit_record(
        actor=actor,
        action="payment.record",
        target=payment,
        before={"status": before},
        after={
            "status": payment.status,
            "amount": payment.amount,
            "gateway_ref": payment.gateway_ref,
            "error": payment.error_code,
            **({"after_failed": "reported succeeded by the gateway"} if revived else {}),
        },
    )
    if payment.status == PaymentStatus.SUCCEEDED and payment.kind == PaymentKind.INVOICE:
        payment_apply_to_invoices(payment=payment, actor=actor)
    return payment, before


def payment_apply_to_invoices(*, payment: Payment, actor: Actor) -> None:
    """A succeeded payment's money onto what it pays: its invoice, or each invoice of a
    "pay all" payment by its allocation. Called under the payment's locks."""
    if payment.invoice_id:
        _invoice_apply(
            payment=payment, invoice_id=payment.invoice_id, amount=payment.amount, actor=actor
        )
    for allocation in payment.allocations.order_by("invoice_id"):
        _invoice_apply(
            payment=payment, invoice_id=allocation.invoice_id, amount=allocation.amount, actor=actor
        )


def _amount_mismatch(*, payment: Payment, result: gw.ChargeResult, actor: Actor, before) -> bool:
    """A gateway reporting success for another amount or currency than the attempt asked
    (a PayPal capture, a Stripe PaymentIntent's amount received), whoever reports it (the
    return page, the pending poll, a webhook), is not settled: the payment is left pending
    and flagged for staff (audit, log error). Bank transfers are what staff typed."""
    if payment.gateway == Gateway.OFFLINE or result.status != gw.SUCCEEDED:
        return False
    if result.amount == payment.amount and result.currency.upper() == payment.currency.upper():
        return False
    payment_amount_mismatch_flag(
        payment=payment,
        received=result.amount,
        currency=result.currency,
        actor=actor,
        before=before,
    )
    return True


def payment_amount_mismatch_flag(
    *, payment: Payment, received: Decimal, currency: str, actor: Actor, before: str
) -> None:
    """THE writer of an amount mismatch, on the locked payment: left pending, flagged
    (error_code amount_mismatch), audited, logged as an error and e-mailed to staff; the
    invoice is not touched. Whoever saw it (a webhook, the return page, the pending poll,
    a PayPal capture) calls this."""
    gateway = payment.get_gateway_display()
    payment.status = PaymentStatus.PENDING
    payment.error_code = AMOUNT_MISMATCH
    payment.error_message = (
        f"{gateway} received {received} {currency.upper()}, not {payment.amount} "
        f"{payment.currency}: staff check it."
    )[:300]
    payment.save()
    audit_record(
        actor=actor,
        action="payment.amount_mismatch",
        target=payment,
        before={"status": before},
        after={
            "status": payment.status,
            "asked": f"{payment.amount} {payment.currency}",
            "received": f"{received} {currency.upper()}",
            "gateway_ref": payment.gateway_ref,
            "capture_ref": payment.gateway_capture_ref,
        },
    )
    log.error(
        "payment %s: %s received %s %s, asked %s %s; not settled, flagged for staff",
        payment.pk,
        gateway,
        received,
        currency.upper(),
        payment.amount,
        payment.currency,
    )
    staff_alert(
        subject=f"Payment {payment.pk}: amount received is not the amount asked",
        body=(
            f"{gateway} reports {received} {currency.upper()} received for payment "
            f"{payment.pk} of customer {payment.customer_id} ({payment.gateway_ref}); we asked "
            f"{payment.amount} {payment.currency}. It is left pending, not settled: check it "
            f"at {gateway}."
        ),
    )


def _invoice_apply(*, payment: Payment, invoice_id: int, amount: Decimal, actor: Actor) -> None:
    """`amount` of the succeeded payment onto one invoice (all of it, or the invoice's
    allocation); any excess becomes credit, except a whole PayPal capture for an invoice
    already settled: refunded to PayPal."""
    invoice = Invoice.objects.get(pk=invoice_id)
    via = payment.get_method_kind_display().lower()
    if invoice.status != InvoiceStatus.OPEN and payment.gateway == Gateway.PAYPAL:
        Payment.objects.filter(pk=payment.pk).update(error_code=EXTRA_CAPTURE)
        payment.error_code = EXTRA_CAPTURE
        audit_record(
            actor=actor,
            action="payment.extra_capture",
            target=payment,
            after={"invoice": invoice.number, "amount": amount, "to": "refund"},
        )
        transaction.on_commit(
            lambda: payment_paypal_refund_extra(payment_id=payment.pk, actor=actor), robust=True
        )
        return
    if invoice.status != InvoiceStatus.OPEN:
        over = amount  # settled meanwhile (another attempt, a credit note): all of it back
    elif amount >= invoice.amount_due.amount:
        over = amount - invoice.amount_due.amount
        invoice = invoice_mark_paid(invoice=invoice, actor=actor, via=via)
        top_up_invoice_settle(invoice=invoice)
    else:
        due_before = invoice.amount_due
        invoice.amount_due = money(invoice.amount_due.amount - amount, invoice.currency)
        invoice.save(update_fields=["amount_due", "amount_due_currency"])
        audit_record(
            actor=actor,
            action="invoice.partly_paid",
            target=invoice,
            before={"amount_due": due_before},
            after={"amount_due": invoice.amount_due, "paid": amount, "via": via},
        )
        notify_payment_received(invoice=invoice, via=via, amount=money(amount, invoice.currency))
        over = Decimal(0)
    if over > 0:
        credit_grant(
            customer=invoice.customer,
            amount=round_money(over * 100 / (100 + invoice.vat_rate)),
            kind=CreditKind.OVERPAYMENT,
            reason=f"Paid {over} {invoice.currency} more than invoice {invoice.number} asked",
            invoice=invoice,
        )


@transaction.atomic
def payment_reverse(*, payment: Payment, reason: str, actor: Actor) -> Payment:
    """A succeeded payment taken back by the bank (SEPA return, chargeback): each invoice
    it paid owes that money again (its allocation, for a payment of several invoices) and
    is open; audited."""
    lock_customer(pk=payment.customer_id)
    invoices = [lock_invoice(pk=pk) for pk in payment_invoice_ids(payment=payment)]
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status != PaymentStatus.SUCCEEDED:
        return payment
    payment.status = PaymentStatus.REVERSED
    payment.error_message = reason[:300]
    payment.save(update_fields=["status", "error_message", "updated_at"])
    audit_record(
        actor=actor,
        action="payment.reversed",
        target=payment,
        before={"status": PaymentStatus.SUCCEEDED},
        after={"status": PaymentStatus.REVERSED, "reason": reason},
    )
    allocated = dict(payment.allocations.values_list("invoice_id", "amount"))
    for invoice in invoices:
        _invoice_reopen(
            invoice=invoice,
            amount=allocated.get(invoice.pk, payment.amount),
            reason=reason,
            actor=actor,
        )
    return payment


def _invoice_reopen(*, invoice: Invoice, amount: Decimal, reason: str, actor: Actor) -> None:
    owed = min(invoice.amount_due.amount + amount, invoice.total.amount)
    before = {"status": invoice.status, "amount_due": invoice.amount_due}
    if invoice.status == InvoiceStatus.PAID:
        invoice_check_transition(invoice=invoice, to=InvoiceStatus.OPEN)
        invoice.status = InvoiceStatus.OPEN
        invoice.paid_at = None
    invoice.amount_due = money(owed, invoice.currency)
    invoice.save(update_fields=["status", "paid_at", "amount_due", "amount_due_currency"])
    audit_record(
        actor=actor,
        action="invoice.reopened",
        target=invoice,
        before=before,
        after={"status": invoice.status, "amount_due": invoice.amount_due, "why": reason},
    )
    if invoice.subscription_id:
        # Its organization's mode follows (read-only again if now overdue).
        overdue_refresh_subscription(subscription=invoice.subscription, actor=actor)
