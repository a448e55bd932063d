"""What a card gateway reports after a payment was recorded: a dispute (chargeback) opened,
won or lost, money withdrawn or reinstated, an amount that is not the one we asked for.
Each is audited; staff are alerted by e-mail (STAFF_ALERT_EMAIL) where a person must look.

Rules (docs/RULES.md, "Payments after the fact"):
- A dispute opened reverses the payment (payments.payment_reverse: the invoice owes again,
  its organization's mode follows); a balance top-up disputed takes its money back from
  the balance, never below zero: what the balance cannot pay is flagged to staff.
- A dispute won gives the money back: the payment is succeeded again and pays its invoice
  again (or becomes credit when the invoice was settled meanwhile); a top-up credits the
  balance again (what the chargeback took from it).
- A dispute lost leaves the payment reversed (audited).
- A reported amount (PaymentIntent amount_received) other than the attempt's is never
  settled: the payment stays pending, flagged amount_mismatch for staff.

Locks (services/locks.py): the customer, then the invoice, then the payment row.
"""

import logging
from decimal import Decimal

from django.db import transaction

from audit.models import AuditEntry
from audit.services import Actor, audit_record
from billing.models import (
    BalanceEntry,
    BalanceKind,
    Payment,
    PaymentKind,
    PaymentStatus,
)
from billing.money import round_money
from billing.services.balance import balance_write
from billing.services.locks import lock_customer, lock_invoice
from billing.services.payments import (
    AMOUNT_MISMATCH,
    payment_amount_mismatch_flag,
    payment_apply_to_invoices,
    payment_reverse,
)
from billing.staff_alerts import staff_alert

log = logging.getLogger("billing.payments")


def _chargeback_key(payment: Payment) -> str:
    return f"payment:{payment.pk}:chargeback"


@transaction.atomic
def payment_reverse_once(*, payment: Payment, reason: str, actor: Actor) -> tuple[Payment, bool]:
    """payments.payment_reverse, also saying whether this call reversed it (read under
    the payment's lock, so of two reports at once only one is told True): what happens
    once per reversal (an e-mail, a balance debit) keys on it."""
    lock_customer(pk=payment.customer_id)
    if payment.invoice_id:
        lock_invoice(pk=payment.invoice_id)
    was = Payment.objects.select_for_update().get(pk=payment.pk).status
    payment = payment_reverse(payment=payment, reason=reason, actor=actor)
    return payment, was == PaymentStatus.SUCCEEDED and payment.status == PaymentStatus.REVERSED


@transaction.atomic
def payment_dispute_opened(*, payment: Payment, dispute_id: str, reason: str, actor: Actor):
    """A chargeback: the payment is reversed (its invoice owes again), a top-up's money
    leaves the balance, and staff are alerted (once: only the call that reverses it)."""
    payment, reversed_now = payment_reverse_once(
        payment=payment, reason=f"disputed (chargeback {dispute_id})", actor=actor
    )
    if not reversed_now:
        return payment
    audit_record(
        actor=actor,
        action="payment.dispute_opened",
        target=payment,
        after={"dispute": dispute_id, "reason": reason, "amount": payment.amount},
    )
    missing = Decimal(0)
    if payment.kind == PaymentKind.TOP_UP:
        missing = _top_up_take_back(payment=payment, dispute_id=dispute_id, actor=actor)
    what = (
        f"invoice {payment.invoice.number} is open again"
        if payment.invoice_id
        else "a balance top-up"
    )
    staff_alert(
        subject=f"Chargeback opened on payment {payment.pk} ({payment.amount} {payment.currency})",
        body=(
            f"Stripe dispute {dispute_id} ({reason or 'no reason given'}) on payment "
            f"{payment.pk} of customer {payment.customer_id}: {what}.\n"
            + (
                f"The balance could not pay {missing} EUR of it: recover it from the customer.\n"
                if missing
                else ""
            )
            + "Answer the dispute in the Stripe dashboard."
        ),
    )
    return payment


def _top_up_take_back(*, payment: Payment, dispute_id: str, actor: Actor) -> Decimal:
    """Takes the disputed top-up back from the balance: what is there (never below zero);
    returns what the balance could not pay, flagged to staff (audit, log error)."""
    customer = lock_customer(pk=payment.customer_id)
    taken = min(customer.balance, payment.amount)
    missing = payment.amount - taken
    if taken > 0:
        balance_write(
            customer_id=customer.pk,
            amount=-taken,
            kind=BalanceKind.CHARGEBACK,
            key=_chargeback_key(payment),
            reason=f"Chargeback of the top-up of {payment.amount} {payment.currency}",
            payment=payment,
        )
    audit_record(
        actor=actor,
        action="balance.chargeback",
        target=payment,
        after={"dispute": dispute_id, "taken": taken, "missing": missing},
    )
    if missing:
        log.error(
            "Top-up payment %s disputed: balance paid %s of %s, %s missing; flagged for staff",
            payment.pk,
            taken,
            payment.amount,
            missing,
        )
    return missing


@transaction.atomic
def payment_dispute_won(*, payment: Payment, dispute_id: str, actor: Actor) -> Payment:
    """Stripe gave the disputed money back: the payment is succeeded again and pays its
    invoice again (credit when the invoice was settled meanwhile); a top-up's balance gets
    back what the chargeback took. Once: only a reversed payment moves."""
    lock_customer(pk=payment.customer_id)
    if payment.invoice_id:
        lock_invoice(pk=payment.invoice_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status != PaymentStatus.REVERSED:
        return payment
    payment.status = PaymentStatus.SUCCEEDED
    payment.error_message = f"dispute {dispute_id} won"[:300]
    payment.save(update_fields=["status", "error_message", "updated_at"])
    audit_record(
        actor=actor,
        action="payment.dispute_won",
        target=payment,
        before={"status": PaymentStatus.REVERSED},
        after={"status": PaymentStatus.SUCCEEDED, "dispute": dispute_id},
    )
    if payment.kind == PaymentKind.INVOICE:
        payment_apply_to_invoices(payment=payment, actor=actor)
    elif payment.kind == PaymentKind.TOP_UP:
        taken = BalanceEntry.objects.filter(idempotency_key=_chargeback_key(payment)).first()
        flagged = AuditEntry.objects.filter(
            action="balance.chargeback", target_id=str(payment.pk)
        ).first()
        if flagged is not None and flagged.after.get("missing") not in (None, "0", "0.00"):
            staff_alert(
                subject=f"Chargeback won on top-up payment {payment.pk}",
                body=(
                    f"Stripe dispute {dispute_id} on top-up payment {payment.pk} of customer "
                    f"{payment.customer_id} was won: the {flagged.after['missing']} EUR the "
                    "balance could not pay is no longer owed; stop recovering it."
                ),
            )
        if taken is not None:
            balance_write(
                customer_id=payment.customer_id,
                amount=-taken.amount,
                kind=BalanceKind.CHARGEBACK,
                key=f"payment:{payment.pk}:dispute-won",
                reason=f"Chargeback of the top-up of {payment.amount} {payment.currency} won",
                payment=payment,
            )
    return payment


def payment_dispute_note(*, payment: Payment, dispute_id: str, what: str, actor: Actor) -> None:
    """A dispute's step that moves no money of ours (funds withdrawn, reinstated, lost):
    audited on the payment."""
    audit_record(
        actor=actor,
        action=f"payment.dispute_{what}",
        target=payment,
        after={"dispute": dispute_id, "status": payment.status},
    )


def stripe_amount(minor: object) -> Decimal | None:
    """Stripe's amounts are integers in the minor unit (cents); None when absent."""
    if minor is None or isinstance(minor, bool):
        return None
    try:
        return round_money(Decimal(int(minor)).scaleb(-2))
    except (TypeError, ValueError):
        return None


@transaction.atomic
def payment_flag_amount_mismatch(
    *, payment: Payment, received: Decimal, currency: str, actor: Actor
) -> Payment:
    """Money reported that is not the attempt's amount: left pending, flagged for staff
    (error_code amount_mismatch, audit, log error, e-mail), never settled."""
    lock_customer(pk=payment.customer_id)
    if payment.invoice_id:
        lock_invoice(pk=payment.invoice_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.REVERSED):
        return payment
    if payment.error_code == AMOUNT_MISMATCH and payment.status == PaymentStatus.PENDING:
        return payment  # flagged already (a replay under another event id)
    payment_amount_mismatch_flag(
        payment=payment, received=received, currency=currency, actor=actor, before=payment.status
    )
    return payment
