"""Staff: a bank transfer credited to a customer's prepaid balance from the admin
(amount and reason, a confirmation page, audited, once even if sent twice), and the
balance ledger listed read-only."""

from decimal import Decimal

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from billing.models import BalanceEntry, Customer
from billing.services.balance import balance_top_up
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_a_bank_transfer_is_previewed_then_credited_once_and_audited(staff_client):
    customer = CustomerFactory(name="Initech SARL")
    url = reverse("admin:billing_customer_adjust_balance", args=[customer.pk])
    change = staff_client.get(reverse("admin:billing_customer_change", args=[customer.pk]))
    assert url in change.content.decode()
    preview = staff_client.post(url, {"amount": "120.50", "reason": "Transfer VIR-2026-0042"})
    body = preview.content.decode()
    assert "Add <strong>120.50 EUR</strong>" in body and "from 0.00 to 120.50 EUR" in body
    assert BalanceEntry.objects.count() == 0  # the preview writes nothing
    token = preview.context["preview"]["token"]
    confirm = {
        "amount": "120.50",
        "reason": "Transfer VIR-2026-0042",
        "token": token,
        "_confirm": "1",
    }
    assert staff_client.post(url, confirm).status_code == 302
    assert staff_client.post(url, confirm).status_code == 302  # a double click
    entry = BalanceEntry.objects.get()
    assert (entry.kind, entry.amount, entry.balance_after, entry.reason) == (
        "staff_adjustment",
        Decimal("120.50"),
        Decimal("120.50"),
        "Transfer VIR-2026-0042",
    )
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("120.50")
    audit = AuditEntry.objects.get(action="customer.adjust_balance")
    assert audit.actor == staff_client.staff
    assert audit.after["reason"] == "Transfer VIR-2026-0042"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": "", "reason": "x"}, "Enter an amount, e.g. 25.00."),
        ({"amount": "10.001", "reason": "x"}, "at most two decimal places"),
        ({"amount": "10", "reason": " "}, "Say why the balance is adjusted."),
        ({"amount": "-5.01", "reason": "fix"}, "it cannot go below zero"),
    ],
)
def test_bad_adjustments_are_refused_and_change_nothing(staff_client, data, message):
    customer = CustomerFactory()
    balance_top_up(customer=customer, amount=Decimal("5.00"), key="k", reason="t")
    url = reverse("admin:billing_customer_adjust_balance", args=[customer.pk])
    for extra in ({}, {"_confirm": "1", "token": "abc"}):
        response = staff_client.post(url, {**data, **extra})
        assert response.status_code == 200
        assert message in response.content.decode()
    assert BalanceEntry.objects.count() == 1
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("5.00")


def test_the_balance_ledger_is_listed_read_only(staff_client):
    customer = CustomerFactory(name="Umbrella SA")
    entry = balance_top_up(customer=customer, amount=Decimal("9.99"), key="k", reason="Top")
    listing = staff_client.get(reverse("admin:billing_balanceentry_changelist"))
    assert listing.status_code == 200 and "Umbrella SA" in listing.content.decode()
    assert staff_client.get(reverse("admin:billing_balanceentry_add")).status_code == 403
    detail = staff_client.get(reverse("admin:billing_balanceentry_change", args=[entry.pk]))
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    staff_client.post(
        reverse("admin:billing_balanceentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    assert BalanceEntry.objects.filter(pk=entry.pk).exists()
