"""Fixtures for the portal tests: customers whose contacts log in, and reading codes from
e-mails. (tests/conftest.py clears the cache, where login rate limits live, around each test.)"""

import re

import pytest
from django.core import mail

from accounts.models import User
from tests.factories import CustomerFactory


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
