from django.db.models import QuerySet

from billing.models import Customer, Invoice, InvoiceStatus, Subscription
from fleet.models import Organization


def subscriptions_for_customer(*, customer: Customer) -> QuerySet[Subscription]:
    return customer.subscriptions.select_related("plan", "organization").order_by(
        "organization_name", "id"
    )


def invoices_for_customer(*, customer: Customer) -> QuerySet[Invoice]:
    """Finalized invoices only: drafts are internal."""
    return customer.invoices.exclude(status=InvoiceStatus.DRAFT).select_related("subscription")


def subscription_for_customer(*, customer: Customer, public_id: str) -> Subscription:
    return Subscription.objects.select_related("plan", "organization").get(
        customer=customer, public_id=public_id
    )


def invoice_for_customer(*, customer: Customer, number: str) -> Invoice:
    return Invoice.objects.exclude(status=InvoiceStatus.DRAFT).get(customer=customer, number=number)


def organization_for_customer(*, customer: Customer, pk: int) -> Organization:
    """One of the customer's organizations (through its subscriptions); DoesNotExist for
    another customer's organization or an erased one."""
    return Organization.objects.get(pk=pk, subscription__customer=customer)
