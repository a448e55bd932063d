"""Money added to the prepaid balance, or staff adjusting it, is e-mailed once."""

from decimal import Decimal

import pytest
from django.core import mail

from billing.errors import BillingError
from billing.services.balance import balance_adjust_by_staff, balance_top_up
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_a_top_up_is_emailed_once_with_the_new_balance(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    for _ in range(2):  # the return page and the webhook both report the payment
        with django_capture_on_commit_callbacks(execute=True):
            balance_top_up(
                customer=customer, amount=Decimal("50.00"), key="payment:1", reason="card"
            )
    (email,) = mail.outbox
    assert email.subject == f"{customer.name}: your prepaid balance was topped up by 50.00 EUR"
    assert "Your balance is now 50.00 EUR" in email.body
    assert email.alternatives and "50.00 EUR" in email.alternatives[0][0]


def test_a_refused_adjustment_sends_nothing(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(BillingError):
        balance_adjust_by_staff(customer=customer, amount="-5.00", reason="fix", actor="staff")
    assert mail.outbox == []
