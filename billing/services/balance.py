"""The prepaid balance (cloud instances): an append-only ledger (BalanceEntry) and its
cached sum (Customer.balance), written together under the customer's row lock
(services/locks.py, level 2), never below zero (database constraints on both).

Every write is idempotent by its key: a second call with the same key returns the entry
already written and moves nothing. New balances are computed in Decimal and written as
they are (not SQL arithmetic: SQLite keeps NUMERIC as binary floats).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from audit.services import Actor, audit_record
from billing.errors import BillingError
from billing.models import BalanceEntry, BalanceKind, Customer, Payment
from billing.money import money_format, round_money
from billing.notifications_balance import notify_balance_changed
from billing.services.credit import credit_parse_amount
from billing.services.locks import lock_customer

BALANCE_CURRENCY = "EUR"


def _existing(key: str) -> BalanceEntry | None:
    return BalanceEntry.objects.filter(idempotency_key=key).first()


def balance_write(
    *,
    customer_id: int,
    amount: Decimal,
    kind: str,
    key: str,
    reason: str,
    instance_id: int | None = None,
    payment: Payment | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    automatic: bool = False,
) -> BalanceEntry:
    """Moves the balance by `amount` and appends the entry. The caller holds the
    customer's lock (this re-takes it: harmless) inside a transaction."""
    if amount != round_money(amount) or amount == 0:
        raise ValueError(f"A balance entry is a whole number of cents, not zero: {amount}")
    customer = lock_customer(pk=customer_id)
    existing = _existing(key)
    if existing is not None:
        return existing
    after = customer.balance + amount
    if after < 0:
        raise BillingError(
            f"The balance is {money_format(customer.balance, BALANCE_CURRENCY)}: "
            f"{money_format(-after, BALANCE_CURRENCY)} is missing.",
            code="balance_insufficient",
        )
    Customer.objects.filter(pk=customer_id).update(balance=after)
    return BalanceEntry.objects.create(
        customer_id=customer_id,
        kind=kind,
        amount=amount,
        balance_after=after,
        instance_id=instance_id,
        payment=payment,
        period_start=period_start,
        period_end=period_end,
        reason=reason[:200],
        idempotency_key=key,
        automatic=automatic,
    )


@transaction.atomic
def balance_top_up(
    *,
    customer: Customer,
    amount: Decimal,
    key: str,
    reason: str,
    payment: Payment | None = None,
    automatic: bool = False,
) -> BalanceEntry:
    """Money received (a succeeded payment): adds it to the balance, once per key, and
    tells the customer (once)."""
    if amount <= 0:
        raise BillingError("A top-up is a positive amount.", code="amount_invalid")
    lock_customer(pk=customer.pk)
    if (done := _existing(key)) is not None:
        return done
    entry = balance_write(
        customer_id=customer.pk,
        amount=amount,
        kind=BalanceKind.TOP_UP,
        key=key,
        reason=reason,
        payment=payment,
        automatic=automatic,
    )
    notify_balance_changed(entry=entry)
    return entry


def balance_adjust_check(
    *, balance: Decimal, amount: object, reason: str
) -> tuple[Decimal, str, Decimal]:
    """A staff adjustment's input: a signed amount ("-10.00" takes away), a reason, and a
    balance that stays at zero or above. Returns (amount, reason, balance after); the
    admin's preview and balance_adjust_by_staff (on the locked balance) both ask it."""
    raw = str(amount or "").strip()
    negative = raw.startswith("-")
    value = credit_parse_amount(raw=raw.lstrip("-"))
    value = -value if negative else value
    reason = (reason or "").strip()
    if not reason:
        raise BillingError("Say why the balance is adjusted.", code="reason_missing")
    after = balance + value
    if after < 0:
        raise BillingError(
            f"The balance is {balance} {BALANCE_CURRENCY}: it cannot go below zero.",
            code="balance_insufficient",
        )
    return value, reason, after


@transaction.atomic
def balance_adjust_by_staff(
    *, customer: Customer, amount: object, reason: str, actor: Actor, key: str | None = None
) -> BalanceEntry:
    """Staff: a bank transfer received (positive) or a correction (negative, never below
    zero). Audited with its reason. Without a key, each call is a new adjustment."""
    locked = lock_customer(pk=customer.pk)
    if key is not None and (done := _existing(key)) is not None:
        return done  # the same adjustment sent again (a double click): nothing, no audit
    before = locked.balance
    value, reason, _ = balance_adjust_check(balance=before, amount=amount, reason=reason)
    if key is None:
        count = BalanceEntry.objects.filter(customer_id=customer.pk).count()
        key = f"staff:{customer.pk}:{count + 1}"
    entry = balance_write(
        customer_id=customer.pk,
        amount=value,
        kind=BalanceKind.STAFF_ADJUSTMENT,
        key=key,
        reason=reason,
    )
    audit_record(
        actor=actor,
        action="customer.adjust_balance",
        target=locked,
        before={"balance": before},
        after={"balance": entry.balance_after, "amount": value, "reason": reason},
    )
    notify_balance_changed(entry=entry)
    return entry


def balance_instance_cost(
    *,
    customer_id: int,
    cost: Decimal,
    key: str,
    reason: str,
    instance_id: int,
    period_start: datetime,
    period_end: datetime,
) -> BalanceEntry:
    """An instance's cost for a period: a positive `cost` is taken from the balance
    (refused when the balance is short), a negative one is given back."""
    if cost == 0:
        raise ValueError("An instance cost is never zero")
    return balance_write(
        customer_id=customer_id,
        amount=-cost,
        kind=BalanceKind.INSTANCE_CHARGE if cost > 0 else BalanceKind.INSTANCE_REFUND,
        key=key,
        reason=reason,
        instance_id=instance_id,
        period_start=period_start,
        period_end=period_end,
    )


@dataclass
class LedgerCheck:
    customers: int
    entries: int
    mismatches: list[tuple[int, Decimal, Decimal]]  # (customer id, cached, ledger sum)


def ledger_check() -> LedgerCheck:
    """Customer.balance == sum of its entries, for every customer (two queries)."""
    sums = dict(
        BalanceEntry.objects.values("customer_id")
        .annotate(total=Sum("amount"))
        .values_list("customer_id", "total")
    )
    mismatches = []
    customers = 0
    for pk, cached in Customer.objects.values_list("pk", "balance").iterator(chunk_size=5000):
        customers += 1
        total = round_money(Decimal(sums.get(pk) or 0))
        if round_money(cached) != total:
            mismatches.append((pk, cached, total))
    return LedgerCheck(
        customers=customers, entries=BalanceEntry.objects.count(), mismatches=mismatches
    )
