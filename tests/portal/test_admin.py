"""The staff admin: TOTP second factor (the login page itself: test_admin_login.py), every
model listed, bad input refused, invoices read-only once finalized."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from billing.models import Customer, Subscription
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from fleet.models import Device
from tests.factories import (
    CustomerFactory,
    DeviceFactory,
    PlanFactory,
    StaffUserFactory,
    SubscriptionFactory,
)
from tests.staff import totp_token

pytestmark = pytest.mark.django_db


def test_password_alone_does_not_open_the_admin(client):
    staff = StaffUserFactory()
    device = TOTPDevice.objects.create(user=staff, name="app", confirmed=True)
    response = client.post(
        reverse("admin:login"),
        {
            "email": staff.email,
            "password": "staff-password-1",
            "code": "000000" if totp_token(device) != "000000" else "111111",
        },
    )
    assert response.status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302  # back to the login page


def test_customer_cannot_reach_the_admin(client):
    customer = CustomerFactory()
    client.force_login(customer.contact)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.parametrize(
    "model",
    [
        "billing/customer",
        "billing/plan",
        "billing/subscription",
        "billing/invoice",
        "billing/numbersequence",
        "billing/creditentry",
        "billing/creditnote",
        "billing/invoicereminder",
        "fleet/organization",
        "fleet/device",
        "accounts/user",
        "audit/auditentry",
    ],
)
def test_every_model_is_listed_and_searchable(staff_client, model):
    SubscriptionFactory()
    response = staff_client.get(f"/admin/{model}/?q=a")
    assert response.status_code == 200


def test_admin_creates_customer_and_refuses_a_duplicate_contact(staff_client):
    form = {
        "name": "Initech",
        "contact_email": "billing@initech.example",
        "currency": "EUR",
        "country": "FR",
        "vat_number": "",
        "address_line1": "1 rue",
        "address_line2": "",
        "postal_code": "75001",
        "city": "Paris",
    }
    assert staff_client.post(reverse("admin:billing_customer_add"), form).status_code == 302
    response = staff_client.post(
        reverse("admin:billing_customer_add"),
        {**form, "name": "Other", "contact_email": "BILLING@initech.example"},
    )
    assert response.status_code == 200
    assert "already used by another account" in response.content.decode()
    assert list(Customer.objects.values_list("name", flat=True)) == ["Initech"]


@pytest.mark.parametrize(
    ("quantity", "message"), [("0", "between 1 and 100,000"), ("-3", "between 1 and 100,000")]
)
def test_admin_refuses_a_bad_quantity(staff_client, quantity, message):
    customer = CustomerFactory()
    plan = PlanFactory()
    response = staff_client.post(
        reverse("admin:billing_subscription_add"),
        {
            "customer": customer.pk,
            "organization_name": "Org",
            "plan": plan.pk,
            "quantity": quantity,
            "start": "2026-11-01",
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert message in body or "greater than or equal to 0" in body
    assert not Subscription.objects.exists()


def test_admin_refuses_a_plan_in_another_currency(staff_client):
    from djmoney.money import Money

    customer = CustomerFactory(currency="EUR")
    plan = PlanFactory(currency="USD", unit_price=Money("4.50", "USD"))
    response = staff_client.post(
        reverse("admin:billing_subscription_add"),
        {
            "customer": customer.pk,
            "organization_name": "Org",
            "plan": plan.pk,
            "quantity": "3",
            "start": "2026-11-01",
        },
    )
    assert "priced in USD" in response.content.decode()
    assert not Subscription.objects.exists()


def test_admin_creates_a_subscription_with_its_organization(staff_client):
    customer = CustomerFactory()
    plan = PlanFactory()
    response = staff_client.post(
        reverse("admin:billing_subscription_add"),
        {
            "customer": customer.pk,
            "organization_name": "Initech HQ",
            "plan": plan.pk,
            "quantity": "12",
            "start": "2026-01-31",
        },
    )
    assert response.status_code == 302
    subscription = Subscription.objects.get()
    assert subscription.public_id.startswith("SUB-") and len(subscription.public_id) == 12
    assert subscription.organization.licence_count == 12
    assert subscription.current_period_end == date(2026, 2, 28)


def test_admin_refuses_a_device_serial_used_twice(staff_client):
    device = DeviceFactory(serial="SN-DUP")
    response = staff_client.post(
        reverse("admin:fleet_device_add"),
        {
            "organization": device.organization.pk,
            "serial": "SN-DUP",
            "model_name": "",
            "state": "in_stock",
        },
    )
    assert response.status_code == 200
    assert "already registered" in response.content.decode()
    assert Device.objects.count() == 1


def test_finalized_invoice_is_read_only_in_the_admin(staff_client):
    invoice = invoice_create_draft(customer=CustomerFactory())
    invoice_add_line(invoice=invoice, description="x", quantity=1, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=invoice, actor=None)
    url = reverse("admin:billing_invoice_change", args=[invoice.pk])
    page = staff_client.get(url).content.decode()
    assert 'name="_save"' not in page
    staff_client.post(url, {"kind": "one_off", "currency": "USD"})
    invoice.refresh_from_db()
    assert invoice.currency == "EUR"
    assert (
        staff_client.post(
            reverse("admin:billing_invoice_delete", args=[invoice.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
