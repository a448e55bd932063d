"""Services and the database refuse invalid data with a readable message, changing nothing."""

from datetime import date

import pytest
from django.db import IntegrityError, transaction
from djmoney.money import Money

from accounts.models import User
from billing.errors import BillingError
from billing.models import Customer, Subscription
from billing.services.customers import customer_create
from billing.services.subscriptions import subscription_create
from fleet.models import Device, Organization
from tests.factories import CustomerFactory, DeviceFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

CUSTOMER = dict(
    name="Initech",
    currency="EUR",
    country="FR",
    address_line1="1 rue",
    postal_code="75001",
    city="Paris",
)


def test_duplicate_billing_contact_email_is_refused_case_insensitively():
    customer_create(contact_email="billing@initech.example", **CUSTOMER)
    with pytest.raises(BillingError, match="already used"):
        customer_create(contact_email="Billing@Initech.example", **CUSTOMER)
    assert Customer.objects.count() == 1
    assert User.objects.count() == 1


def test_invalid_vat_number_is_refused():
    with pytest.raises(BillingError, match="not a valid EU VAT number"):
        customer_create(contact_email="a@b.example", vat_number="FR123", **CUSTOMER)
    assert not Customer.objects.exists()
    assert not User.objects.exists()


@pytest.mark.parametrize("quantity", [0, -1, 100_001])
def test_quantity_out_of_range_is_refused(quantity):
    customer = CustomerFactory()
    plan = PlanFactory()
    with pytest.raises(BillingError, match="between 1 and 100,000"):
        subscription_create(
            customer=customer,
            organization_name="Org",
            plan=plan,
            quantity=quantity,
            start=date(2026, 11, 1),
            actor=None,
        )
    assert not Subscription.objects.exists()
    assert not Organization.objects.exists()


def test_database_refuses_quantity_zero_even_past_the_service():
    subscription = SubscriptionFactory(quantity=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(quantity=0)
    subscription.refresh_from_db()
    assert subscription.quantity == 5


def test_plan_in_another_currency_is_refused():
    customer = CustomerFactory(currency="EUR")
    usd_plan = PlanFactory(currency="USD", unit_price=Money("4.50", "USD"))
    with pytest.raises(BillingError, match="priced in USD"):
        subscription_create(
            customer=customer,
            organization_name="Org",
            plan=usd_plan,
            quantity=3,
            start=date(2026, 11, 1),
            actor=None,
        )
    assert not Subscription.objects.exists()
    assert not Organization.objects.exists()


def test_device_serial_used_twice_is_refused_by_the_database():
    device = DeviceFactory(serial="SN-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Device.objects.create(organization=device.organization, serial="SN-1")
    assert Device.objects.count() == 1


def test_second_subscription_for_one_organization_is_refused_by_the_database():
    subscription = SubscriptionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriptionFactory(organization=subscription.organization)
    assert Subscription.objects.count() == 1
