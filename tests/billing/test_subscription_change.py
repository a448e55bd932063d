"""Refused quantity changes say why and change nothing: no invoice, no credit, no e-mail,
no audit entry, quantity and licence count untouched."""

from datetime import date
from decimal import Decimal

import pytest
from django.core import mail
from djmoney.money import Money

from audit.models import AuditEntry
from billing.errors import BillingError
from billing.models import CreditEntry, Invoice, PlanKind, SubscriptionStatus
from billing.services.proration import subscription_quantity_preview
from billing.services.quantity_change import subscription_change_quantity
from fleet.models import DeviceState, OrganizationMode
from fleet.services.organizations import organization_set_billing_state
from tests.factories import DeviceFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 11, 23)


def _attempt(subscription, quantity, capture, **kwargs):
    with pytest.raises(BillingError) as refused, capture(execute=True):
        subscription_change_quantity(
            subscription=subscription, quantity=quantity, actor=None, today=TODAY, **kwargs
        )
    return refused.value.message


def _assert_nothing_changed(subscription, *, quantity=10, licences=10, pending=None):
    assert not Invoice.objects.exists()
    assert not CreditEntry.objects.exists()
    assert mail.outbox == []
    assert not AuditEntry.objects.filter(action="subscription.change_quantity").exists()
    subscription.refresh_from_db()
    subscription.organization.refresh_from_db()
    assert subscription.quantity == quantity
    assert subscription.pending_quantity == pending
    assert subscription.organization.licence_count == licences


def test_legacy_plan_is_not_yet_migrated(django_capture_on_commit_callbacks):
    legacy = PlanFactory(kind=PlanKind.LEGACY)
    subscription = SubscriptionFactory(plan=legacy, quantity=10)
    message = _attempt(subscription, 12, django_capture_on_commit_callbacks)
    assert "not yet migrated to the Core plan" in message
    _assert_nothing_changed(subscription, licences=0)


def test_quantity_below_devices_in_the_field_says_how_many_go_back_to_stock(
    django_capture_on_commit_callbacks,
):
    subscription = SubscriptionFactory(quantity=10)
    DeviceFactory.create_batch(
        8, organization=subscription.organization, state=DeviceState.IN_THE_FIELD
    )
    DeviceFactory.create_batch(
        5, organization=subscription.organization, state=DeviceState.IN_STOCK
    )
    message = _attempt(subscription, 5, django_capture_on_commit_callbacks)
    assert "8 devices are in the field" in message
    assert "move 3 devices back to stock first" in message
    _assert_nothing_changed(subscription)
    # Exactly the number in the field is allowed (in stock and in repair use no licence).
    subscription_change_quantity(subscription=subscription, quantity=8, actor=None, today=TODAY)


@pytest.mark.parametrize("quantity", [0, -3, 100_001])
def test_quantity_out_of_range(quantity, django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(quantity=10)
    message = _attempt(subscription, quantity, django_capture_on_commit_callbacks)
    assert message == "The quantity must be between 1 and 100,000 licences."
    _assert_nothing_changed(subscription)


def test_largest_quantity_is_accepted():
    subscription = SubscriptionFactory(quantity=10)
    change = subscription_change_quantity(
        subscription=subscription, quantity=100_000, actor=None, today=TODAY
    )
    # 4.00 x 99,990 x 8/30 = 106,656.00
    assert change.invoice.subtotal == Money("106656.00", "EUR")


def test_same_quantity_is_refused(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(quantity=10)
    message = _attempt(subscription, 10, django_capture_on_commit_callbacks)
    assert message == "The subscription already has 10 licences."
    _assert_nothing_changed(subscription)


def test_paused_subscription(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(quantity=10, status=SubscriptionStatus.PAUSED)
    message = _attempt(subscription, 12, django_capture_on_commit_callbacks)
    assert "is paused" in message and "until it is resumed" in message
    _assert_nothing_changed(subscription)


def test_cancelled_subscription(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(quantity=10, status=SubscriptionStatus.CANCELLED)
    message = _attempt(subscription, 12, django_capture_on_commit_callbacks)
    assert "is cancelled" in message
    _assert_nothing_changed(subscription)


def test_read_only_organization(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(quantity=10)
    organization_set_billing_state(
        organization=subscription.organization, actor=None, has_overdue_invoice=True
    )
    assert subscription.organization.mode == OrganizationMode.READ_ONLY
    message = _attempt(subscription, 12, django_capture_on_commit_callbacks)
    assert "is read-only because an invoice is past its due date" in message
    assert "Pay the overdue invoice first" in message
    _assert_nothing_changed(subscription)


def test_period_already_over_waits_for_the_renewal(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(quantity=10, current_period_start=date(2026, 10, 1))
    message = _attempt(subscription, 12, django_capture_on_commit_callbacks)
    assert "ended on 01 Nov 2026" in message and "renewal is being processed" in message
    _assert_nothing_changed(subscription)


def test_amounts_moved_since_the_preview(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(quantity=10)
    seen = subscription_quantity_preview(
        subscription=subscription, quantity=12, today=date(2026, 11, 22)
    )
    assert seen.total_now == Decimal("2.88")  # 9 days left when previewed
    message = _attempt(
        subscription, 12, django_capture_on_commit_callbacks, expected_terms=seen.terms
    )
    assert "amounts changed since your preview" in message
    _assert_nothing_changed(subscription)


def test_yearly_decrease_already_scheduled(django_capture_on_commit_callbacks):
    yearly = PlanFactory(interval="year")
    subscription = SubscriptionFactory(plan=yearly, quantity=10, pending_quantity=6)
    message = _attempt(subscription, 6, django_capture_on_commit_callbacks)
    assert (
        message == "A decrease to 6 licences is already scheduled for the renewal on 01 Nov 2027."
    )
    _assert_nothing_changed(subscription, pending=6)


def test_change_is_audited_with_before_and_after():
    subscription = SubscriptionFactory(quantity=10)
    change = subscription_change_quantity(
        subscription=subscription, quantity=12, actor="staff@caj.example", today=TODAY
    )
    entry = AuditEntry.objects.get(action="subscription.change_quantity")
    assert entry.actor_label == "staff@caj.example"
    assert entry.before == {"quantity": 10, "pending_quantity": None}
    assert entry.after["quantity"] == 12
    assert entry.after["invoice"] == change.invoice.number
