"""Staff change a customer's quantity from the admin: preview, confirm, same service."""

import re
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from audit.models import AuditEntry
from billing.models import Invoice, PlanKind
from tests.factories import PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _url(subscription):
    return reverse("admin:billing_subscription_change_quantity", args=[subscription.pk])


def test_action_opens_the_confirmation_page_for_one_subscription(staff_client):
    subscription = SubscriptionFactory()
    response = staff_client.post(
        reverse("admin:billing_subscription_changelist"),
        {"action": "change_quantity_action", "_selected_action": [subscription.pk]},
    )
    assert response.status_code == 302 and response["Location"] == _url(subscription)


def test_staff_preview_then_confirm_on_the_customers_behalf(
    staff_client, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory(quantity=10)
    with time_machine.travel("2026-11-23T10:00:00Z", tick=False):
        body = staff_client.post(_url(subscription), {"quantity": "12"}).content.decode()
        assert 'data-amount="total-now">2.56 EUR' in body  # 4.00 x 2 x 8/30 = 2.13 + VAT
        assert not Invoice.objects.exists()
        terms = re.search(r'name="expected_terms" value="([^"]+)"', body).group(1)
        assert "now=2.56" in terms
        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post(
                _url(subscription),
                {"quantity": "12", "expected_terms": terms, "confirm": "1"},
            )
    assert response.status_code == 302
    invoice = Invoice.objects.get()
    assert invoice.total.amount == Decimal("2.56")
    subscription.refresh_from_db()
    assert subscription.quantity == 12
    entry = AuditEntry.objects.get(action="subscription.change_quantity")
    assert entry.actor == staff_client.staff
    assert mail.outbox[0].to == [subscription.customer.email]


def test_staff_see_the_legacy_refusal_and_nothing_changes(staff_client):
    subscription = SubscriptionFactory(plan=PlanFactory(kind=PlanKind.LEGACY), quantity=1)
    body = staff_client.get(_url(subscription)).content.decode()
    assert "not yet migrated to the Core plan" in body
    staff_client.post(
        _url(subscription), {"quantity": "5", "expected_terms": "from=1;to=5", "confirm": "1"}
    )
    subscription.refresh_from_db()
    assert subscription.quantity == 1
    assert not Invoice.objects.exists() and mail.outbox == []
