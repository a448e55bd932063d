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


def invoice_by_number(*, number: str) -> Invoice | None:
    """A finalized invoice by its number as a person types it (case and spaces forgiven),
    e.g. the reference of a bank transfer."""
    cleaned = "".join((number or "").split()).upper()
    if not cleaned:
        return None
    return (
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
        .select_related("customer", "subscription")
        .filter(number=cleaned)
        .first()
    )
