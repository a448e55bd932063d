"""Row locks, and the one order every money path takes them in.

A transaction that needs several of these rows locks them top to bottom, and may skip a
level but never go back up one; rows of one kind are locked in id order. Two paths that
follow this order can wait for each other but never deadlock.

0. webhook events   processed once                     (services/webhooks.py: held while
                                                        the event is acted on)
1. subscriptions    quantity, period, status           (Edit Subscription, renewals, staff)
2. customers        the credit balance a charge reads  (every path that uses or grants credit)
                    and the prepaid balance            (services/balance.py; every write to a
                                                        cloud instance, money or not, takes
                                                        its customer first, then the instance:
                                                        services/instances.py, the nightly
                                                        instance billing locks a chunk of
                                                        customers in id order)
3. invoices         amount due, status                 (credit notes, payments)
4. number sequences gapless numbers, held to commit    (services/numbering.py)
5. organizations    licences and mode                  (fleet.services.organizations)

Why the customer comes before the invoices and the numbers: the credit a preview shows
must be the credit the invoice uses, so the customer row is locked before the preview
is computed again at confirmation, and stays locked until the charge commits.
"""

from collections.abc import Iterable

from django.db import transaction

from billing.models import Customer, Invoice, Subscription


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Row locks are held until commit: call this inside a transaction")


def lock_subscription(*, pk: int) -> Subscription:
    """Level 1. No select_related: FOR UPDATE cannot cover a nullable outer join."""
    _require_transaction()
    return Subscription.objects.select_for_update().get(pk=pk)


def lock_customer(*, pk: int) -> Customer:
    """Level 2. Taking it twice in one transaction is harmless."""
    _require_transaction()
    return Customer.objects.select_for_update().select_related("contact").get(pk=pk)


def lock_customers(*, pks: Iterable[int]) -> dict[int, Customer]:
    """Level 2 for a batch (renewals), in id order."""
    _require_transaction()
    return {
        customer.pk: customer
        for customer in Customer.objects.select_for_update(of=("self",))
        .select_related("contact")
        .filter(pk__in_ids=sorted(set(pks)))
        .order_by("pk")
    }


def lock_instance(*, pk: int, customer_id: int):
    """Level 2, under the customer: the caller holds the customer's lock first."""
    _require_transaction()
    from fleet.models import Instance

    return Instance.objects.select_for_update().get(pk=pk, customer_id=customer_id)


def lock_invoice(*, pk: int) -> Invoice:
    """Level 3. The caller holds the invoice's customer first."""
    _require_transaction()
    return Invoice.objects.select_for_update().get(pk=pk)
