"""Automatic collection of open invoices from the default card or SEPA mandate, without
the customer (off-session), and its retries.

- Collection starts the day an invoice is issued (a task queued on commit by whoever
  issued it, never inside the web request), when the customer's default method is a card
  or a SEPA mandate.
- A failed attempt e-mails the customer a link to pay and is tried again
  BILLING_COLLECTION_RETRY_DAYS after the invoice was issued (default 1, 3, 5, 7 days);
  after the last one nothing more is tried and the overdue rules apply.
- A payment that needs the customer (3-D Secure) e-mails a link to complete it.
- SEPA debits stay pending until the bank answers (webhook, or the status poll below).
- The attempt's idempotency key is the invoice's id and the attempt number, so an attempt
  retried after a crash or a timeout never charges twice.
"""

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.services import Actor
from billing.errors import BillingError
from billing.gateways import card_gateway, card_gateway_name, paypal_gateway_name
from billing.gateways.errors import GatewayError
from billing.gateways.kinds import payment_method_usable
from billing.models import (
    OFF_SESSION_KINDS,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
)
from billing.notifications import (
    notify_payment_action_required,
    notify_payment_failed,
    notify_sepa_prenotification,
)
from billing.services.payment_methods import payment_method_default
from billing.services.payments import (
    invoice_pay_url,
    payment_charge_method,
    payment_charge_request,
    payment_record_transition,
)
from billing.services.paypal_payments import payment_paypal_refresh

COLLECTION_ACTOR = "collection"


def collection_retry_on(*, invoice: Invoice, attempts: int) -> date | None:
    """The day of the next attempt after `attempts` failed ones, or None when done."""
    days = settings.BILLING_COLLECTION_RETRY_DAYS
    if attempts > len(days):
        return None
    return invoice.issued_on + timedelta(days=days[attempts - 1])


def collection_schedule(*, invoice_ids: list[int], today: date) -> list[int]:
    """Marks the new invoices whose customer can be charged off-session as due today;
    returns their ids. A fixed number of queries, whatever the count (nightly renewals)."""
    invoices = Invoice.objects.filter(
        pk__in_ids=invoice_ids, status=InvoiceStatus.OPEN, amount_due__gt=0
    )
    chargeable = PaymentMethod.objects.filter(
        customer_id__in=invoices.values("customer_id"),
        is_default=True,
        removed_at__isnull=True,
        kind__in=OFF_SESSION_KINDS,
        # Saved through the card gateway configured now; none configured, none collected.
        gateway=card_gateway_name() or None,
    ).values("customer_id")
    due = list(invoices.filter(customer_id__in=chargeable).values_list("pk", flat=True))
    Invoice.objects.filter(pk__in_ids=due).update(next_collection_on=today)
    return due


def collection_start(*, invoice_ids: list[int], today: date | None = None) -> None:
    """Called by whoever issues invoices (renewals, resume, Edit Subscription), inside its
    transaction: the invoices that can be collected off-session get a collection task,
    queued when that transaction commits."""
    from billing.tasks import collect_invoice  # tasks import the services

    today = today or timezone.now().date()
    for invoice_id in collection_schedule(invoice_ids=invoice_ids, today=today):
        transaction.on_commit(
            lambda invoice_id=invoice_id: collect_invoice.delay(invoice_id, today.isoformat())
        )


def collection_due(*, today: date):
    """Ids of open invoices whose collection attempt is due (the nightly sweep)."""
    return (
        Invoice.objects.filter(
            status=InvoiceStatus.OPEN, amount_due__gt=0, next_collection_on__lte=today
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def collection_attempt(
    *, invoice_id: int, today: date | None = None, actor: Actor = COLLECTION_ACTOR
) -> Payment | None:
    """One off-session attempt, if still due. The attempt is claimed first (a second
    worker given the same invoice finds nothing to do)."""
    today = today or timezone.now().date()
    invoice = Invoice.objects.select_related("customer__contact").get(pk=invoice_id)
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due.amount <= 0:
        Invoice.objects.filter(pk=invoice_id).update(next_collection_on=None)
        return None
    method = payment_method_default(customer=invoice.customer)
    if (
        method is None
        or not method.can_charge_off_session
        or not payment_method_usable(kind=method.kind, gateway=method.gateway)
    ):
        Invoice.objects.filter(pk=invoice_id).update(next_collection_on=None)
        return None
    claimed = Invoice.objects.filter(
        pk=invoice_id,
        collection_attempts=invoice.collection_attempts,
        next_collection_on__lte=today,
    ).update(collection_attempts=F("collection_attempts") + 1, next_collection_on=None)
    if not claimed:
        return None
    attempts = invoice.collection_attempts + 1
    if method.kind == PaymentMethodKind.SEPA_DEBIT:
        # The SEPA pre-notification of this debit, as it starts (docs/RULES.md): sent once
        # per attempt (the claim above), queued on commit like every e-mail.
        notify_sepa_prenotification(
            invoice=invoice, method=method, amount=invoice.amount_due, debit_on=today
        )
    try:
        payment = payment_charge_method(
            invoice=invoice,
            method=method,
            actor=actor,
            off_session=True,
            return_url=invoice_pay_url(invoice=invoice),
            how="collect",
        )
    except BillingError:
        return None  # paid meanwhile, or a payment already on its way
    _after_attempt(invoice=invoice, payment=payment, attempts=attempts)
    return payment


def _after_attempt(*, invoice: Invoice, payment: Payment, attempts: int) -> None:
    if payment.status == PaymentStatus.REQUIRES_ACTION or (
        payment.status == PaymentStatus.FAILED and payment.error_code == "authentication_required"
    ):
        notify_payment_action_required(
            invoice=invoice,
            payment=payment,
            url=payment.action_url or invoice_pay_url(invoice=invoice),
        )
        return
    if payment.status == PaymentStatus.FAILED:
        retry_on = collection_retry_on(invoice=invoice, attempts=attempts)
        Invoice.objects.filter(pk=invoice.pk).update(next_collection_on=retry_on)
        notify_payment_failed(
            invoice=invoice,
            payment=payment,
            retry_on=retry_on,
            url=invoice_pay_url(invoice=invoice),
        )


def collection_failed_later(*, payment: Payment, was: str | None) -> None:
    """A collection attempt that was pending and then failed (a SEPA debit the bank refused
    days later, a lost answer): the same e-mail with a link to pay and the same retry
    schedule as a failure at once. `was`: the status the recording call moved the payment
    from under its lock (payment_record_transition), None if it changed nothing."""
    if (
        was != PaymentStatus.PENDING
        or payment.status != PaymentStatus.FAILED
        or not payment.off_session
        or payment.invoice_id is None
    ):
        return
    invoice = Invoice.objects.select_related("customer__contact").get(pk=payment.invoice_id)
    if invoice.status == InvoiceStatus.OPEN:
        _after_attempt(
            invoice=invoice, payment=payment, attempts=max(invoice.collection_attempts, 1)
        )


def payment_refresh_pending(*, payment_id: int, actor: Actor = COLLECTION_ACTOR) -> Payment:
    """Asks the gateway where a pending attempt stands (a SEPA debit, a webhook lost, a
    timeout before any answer). With no gateway id yet, the same charge is sent again with
    the same idempotency key: the gateway answers with the first one, never a second."""
    payment = Payment.objects.select_related("invoice", "method", "customer__contact").get(
        pk=payment_id
    )
    if (
        payment.status == PaymentStatus.PENDING
        and payment.method_kind == PaymentMethodKind.PAYPAL
        and payment.gateway == paypal_gateway_name()
    ):
        # PayPal: GET the order, record its capture (paypal_payments.payment_paypal_refresh).
        return payment_paypal_refresh(payment=payment, actor=actor)
    if payment.status != PaymentStatus.PENDING or payment.gateway != card_gateway_name():
        return payment
    gateway = card_gateway()
    try:
        if payment.gateway_ref:
            result = gateway.charge_status(payment.gateway_ref)
        elif payment.method is not None and (
            payment.invoice is not None or payment.charge_request is not None
        ):
            # The same request as the first try (same key, same parameters): the gateway
            # answers with the first charge, never a second one.
            result = gateway.charge(payment_charge_request(payment=payment))
        else:
            return payment
    except GatewayError:
        return payment  # still unknown: the next poll asks again
    with transaction.atomic():
        recorded, was = payment_record_transition(payment=payment, result=result, actor=actor)
        collection_failed_later(payment=recorded, was=was)
        return recorded


def payments_pending_ids(*, older_than_seconds: int = 60):
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return (
        Payment.objects.filter(status=PaymentStatus.PENDING, created_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
