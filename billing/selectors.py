from datetime import date
from decimal import Decimal

from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from billing.models import Customer, Invoice, InvoiceStatus, Subscription
from fleet.models import DeviceState, Organization


def subscriptions_for_customer(*, customer: Customer) -> QuerySet[Subscription]:
    return customer.subscriptions.select_related("plan", "organization").order_by(
        "organization_name", "id"
    )


def invoice_overdue_condition(*, today: date) -> Q:
    """The overdue rule, in one place: still open after its due date (UTC); the due date
    itself is the last day to pay."""
    return Q(status=InvoiceStatus.OPEN, due_on__lt=today)


def _with_overdue_flag(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Adds `is_overdue` (as of today, UTC) so pages never judge dates themselves."""
    condition = invoice_overdue_condition(today=timezone.now().date())
    return invoices.annotate(is_overdue=ExpressionWrapper(condition, output_field=BooleanField()))


def invoices_for_customer(*, customer: Customer) -> QuerySet[Invoice]:
    """Finalized invoices only (drafts are internal), each with `is_overdue`."""
    return _with_overdue_flag(
        customer.invoices.exclude(status=InvoiceStatus.DRAFT).select_related("subscription")
    )


def subscription_for_customer(*, customer: Customer, public_id: str) -> Subscription:
    return Subscription.objects.select_related("plan", "organization").get(
        customer=customer, public_id=public_id
    )


def invoice_for_customer(*, customer: Customer, number: str) -> Invoice:
    return _with_overdue_flag(Invoice.objects.exclude(status=InvoiceStatus.DRAFT)).get(
        customer=customer, number=number
    )


def customer_credit_balance(*, customer: Customer) -> Decimal:
    """The credit as stored now (the balance moves with F(), so a loaded row may be stale)."""
    return Customer.objects.values_list("credit_balance", flat=True).get(pk=customer.pk)


def subscriptions_overview_for_customer(*, customer: Customer) -> QuerySet[Subscription]:
    """The customer's subscriptions with their devices counted: `in_field` (licences in
    use) and `devices_total` (what a legacy yearly plan bills)."""
    in_field = Q(organization__devices__state=DeviceState.IN_THE_FIELD)
    return subscriptions_for_customer(customer=customer).annotate(
        in_field=Count("organization__devices", filter=in_field),
        devices_total=Count("organization__devices"),
    )


def invoices_for_customer_filtered(
    *, customer: Customer, status: str = "", year: int | None = None
) -> QuerySet[Invoice]:
    """Finalized invoices, newest first, optionally of one status and one year of issue."""
    invoices = invoices_for_customer(customer=customer)
    if status:
        invoices = invoices.filter(status=status)
    if year:
        invoices = invoices.filter(issued_on__year=year)
    return invoices.order_by("-issued_on", "-id")


def invoice_years_for_customer(*, customer: Customer) -> list[int]:
    """Years in which the customer was invoiced, newest first (for the filter)."""
    return sorted(
        {d.year for d in invoices_for_customer(customer=customer).dates("issued_on", "year")},
        reverse=True,
    )


def organization_for_customer(*, customer: Customer, pk: int) -> Organization:
    """One of the customer's organizations (through its subscriptions); DoesNotExist for
    another customer's organization or an erased one."""
    return Organization.objects.get(pk=pk, subscription__customer=customer)


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
