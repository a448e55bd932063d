from decimal import Decimal

from django.db.models import QuerySet

from billing.models import Customer, Invoice, InvoiceStatus, Subscription


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


def customer_credit_balance(*, customer: Customer) -> Decimal:
    """The credit as stored now (the balance moves with F(), so a loaded row may be stale)."""
    return Customer.objects.values_list("credit_balance", flat=True).get(pk=customer.pk)
