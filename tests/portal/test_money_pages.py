"""Money you can trust, as the customer sees it: the decrease preview split between open
invoices and credit, credit notes as documents, the credit history, the billing overview
and the countdown before an organization becomes read-only. Exact amounts throughout.

The "credit hole" sequence: a Core monthly subscription of 30 licences, its November
period paid (120.00 EUR + 24.00 VAT = 144.00 EUR); on 23 November (8 of 30 days left)
30 -> 1030 issues an open proration invoice of 1,000 x 4.00 x 8/30 = 1,066.67 + VAT
213.33 = 1,280.00 EUR; then 1030 -> 30 gives back 1,066.67 before VAT, all of it on that
unpaid invoice (1,280.00 with VAT): it becomes void and no credit is made.
"""

from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from billing.models import Invoice, InvoiceKind
from billing.services.proration import subscription_quantity_preview
from billing.services.quantity_change import subscription_change_quantity
from tests.factories import SubscriptionFactory, period_invoice_paid

pytestmark = pytest.mark.django_db

NOW = "2026-11-23T10:00:00Z"


@pytest.fixture(autouse=True)
def _november_23rd():
    with time_machine.travel(NOW, tick=False):
        yield


def change(subscription, quantity):
    subscription.refresh_from_db()
    preview = subscription_quantity_preview(
        subscription=subscription, quantity=quantity, today=timezone.now().date()
    )
    return subscription_change_quantity(
        subscription=subscription, quantity=quantity, actor="test", expected_terms=preview.terms
    )


@pytest.fixture
def core(client):
    subscription = SubscriptionFactory(quantity=30, organization_name="Acme Paris")
    period_invoice_paid(subscription)
    client.force_login(subscription.customer.contact)
    return subscription


def _preview(client, subscription, quantity) -> str:
    url = reverse("portal:subscription_preview", args=[subscription.public_id])
    return client.get(url, {"quantity": str(quantity)}).content.decode()


def test_decrease_preview_lowers_the_open_invoice_and_makes_no_credit(client, core):
    change(core, 1030)
    proration = Invoice.objects.get(kind=InvoiceKind.PRORATION)
    assert proration.total.amount == Decimal("1280.00")
    fragment = _preview(client, core, 30)
    assert f"Reduces open invoice {proration.number} by" in fragment
    assert f'data-amount="reduces-{proration.number}">1,280.00 EUR' in fragment
    assert 'data-amount="credit-gained"' not in fragment
    assert "money not yet paid is never turned into credit" in fragment
    assert f"reduce={proration.number}:1280.00:0.00;credit_gained=0.00" in fragment


def test_decrease_preview_of_a_paid_period_is_all_credit(client, core):
    fragment = _preview(client, core, 25)
    assert "Reduces open invoice" not in fragment
    assert 'data-amount="credit-gained">5.33 EUR' in fragment
