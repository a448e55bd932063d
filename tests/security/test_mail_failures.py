"""A mail server that fails never fails the request, and never tells a known address from
an unknown one: the error is logged (portal/auth.py, accounts/signup.py, accounts/contact.py)."""

import logging

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client
from django.urls import reverse

from accounts.models import ContactRequest
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

BROKEN = "tests.security.test_mail_failures.BrokenBackend"


class BrokenBackend(BaseEmailBackend):
    """As SMTP with no server behind it."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError(111, "Connection refused")


def page_without_token(response, email) -> str:
    body = response.content.decode().replace(email, "ADDRESS")
    return "\n".join(line for line in body.splitlines() if "csrfmiddlewaretoken" not in line)


def test_login_code_known_and_unknown_addresses_answer_the_same(settings, caplog):
    settings.EMAIL_BACKEND = BROKEN
    customer = CustomerFactory(contact__email="billing@known.example")
    answers = []
    with caplog.at_level(logging.ERROR):
        for email in (customer.email, "nobody@nowhere.example"):
            client = Client(raise_request_exception=True)
            response = client.post(reverse("portal:login"), {"email": email})
            assert response.status_code == 302
            assert response["Location"] == reverse("portal:login_code")
            answers.append(page_without_token(client.get(response["Location"]), email))
            resend = client.post(reverse("portal:login_code_resend"), follow=True)
            assert resend.status_code == 200
            answers.append(page_without_token(resend, email))
    assert answers[0] == answers[2] and answers[1] == answers[3]
    errors = [r for r in caplog.records if "login code e-mail" in r.getMessage()]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert customer.email not in errors[0].getMessage()  # the user's id, not the address


def test_sign_up_and_contact_survive_a_broken_mail_server(
    settings, caplog, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = BROKEN
    CustomerFactory(contact__email="billing@known.example")
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        statuses = [
            Client(raise_request_exception=True)
            .post(
                reverse("portal:signup"),
                {"email": email, "company_name": "Newco", "country": "FR"},
            )
            .status_code
            for email in ("billing@known.example", "new@newco.example")
        ]
        contact = Client(raise_request_exception=True).post(
            reverse("portal:contact"),
            {"name": "A", "company": "B", "email": "a@b.example", "message": "Hello"},
        )
    assert statuses == [302, 302]
    assert contact.status_code == 302
    assert ContactRequest.objects.count() == 1
    # Both sign-ups (the known address gets "you already have an account") and the contact.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert len(errors) == 3
