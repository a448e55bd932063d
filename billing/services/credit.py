"""Customer credit: an append-only ledger (CreditEntry) and its cached sum
(Customer.credit_balance), moved together in one transaction under the customer's row
lock (services/locks.py), never below zero (database constraints on both).

Credit is only ever made from money that was paid or that staff granted on purpose:
- DECREASE: the part of a monthly decrease that exceeds what is still unpaid for the
  subscription's current period (services/quantity_change.py);
- CREDIT_NOTE: the part of a credit note that exceeds its invoice's amount due;
- STAFF_GRANT: staff's "Grant credit" action, audited with its reason.
Amounts are in the customer's currency, before VAT (credit is taken off an invoice
before VAT is added).
"""

from decimal import Decimal, InvalidOperation

from django.db import transaction

from audit.services import Actor, audit_record
from billing.errors import BillingError
from billing.models import CreditEntry, CreditKind, CreditNote, Customer, Invoice, Subscription
from billing.money import round_money
from billing.notifications import notify_credit_granted
from billing.services.locks import lock_customer

# A staff grant above this needs a credit note instead (it has a document behind it).
STAFF_GRANT_MAX = Decimal("100000.00")


def credit_balance_write(*, customer_id: int, amount: Decimal) -> Decimal:
    """Moves the balance by `amount` and returns the new balance. The caller holds the
    customer's row lock, so the balance read here cannot change before the write; the new
    value is computed in Decimal and written as it is, not as SQL arithmetic, because
    SQLite keeps NUMERIC values as binary floats (62.94 - 6.99 - 55.95 < 0 there)."""
    balance = Customer.objects.values_list("credit_balance", flat=True).get(pk=customer_id)
    after = balance + amount
    Customer.objects.filter(pk=customer_id).update(credit_balance=after)
    return after


@transaction.atomic
def credit_grant(
    *,
    customer: Customer,
    amount: Decimal,
    kind: str,
    reason: str,
    subscription: Subscription | None = None,
    invoice: Invoice | None = None,
    credit_note: CreditNote | None = None,
) -> CreditEntry:
    """Adds credit. Runs in the caller's transaction, which holds (or here takes) the
    customer's lock: level 2 of services/locks.py."""
    if kind == CreditKind.USED:
        raise ValueError("Credit is used through credit_consume")
    if amount <= 0:
        raise BillingError("A credit must be a positive amount.", code="credit_not_positive")
    lock_customer(pk=customer.pk)
    balance = credit_balance_write(customer_id=customer.pk, amount=amount)
    return CreditEntry.objects.create(
        customer=customer,
        kind=kind,
        amount=amount,
        balance_after=balance,
        reason=reason[:200],
        subscription=subscription,
        invoice=invoice,
        credit_note=credit_note,
    )


def credit_consume(*, customer: Customer, up_to: Decimal, invoice: Invoice) -> Decimal:
    """Uses as much credit as there is, up to `up_to`; returns what was used.

    Runs in the invoicing transaction under the customer's lock, so two invoices
    finalized at once cannot spend the same credit.
    """
    balance = lock_customer(pk=customer.pk).credit_balance
    used = min(balance, max(up_to, Decimal(0)))
    if used > 0:
        after = credit_balance_write(customer_id=customer.pk, amount=-used)
        CreditEntry.objects.create(
            customer=customer,
            kind=CreditKind.USED,
            amount=-used,
            balance_after=after,
            invoice=invoice,
            reason=f"Used on invoice {invoice.number or invoice.pk}",
        )
    return used


def credit_parse_amount(*, raw: object) -> Decimal:
    """A staff-typed amount: positive, at most two decimals, at most STAFF_GRANT_MAX."""
    try:
        amount = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise BillingError("Enter an amount, e.g. 25.00.", code="amount_invalid") from None
    if not amount.is_finite() or amount <= 0:
        raise BillingError("The amount must be more than zero.", code="amount_invalid")
    if amount != round_money(amount):
        raise BillingError("The amount has at most two decimal places.", code="amount_invalid")
    if amount > STAFF_GRANT_MAX:
        raise BillingError(
            f"At most {STAFF_GRANT_MAX:,} can be granted at once; issue a credit note instead.",
            code="amount_invalid",
        )
    return amount


def credit_validate_staff_grant(*, amount: object, reason: str) -> tuple[Decimal, str]:
    """The amount and reason of a staff grant, checked (the confirmation page shows them
    before anything is granted)."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError(
            "Say why the credit is granted: the customer sees the reason.", code="reason_missing"
        )
    if len(reason) > 200:
        raise BillingError("The reason is at most 200 characters.", code="reason_too_long")
    return credit_parse_amount(raw=amount), reason


@transaction.atomic
def credit_grant_by_staff(
    *, customer: Customer, amount: object, reason: str, actor: Actor
) -> CreditEntry:
    """Staff's "Grant credit": the only way staff move credit; audited with its reason."""
    value, reason = credit_validate_staff_grant(amount=amount, reason=reason)
    customer = lock_customer(pk=customer.pk)
    before = customer.credit_balance
    entry = credit_grant(
        customer=customer, amount=value, kind=CreditKind.STAFF_GRANT, reason=reason
    )
    audit_record(
        actor=actor,
        action="customer.grant_credit",
        target=customer,
        before={"credit_balance": before},
        after={"credit_balance": entry.balance_after, "amount": value, "reason": reason},
    )
    notify_credit_granted(entry=entry)
    return entry
