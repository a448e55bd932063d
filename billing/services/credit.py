"""Customer credit: a balance moved only with F() (never read-modify-write), never below
zero (database constraint), each move written to the CreditEntry history."""

from decimal import Decimal

from django.db import transaction
from django.db.models import F

from billing.errors import BillingError
from billing.models import CreditEntry, Customer, Invoice, Subscription


@transaction.atomic
def credit_grant(
    *,
    customer: Customer,
    amount: Decimal,
    reason: str,
    subscription: Subscription | None = None,
    invoice: Invoice | None = None,
) -> CreditEntry:
    if amount <= 0:
        raise BillingError("A credit must be a positive amount.")
    Customer.objects.filter(pk=customer.pk).update(credit_balance=F("credit_balance") + amount)
    return CreditEntry.objects.create(
        customer=customer, amount=amount, reason=reason, subscription=subscription, invoice=invoice
    )


def credit_consume(*, customer: Customer, up_to: Decimal, invoice: Invoice) -> Decimal:
    """Uses as much credit as there is, up to `up_to`; returns what was used.

    Must run in the caller's transaction: it locks the customer row so two invoices
    finalized at once cannot spend the same credit.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("credit_consume must run inside the invoicing transaction")
    balance = (
        Customer.objects.select_for_update()
        .values_list("credit_balance", flat=True)
        .get(pk=customer.pk)
    )
    used = min(balance, max(up_to, Decimal(0)))
    if used > 0:
        Customer.objects.filter(pk=customer.pk).update(credit_balance=F("credit_balance") - used)
        CreditEntry.objects.create(
            customer=customer,
            amount=-used,
            invoice=invoice,
            reason=f"Used on invoice {invoice.number or invoice.pk}",
        )
    return used
