from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import User
from billing.models import Customer, Invoice, Subscription
from fleet.models import Device, Organization

# seed_demo refuses outside the demo (tests/security/test_demo_only.py); here it is the demo.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("demo_settings")]


def test_create_staff_user_prints_an_otpauth_uri():
    out = StringIO()
    call_command("create_staff_user", email="ops@caj.example", password="s3cret-Pass!", stdout=out)
    assert "otpauth://totp/" in out.getvalue()
    user = User.objects.get(email="ops@caj.example")
    assert user.is_staff and user.totpdevice_set.filter(confirmed=True).exists()
    with pytest.raises(CommandError, match="already used"):
        call_command("create_staff_user", email="OPS@caj.example", password="x", stdout=out)
    assert User.objects.count() == 1


def test_seed_demo_is_deterministic_and_safe_to_run_twice():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = (
        Customer.objects.count(),
        Organization.objects.count(),
        Device.objects.count(),
        list(Invoice.objects.order_by("number").values_list("number", "total", "status")),
    )
    call_command("seed_demo", stdout=out)
    assert "already loaded" in out.getvalue()
    again = (
        Customer.objects.count(),
        Organization.objects.count(),
        Device.objects.count(),
        list(Invoice.objects.order_by("number").values_list("number", "total", "status")),
    )
    assert first == again
    acme = Customer.objects.get(contact__email="billing@acme.example")
    assert acme.subscriptions.count() == 3
    assert Subscription.objects.get(public_id="SUB-ACMEPAR2").quantity == 25
    assert {s.plan.code for s in acme.subscriptions.all()} == {
        "core-monthly-eur",
        "core-yearly-eur",
        "legacy-monthly-eur",
    }
    assert Customer.objects.get(contact__email="billing@globex.example").currency == "USD"
    assert 55 <= Device.objects.count() <= 65
    statuses = {status for _, _, status in first[3]}
    assert statuses == {"paid", "open"}


def test_seed_demo_shows_every_mode_a_customer_meets():
    call_command("seed_demo", stdout=StringIO())
    modes = dict(
        Subscription.objects.filter(customer__contact__email="billing@acme.example").values_list(
            "public_id", "organization__mode"
        )
    )
    assert modes == {
        "SUB-ACMEPAR2": "active",
        "SUB-ACMEYRN3": "restricted",
        "SUB-ACMERTA4": "read_only",
    }
    today = timezone.now().date()
    overdue = Invoice.objects.get(status="open", due_on__lt=today)
    assert overdue.subscription.public_id == "SUB-ACMERTA4"
    lyon = Organization.objects.get(subscription__public_id="SUB-ACMEYRN3")
    assert lyon.devices.filter(state="in_the_field").count() > lyon.licence_count == 9
    acme = Customer.objects.get(contact__email="billing@acme.example")
    assert acme.vat_number and acme.vat_number != settings.BILLING_SELLER["vat_number"]
