"""Staff log in to the admin in one step (accounts/staff_login.py): e-mail, password and
TOTP code on one page; one answer for every refusal; attempts limited per address and IP."""

import re
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import staff_login
from accounts.staff_login import STAFF_LOGIN_REFUSED
from tests.factories import StaffUserFactory, UserFactory
from tests.staff import STAFF_PASSWORD, totp_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    user = StaffUserFactory(email="ops@caj.example")
    user.device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    return user


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def log_in(client, email, password, code):
    """Sends the form as the page does (its hidden `next` is the admin's index)."""
    return client.post(
        reverse("admin:login"),
        {"email": email, "password": password, "code": code, "next": reverse("admin:index")},
    )


def in_admin(client) -> bool:
    return client.get(reverse("admin:index")).status_code == 200


def errors(response) -> list[str]:
    return re.findall(r'<p class="errornote"[^>]*>\s*(.*?)\s*</p>', response.content.decode())


@pytest.fixture
def count_password_checks():
    """How many times the staff login asked Django to check a password."""
    with mock.patch.object(
        staff_login, "authenticate", wraps=staff_login.authenticate
    ) as authenticate:
        yield authenticate


def test_the_page_asks_for_email_password_and_code_at_once(client):
    body = client.get(reverse("admin:login")).content.decode()
    for name in ("email", "password", "code"):
        assert f'name="{name}"' in body
    assert "<select" not in body and "otp_device" not in body
    assert f'name="next" value="{reverse("admin:index")}"' in body
    assert f'name="next" value="{reverse("admin:index")}"' in body


def test_one_step_login_rotates_the_session_and_verifies_it(client, staff):
    client.get(reverse("admin:login"))
    before = client.session.session_key
    response = log_in(client, "  OPS@caj.example ", STAFF_PASSWORD, totp_token(staff.device))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert client.session.session_key != before
    assert not Session.objects.filter(session_key=before).exists()
    assert client.session[DEVICE_ID_SESSION_KEY] == staff.device.persistent_id
    assert in_admin(client)


def test_login_goes_on_to_next(client, staff):
    url = reverse("admin:billing_customer_changelist")
    response = client.post(
        f"{reverse('admin:login')}?next={url}",
        {
            "email": staff.email,
            "password": STAFF_PASSWORD,
            "code": totp_token(staff.device),
            "next": url,
        },
    )
    assert response["Location"] == url


def test_every_refusal_is_the_same_answer(staff):
    code = totp_token(staff.device)
    customer = UserFactory(email="someone@acme.example")
    customer.set_password(STAFF_PASSWORD)
    customer.save()
    TOTPDevice.objects.create(user=customer, name="app", confirmed=True)
    no_device = StaffUserFactory(email="new@caj.example")
    unconfirmed = StaffUserFactory(email="half@caj.example")
    TOTPDevice.objects.create(user=unconfirmed, name="app", confirmed=False)
    attempts = {
        "unknown address": ("nobody@caj.example", STAFF_PASSWORD, code),
        "wrong password": (staff.email, "not-the-password", code),
        "right password, wrong code": (staff.email, STAFF_PASSWORD, wrong(code)),
        "right password, no code": (staff.email, STAFF_PASSWORD, ""),
        "right password, 5 digits": (staff.email, STAFF_PASSWORD, code[:5]),
        "not staff": (customer.email, STAFF_PASSWORD, totp_token(customer.totpdevice_set.get())),
        "no device": (no_device.email, STAFF_PASSWORD, code),
        "unconfirmed device": (
            unconfirmed.email,
            STAFF_PASSWORD,
            totp_token(unconfirmed.totpdevice_set.get()),
        ),
    }
    for what, (email, password, attempt_code) in attempts.items():
        client = Client(REMOTE_ADDR=f"198.51.100.{len(what)}")
        response = log_in(client, email, password, attempt_code)
        body = response.content.decode()
        assert response.status_code == 200, what
        assert errors(response) == [STAFF_LOGIN_REFUSED], what
        # Nothing hints that the password was right: no device list, no OTP wording.
        assert "<select" not in body and "OTP" not in body, what
        assert not in_admin(client), what


def test_the_sixth_attempt_for_an_address_is_refused_unchecked(
    client, staff, count_password_checks
):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(5):
            response = log_in(client, staff.email, "not-the-password", "123456")
            assert errors(response) == [STAFF_LOGIN_REFUSED]
        assert count_password_checks.call_count == 5
        # Even the right password and code: refused, and the password is not looked at.
        response = log_in(client, staff.email, STAFF_PASSWORD, totp_token(staff.device))
        assert response.status_code == 429
        assert errors(response) == ["Too many attempts; try again in 60 minutes."]
        assert count_password_checks.call_count == 5
        assert not in_admin(client)
        # The address is locked, not the network: another staff member logs in.
        other = StaffUserFactory()
        device = TOTPDevice.objects.create(user=other, name="app", confirmed=True)
        assert log_in(client, other.email, STAFF_PASSWORD, totp_token(device)).status_code == 302
        client.logout()
        traveller.shift(timedelta(minutes=45))
        response = log_in(client, staff.email, STAFF_PASSWORD, totp_token(staff.device))
        assert errors(response) == ["Too many attempts; try again in 15 minutes."]
        traveller.shift(timedelta(minutes=15, seconds=1))
        response = log_in(client, staff.email, STAFF_PASSWORD, totp_token(staff.device))
        assert response.status_code == 302


def test_attempts_are_limited_per_client_ip_across_addresses(
    settings, staff, count_password_checks
):
    settings.STAFF_LOGIN_ATTEMPTS_PER_IP = 3
    client = Client(REMOTE_ADDR="203.0.113.7")
    for email in ("a@caj.example", "b@caj.example", "c@caj.example"):
        assert errors(log_in(client, email, "guess", "123456")) == [STAFF_LOGIN_REFUSED]
    response = log_in(client, staff.email, STAFF_PASSWORD, totp_token(staff.device))
    assert response.status_code == 429
    assert "Too many attempts; try again in" in errors(response)[0]
    assert count_password_checks.call_count == 3
    assert not in_admin(client)
    # The same staff member from another network is let in.
    other_network = Client(REMOTE_ADDR="198.51.100.20")
    response = log_in(other_network, staff.email, STAFF_PASSWORD, totp_token(staff.device))
    assert response.status_code == 302


def test_a_login_clears_the_address_s_count(client, staff, settings, count_password_checks):
    settings.STAFF_LOGIN_ATTEMPTS_PER_ADDRESS = 2
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        log_in(client, staff.email, "typo", "123456")
        assert (
            log_in(client, staff.email, STAFF_PASSWORD, totp_token(staff.device)).status_code == 302
        )
        client.logout()
        traveller.shift(timedelta(seconds=30))  # the next TOTP code: a code works once
        log_in(client, staff.email, "typo", "123456")
        assert (
            log_in(client, staff.email, STAFF_PASSWORD, totp_token(staff.device)).status_code == 302
        )
