"""Login by e-mailed code and by password: the rules of portal/auth.py through the pages."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_email.models import EmailDevice

from tests.factories import CustomerFactory, StaffUserFactory, UserFactory
from tests.portal.conftest import code_from_mail

pytestmark = pytest.mark.django_db

SAME_ANSWER = "If this address belongs to a customer, a code is on its way"


def ask_code(client, email):
    return client.post(reverse("portal:login"), {"email": email}, follow=True)


def send_code(client, code):
    return client.post(reverse("portal:login_code"), {"code": code})


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def step_two_page(client, email) -> str:
    body = ask_code(client, email).content.decode()
    # The token names the form, the address is the visitor's own: everything else is equal.
    body = body.replace(email, "ADDRESS")
    return "\n".join(line for line in body.splitlines() if "csrfmiddlewaretoken" not in line)


def test_the_code_logs_in_once_and_rotates_the_session(client, customer):
    response = ask_code(client, "Billing@Acme.example ")
    assert SAME_ANSWER in response.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["billing@acme.example"]
    assert "valid for 10 minutes" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "valid for 10 minutes" in html
    code = code_from_mail("billing@acme.example")
    assert code in html and len(code) == 6
    before = client.session.session_key

    response = send_code(client, code)

    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
    assert logged_in(client)
    assert client.session.session_key != before
    assert not Session.objects.filter(session_key=before).exists()
    device = EmailDevice.objects.get(user=customer.contact)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get(reverse("portal:subscriptions")).status_code == 200

    # Works once: a second browser with the same code gets nothing.
    other = Client()
    ask_code_session = other.session
    ask_code_session["portal_login_email"] = "billing@acme.example"
    ask_code_session.save()
    other.cookies["sessionid"] = ask_code_session.session_key
    response = send_code(other, code)
    assert "already used" in response.content.decode()
    assert not logged_in(other)


def test_unknown_staff_and_known_addresses_get_the_same_page(client, customer):
    staff = StaffUserFactory(email="ops@caj.example")
    known = step_two_page(Client(), "billing@acme.example")
    unknown = step_two_page(Client(), "nobody@nowhere.example")
    staff_page = step_two_page(Client(), staff.email)
    assert SAME_ANSWER in known
    assert known == unknown == staff_page
    # Only the customer got an e-mail; no device was made for anyone else.
    assert [m.to for m in mail.outbox] == [["billing@acme.example"]]
    assert EmailDevice.objects.count() == 1


def refusals(response) -> list[str]:
    return re.findall(r'<ul class="errorlist"[^>]*><li>(.*?)</li>', response.content.decode())


def test_wrong_codes_answer_the_same_for_an_unknown_address(customer):
    answers = {}
    for email in ("billing@acme.example", "nobody@nowhere.example"):
        client = Client()
        seen = []
        with time_machine.travel(timezone.now(), tick=False) as traveller:
            ask_code(client, email)
            for _ in range(2):  # the second one comes too fast: throttled
                seen += refusals(send_code(client, "000000"))
            for _ in range(5):
                traveller.shift(timedelta(seconds=30))
                seen += refusals(send_code(client, "000000"))
            traveller.shift(timedelta(seconds=61))
            response = client.post(reverse("portal:login_code_resend"), follow=True)
            seen.append(response.content.decode().count("a new code is on its way"))
        assert not logged_in(client)
        answers[email] = seen
    assert code_from_mail("billing@acme.example") != "000000"
    assert answers["billing@acme.example"] == answers["nobody@nowhere.example"]
    assert answers["nobody@nowhere.example"] == [
        "That code is not right. Check the latest e-mail and try again (4 tries left for "
        "this code).",
        "Too many wrong codes in a row. Wait 1 second, then enter the code again.",
        "That code is not right. Check the latest e-mail and try again (3 tries left for "
        "this code).",
        "That code is not right. Check the latest e-mail and try again (2 tries left for "
        "this code).",
        "That code is not right. Check the latest e-mail and try again (1 try left for this code).",
        "That code is not right, and it was the 5th wrong code: this code no longer works. "
        "Ask for a new code.",
        "5 wrong codes were entered, so this code no longer works. Ask for a new code.",
        1,
    ]
    assert [m.to for m in mail.outbox] == [["billing@acme.example"]] * 2


def test_an_expired_code_is_refused(client, customer):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        ask_code(client, customer.email)
        code = code_from_mail(customer.email)
        traveller.shift(timedelta(minutes=10))
        response = send_code(client, code)
    assert "This code has expired: a code is valid for 10 minutes. Ask for a new code." in (
        response.content.decode()
    )
    assert not logged_in(client)
    assert client.get(reverse("portal:subscriptions")).status_code == 302


def test_five_wrong_codes_void_the_code(client, customer):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        ask_code(client, customer.email)
        code = code_from_mail(customer.email)
        wrong = "111111" if code != "111111" else "222222"
        body = send_code(client, wrong).content.decode()
        assert "That code is not right. Check the latest e-mail and try again (4 tries" in body
        # django-otp's throttle: the next try must wait 1, 2, 4, 8 seconds.
        body = send_code(client, code).content.decode()
        assert "Too many wrong codes in a row. Wait 1 second" in body
        assert not logged_in(client)
        for left in (3, 2, 1):
            traveller.shift(timedelta(seconds=30))
            body = send_code(client, wrong).content.decode()
            assert f"({left} {'try' if left == 1 else 'tries'} left" in body
        traveller.shift(timedelta(seconds=30))
        body = send_code(client, wrong).content.decode()
        assert "it was the 5th wrong code: this code no longer works. Ask for a new code." in body
        traveller.shift(timedelta(seconds=30))
        body = send_code(client, code).content.decode()
        assert "5 wrong codes were entered, so this code no longer works." in body
        assert not logged_in(client)
        assert len(mail.outbox) == 1

        # A new code (after the cooldown) starts afresh and works.
        client.post(reverse("portal:login_code_resend"))
        assert len(mail.outbox) == 2
        new_code = code_from_mail(customer.email)
        assert send_code(client, new_code).status_code == 302
    assert logged_in(client)


def test_a_new_code_waits_for_the_cooldown_and_voids_the_old_one(client, customer):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        ask_code(client, customer.email)
        first = code_from_mail(customer.email)
        traveller.shift(timedelta(seconds=20))
        response = client.post(reverse("portal:login_code_resend"), follow=True)
        assert "You can ask for a new one in 41 seconds; the last code still works." in (
            response.content.decode()
        )
        assert len(mail.outbox) == 1
        traveller.shift(timedelta(seconds=41))
        response = client.post(reverse("portal:login_code_resend"), follow=True)
        assert "a new code is on its way. The previous code no longer works." in (
            response.content.decode()
        )
        assert len(mail.outbox) == 2
        second = code_from_mail(customer.email)
        if first != second:
            body = send_code(client, first).content.decode()
            assert "That code is not right" in body
            traveller.shift(timedelta(seconds=5))
        assert send_code(client, second).status_code == 302
    assert logged_in(client)


def test_code_requests_are_rate_limited_per_address(client, customer, settings):
    settings.PORTAL_LOGIN_CODE_REQUESTS_PER_ADDRESS = 2
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(2):
            ask_code(client, customer.email)
            traveller.shift(timedelta(seconds=61))
        assert len(mail.outbox) == 2
        response = client.post(reverse("portal:login"), {"email": customer.email})
        assert response.status_code == 429
        assert "Too many login codes were asked for this address. Wait an hour" in (
            response.content.decode()
        )
        assert len(mail.outbox) == 2
        # An unknown address is refused in exactly the same words.
        for _ in range(2):
            ask_code(client, "nobody@nowhere.example")
        response = client.post(reverse("portal:login"), {"email": "nobody@nowhere.example"})
        assert response.status_code == 429
        assert "Too many login codes were asked for this address." in response.content.decode()
        # The window ends.
        traveller.shift(timedelta(hours=1, seconds=1))
        ask_code(client, customer.email)
    assert len(mail.outbox) == 3


def test_code_requests_are_rate_limited_per_client_ip(settings):
    settings.PORTAL_LOGIN_CODE_REQUESTS_PER_IP = 3
    customers = [CustomerFactory() for _ in range(4)]
    client = Client(REMOTE_ADDR="203.0.113.7")
    for customer in customers[:3]:
        ask_code(client, customer.email)
    response = client.post(reverse("portal:login"), {"email": customers[3].email})
    assert response.status_code == 429
    assert "Too many login codes were asked for from your network." in response.content.decode()
    assert len(mail.outbox) == 3
    assert "portal_login_email" not in client.session or (
        client.session["portal_login_email"] != customers[3].email
    )
    # Another network is not affected.
    ask_code(Client(REMOTE_ADDR="198.51.100.2"), customers[3].email)
    assert len(mail.outbox) == 4


def test_bad_code_shape_and_missing_step_one(client, customer):
    assert client.get(reverse("portal:login_code")).status_code == 302
    ask_code(client, customer.email)
    body = send_code(client, "12ab").content.decode()
    assert "A code has 6 digits." in body
    assert EmailDevice.objects.get().throttling_failure_count == 0
    assert not logged_in(client)


def test_a_code_login_goes_back_to_the_page_asked_for(client, customer):
    client.post(reverse("portal:login"), {"email": customer.email, "next": "/invoices/"})
    response = send_code(client, code_from_mail(customer.email))
    assert response["Location"] == "/invoices/"
    client.logout()
    client.post(reverse("portal:login"), {"email": customer.email, "next": "https://evil.example/"})
    assert client.session["portal_login_email"] == customer.email
    assert client.session["portal_login_next"] == ""


def test_former_contact_and_inactive_user_cannot_log_in(client):
    orphan = UserFactory(email="former@acme.example")
    inactive = CustomerFactory(contact=UserFactory(email="gone@acme.example", is_active=False))
    for email in (orphan.email, inactive.email):
        ask_code(client, email)
    assert mail.outbox == []
    assert not EmailDevice.objects.exists()


# ---- password ------------------------------------------------------------------------


def password_login(client, email, password):
    return client.post(reverse("portal:login_password"), {"email": email, "password": password})


MISMATCH = "That e-mail address and password do not match."


def test_password_login_and_its_refusals(client, customer):
    customer.contact.set_password("correct horse battery")
    customer.contact.save()
    staff = StaffUserFactory(email="ops@caj.example")
    no_password = CustomerFactory()
    for email, password in (
        (customer.email, "wrong horse battery"),
        ("nobody@nowhere.example", "correct horse battery"),
        (staff.email, "staff-password-1"),
        (no_password.email, ""),
        (no_password.email, "anything at all"),
    ):
        response = password_login(Client(), email, password)
        assert response.status_code == 200
        body = response.content.decode()
        if password:
            assert MISMATCH in body
            assert "a forgotten password is simply a code login" in body
    before = client.session.session_key
    response = password_login(client, "BILLING@acme.example", "correct horse battery")
    assert response.status_code == 302
    assert logged_in(client) and client.session.session_key != before
    assert mail.outbox == []


def test_wrong_passwords_lock_the_address_not_the_code(client, customer, settings):
    customer.contact.set_password("correct horse battery")
    customer.contact.save()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(5):
            assert MISMATCH in password_login(client, customer.email, "nope").content.decode()
        response = password_login(client, customer.email, "correct horse battery")
        assert response.status_code == 429
        assert "Too many wrong passwords for this address." in response.content.decode()
        assert not logged_in(client)
        # The same for an unknown address.
        for _ in range(5):
            password_login(client, "nobody@nowhere.example", "nope")
        response = password_login(client, "nobody@nowhere.example", "nope")
        assert "Too many wrong passwords for this address." in response.content.decode()
        # A code still works.
        ask_code(client, customer.email)
        assert send_code(client, code_from_mail(customer.email)).status_code == 302
        client.logout()
        traveller.shift(timedelta(hours=1, seconds=1))
        assert password_login(client, customer.email, "correct horse battery").status_code == 302


def test_password_attempts_are_rate_limited_per_client_ip(settings, customer):
    settings.PORTAL_LOGIN_PASSWORD_ATTEMPTS_PER_IP = 2
    client = Client(REMOTE_ADDR="203.0.113.9")
    password_login(client, "a@nowhere.example", "x")
    password_login(client, "b@nowhere.example", "x")
    response = password_login(client, customer.email, "x")
    assert response.status_code == 429
    assert "Too many login attempts from your network." in response.content.decode()


# ---- sessions ------------------------------------------------------------------------


def test_logout_ends_the_session(client, customer):
    client.force_login(customer.contact)
    key = client.session.session_key
    assert client.get(reverse("portal:logout")).status_code == 405
    response = client.post(reverse("portal:logout"))
    assert response["Location"] == reverse("portal:login")
    assert not Session.objects.filter(session_key=key).exists()
    assert client.get(reverse("portal:subscriptions")).status_code == 302


def test_sessions_expire_after_the_setting(client, customer, settings):
    assert settings.SESSION_COOKIE_AGE == 8 * 60 * 60
    client.force_login(customer.contact)
    with time_machine.travel(timezone.now() + timedelta(hours=8, seconds=1)):
        response = client.get(reverse("portal:subscriptions"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_a_logged_in_customer_skips_the_login_pages(client, customer):
    client.force_login(customer.contact)
    assert client.get(reverse("portal:login"))["Location"] == reverse("portal:home")
    assert client.get(reverse("portal:login_password"))["Location"] == reverse("portal:home")
