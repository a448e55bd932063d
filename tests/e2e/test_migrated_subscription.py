"""A legacy subscription migrated to Core by staff is editable in the portal the same day:
the page says which price applies, more licences are charged at the Core price pro rata,
and a decrease never gives back more than the legacy period was invoiced."""

from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from djmoney.money import Money
from playwright.sync_api import expect

from billing.models import Invoice, InvoiceKind
from billing.services.subscriptions import subscription_migrate_to_core
from fleet.models import DeviceState
from tests.factories import DeviceFactory, PlanFactory, SubscriptionFactory, period_invoice_paid

NOW = "2026-11-23T10:00:00Z"  # 8 of November's 30 days left


@pytest.fixture
def migrated(transactional_db):
    with time_machine.travel(NOW, tick=True):
        legacy = PlanFactory(code="legacy-monthly", kind="legacy", unit_price=Money("5.00", "EUR"))
        core = PlanFactory(code="core-monthly", unit_price=Money("4.00", "EUR"))
        subscription = SubscriptionFactory(plan=legacy, quantity=1, organization_name="Acme Lyon")
        DeviceFactory.create_batch(
            3, organization=subscription.organization, state=DeviceState.IN_THE_FIELD
        )
        subscription.quantity = 3  # the legacy period was invoiced for its 3 devices
        period_invoice_paid(subscription)  # 3 x 5.00 + VAT, paid
        subscription_migrate_to_core(subscription=subscription, plan=core, actor="staff")
        mail.outbox.clear()
        yield subscription


def test_a_migrated_subscription_is_edited_the_same_day(page, log_in, migrated):
    subscription = migrated
    with time_machine.travel(NOW, tick=True):
        log_in(page, subscription.customer.contact)
        page.goto(f"/subscriptions/{subscription.public_id}/edit/")
        expect(page.locator("[data-migrated]")).to_contain_text("invoiced per device")
        page.wait_for_load_state("load")
        page.get_by_label("Number of licences").fill("5")
        preview = page.locator("#preview")
        # Core price for the added licences: 4.00 x 2 x 8/30 = 2.13, + 20% VAT = 2.56.
        expect(preview.locator('[data-amount="total-now"]')).to_have_text("2.56 EUR")
        page.get_by_role("button", name="Update subscription").click()
        expect(page.locator(".message-success")).to_contain_text("now has 5 licences")
    invoice = Invoice.objects.get(kind=InvoiceKind.PRORATION)
    assert invoice.total.amount == Decimal("2.56")
    subscription.refresh_from_db()
    subscription.organization.refresh_from_db()
    assert subscription.quantity == subscription.organization.licence_count == 5
    assert len(mail.outbox) == 1 and subscription.public_id in mail.outbox[0].subject
