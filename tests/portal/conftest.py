"""Fixtures for the portal tests: a clean cache (login rate limits live there), customers
whose contacts log in, a staff client past the TOTP step, and reading codes from e-mails."""

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.factories import CustomerFactory, StaffUserFactory


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def customer(db):
    # Made as customer_create makes contacts: no usable password until they set one.
    contact = User.objects.create_user(email="billing@acme.example")
    return CustomerFactory(name="Acme SAS", contact=contact, vat_number="")


def code_from_mail(email: str) -> str:
    """The 6-digit code in the last e-mail sent to `email`."""
    sent = [message for message in mail.outbox if email in message.to]
    assert sent, f"no e-mail to {email}"
    found = re.search(r"\b(\d{6})\b", sent[-1].body)
    assert found, sent[-1].body
    return found.group(1)


def totp_token(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():06d}"


@pytest.fixture
def staff_client(client):
    staff = StaffUserFactory()
    device = TOTPDevice.objects.create(user=staff, name="app", confirmed=True)
    response = client.post(
        reverse("admin:login"),
        {
            "username": staff.email,
            "password": "staff-password-1",
            "otp_device": device.persistent_id,
            "otp_token": totp_token(device),
        },
    )
    assert response.status_code == 302, response.content[:2000]
    client.staff_user = staff
    return client
