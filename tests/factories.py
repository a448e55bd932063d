"""factory_boy factories for every model. Amounts are exact Decimals."""

from datetime import date
from decimal import Decimal

import factory
from djmoney.money import Money

from accounts.models import User
from audit.models import AuditEntry
from billing.models import (
    Customer,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    Plan,
    PlanKind,
    Subscription,
)
from billing.services.periods import period_end_for
from fleet.models import Device, DeviceState, Organization


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"contact{n}@customer.example")


class StaffUserFactory(UserFactory):
    email = factory.Sequence(lambda n: f"staff{n}@caj.example")
    is_staff = True
    is_superuser = True
    password = factory.django.Password("staff-password-1")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n} SAS")
    contact = factory.SubFactory(UserFactory)
    currency = "EUR"
    country = "FR"
    vat_number = ""
    address_line1 = "1 rue du Test"
    postal_code = "75001"
    city = "Paris"


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        django_get_or_create = ("code",)

    class Params:
        currency = "EUR"

    kind = PlanKind.CORE
    interval = "month"
    code = factory.LazyAttribute(lambda o: f"{o.kind}-{o.interval}-{o.currency}".lower())
    name = factory.LazyAttribute(lambda o: "Core" if o.kind == PlanKind.CORE else "Legacy")
    unit_price = factory.LazyAttribute(lambda o: Money(Decimal("4.00"), o.currency))


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    licensed = True
    licence_count = 10


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    organization = factory.SubFactory(OrganizationFactory)
    serial = factory.Sequence(lambda n: f"SN-{n:06d}")
    state = DeviceState.IN_STOCK


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    plan = factory.LazyAttribute(lambda o: PlanFactory(currency=o.customer.currency))
    quantity = 10
    organization = factory.LazyAttribute(
        lambda o: OrganizationFactory(
            licensed=o.plan.is_core, licence_count=o.quantity if o.plan.is_core else 0
        )
    )
    organization_name = factory.LazyAttribute(lambda o: o.organization.name)
    current_period_start = date(2026, 11, 1)
    billing_day = factory.LazyAttribute(lambda o: o.current_period_start.day)
    billing_month = factory.LazyAttribute(lambda o: o.current_period_start.month)
    current_period_end = factory.LazyAttribute(
        lambda o: period_end_for(
            start=o.current_period_start,
            interval=o.plan.interval,
            billing_day=o.billing_day,
            billing_month=o.billing_month,
        )
    )


class InvoiceFactory(factory.django.DjangoModelFactory):
    """A draft; finalize it with billing.services.invoices.invoice_finalize."""

    class Meta:
        model = Invoice

    customer = factory.SubFactory(CustomerFactory)
    kind = InvoiceKind.ONE_OFF
    status = InvoiceStatus.DRAFT
    currency = factory.LazyAttribute(lambda o: o.customer.currency)
    subtotal = factory.LazyAttribute(lambda o: Money(0, o.currency))
    credit_applied = factory.LazyAttribute(lambda o: Money(0, o.currency))
    vat_amount = factory.LazyAttribute(lambda o: Money(0, o.currency))
    total = factory.LazyAttribute(lambda o: Money(0, o.currency))
    amount_due = factory.LazyAttribute(lambda o: Money(0, o.currency))


class InvoiceLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InvoiceLine

    invoice = factory.SubFactory(InvoiceFactory)
    description = "Core monthly, 10 licences"
    quantity = 10
    unit_price = factory.LazyAttribute(lambda o: Money(Decimal("4.00"), o.invoice.currency))
    amount = factory.LazyAttribute(lambda o: o.unit_price * o.quantity)


class AuditEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEntry

    actor_label = "system"
    action = "test.action"
    target_type = "billing.Customer"
    target_id = "1"
    target_repr = "Customer"


def period_invoice_paid(subscription: Subscription) -> Invoice:
    """The renewal invoice of the subscription's current period, issued on its first day
    and paid: what a decrease may give back as credit (money never paid never is)."""
    from billing.services.invoices import (
        invoice_add_line,
        invoice_create_draft,
        invoice_finalize,
        invoice_mark_paid,
    )

    invoice = invoice_create_draft(
        customer=subscription.customer,
        subscription=subscription,
        kind=InvoiceKind.RENEWAL,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
    )
    invoice_add_line(
        invoice=invoice,
        description=f"{subscription.plan.name}, {subscription.quantity} licences",
        quantity=subscription.quantity,
        unit_price=subscription.plan.unit_price.amount,
        period_start=subscription.current_period_start,
        period_end=subscription.current_period_end,
    )
    invoice = invoice_finalize(
        invoice=invoice, actor="test", issued_on=subscription.current_period_start, use_credit=False
    )
    return invoice_mark_paid(invoice=invoice, actor="test")
