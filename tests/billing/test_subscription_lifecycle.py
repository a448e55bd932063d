"""Staff services: pause, resume (new period and its invoice), cancel (final, organization
erased, invoices kept), migrate legacy -> Core. Fleet stays in sync; every move audited."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from djmoney.money import Money

from audit.models import AuditEntry
from billing.errors import BillingError
from billing.models import Invoice, InvoiceKind, SubscriptionStatus
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.renewals import renewals_run
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_migrate_to_core,
    subscription_pause,
    subscription_resume,
)
from fleet.models import Device, DeviceState, Organization, OrganizationMode
from tests.factories import DeviceFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_pause_stops_renewals_and_tells_the_mdm():
    subscription = SubscriptionFactory()
    subscription_pause(subscription=subscription, actor="staff")
    subscription.refresh_from_db()
    subscription.organization.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PAUSED
    assert subscription.organization.mode == OrganizationMode.PAUSED
    with time_machine.travel("2026-12-02 00:00:00+00:00", tick=False):
        assert renewals_run(today=date(2026, 12, 2)).invoices == 0
    assert AuditEntry.objects.filter(action="subscription.pause").count() == 1
    with pytest.raises(BillingError, match="is paused; it cannot become paused"):
        subscription_pause(subscription=subscription, actor="staff")


@time_machine.travel("2026-12-10 09:00:00+00:00", tick=False)
def test_resume_starts_a_new_period_that_day_and_issues_its_invoice():
    subscription = SubscriptionFactory(quantity=5, status=SubscriptionStatus.PAUSED)
    subscription.organization.is_paused = True
    subscription.organization.save()
    subscription_resume(subscription=subscription, actor="staff")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert (subscription.current_period_start, subscription.current_period_end) == (
        date(2026, 12, 10),
        date(2027, 1, 10),
    )
    assert (subscription.billing_day, subscription.billing_month) == (10, 12)
    invoice = Invoice.objects.get()
    assert invoice.kind == InvoiceKind.RENEWAL
    assert (invoice.period_start, invoice.total) == (date(2026, 12, 10), Money("24.00", "EUR"))
    subscription.organization.refresh_from_db()
    assert subscription.organization.mode == OrganizationMode.ACTIVE
    # Paused and resumed again the same day: that period's invoice is not issued twice.
    subscription_pause(subscription=subscription, actor="staff")
    subscription_resume(subscription=subscription, actor="staff")
    assert Invoice.objects.count() == 1


def test_resume_refuses_an_active_subscription():
    subscription = SubscriptionFactory()
    with pytest.raises(BillingError, match="is active; it cannot become active"):
        subscription_resume(subscription=subscription, actor="staff")
    assert not Invoice.objects.exists()


def test_cancel_needs_the_exact_name_and_changes_nothing_otherwise():
    subscription = SubscriptionFactory(organization_name="Initech HQ")
    DeviceFactory(organization=subscription.organization)
    with pytest.raises(BillingError, match="type the organization's name exactly: Initech HQ"):
        subscription_cancel(subscription=subscription, confirm_name="initech hq", actor="staff")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert Organization.objects.count() == 1 and Device.objects.count() == 1


def test_cancel_erases_the_organization_and_its_devices_and_keeps_the_invoices():
    subscription = SubscriptionFactory(organization_name="Initech HQ")
    DeviceFactory(organization=subscription.organization, state=DeviceState.IN_THE_FIELD)
    draft = invoice_create_draft(customer=subscription.customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=1, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=draft, actor=None)
    subscription_cancel(subscription=subscription, confirm_name="Initech HQ", actor="staff")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELLED
    assert subscription.cancelled_at is not None
    assert subscription.organization is None
    assert subscription.organization_name == "Initech HQ"
    assert not Organization.objects.exists() and not Device.objects.exists()
    assert Invoice.objects.get() == invoice
    assert set(
        AuditEntry.objects.filter(action__startswith="organization.").values_list(
            "action", flat=True
        )
    ) >= {"organization.erase", "organization.mode"}
    with pytest.raises(BillingError, match="is cancelled; it cannot become"):
        subscription_resume(subscription=subscription, actor="staff")


def test_migrate_to_core_counts_the_devices_in_the_field_and_is_core_at_once():
    legacy = PlanFactory(kind="legacy", interval="month")
    core = PlanFactory(code="core-month-eur-2026", unit_price=Money("5.00", "EUR"))
    subscription = SubscriptionFactory(plan=legacy, quantity=1)
    for state in (DeviceState.IN_THE_FIELD,) * 4 + (DeviceState.IN_STOCK,) * 3:
        DeviceFactory(organization=subscription.organization, state=state)
    subscription_migrate_to_core(subscription=subscription, plan=core, actor="staff")
    subscription.refresh_from_db()
    # Core from now (the licences are capped now); the period keeps its legacy invoice.
    assert (subscription.plan, subscription.quantity) == (core, 4)
    assert (subscription.billing_day, subscription.current_period_end) == (1, date(2026, 12, 1))
    org = Organization.objects.get()
    assert (org.licensed, org.licence_count, org.mode) == (True, 4, OrganizationMode.ACTIVE)
    with time_machine.travel("2026-12-01 00:00:00+00:00", tick=False):
        renewals_run(today=date(2026, 12, 1))
    assert Invoice.objects.get().subtotal == Money("20.00", "EUR")  # 4 x 5.00, the new price
    with pytest.raises(BillingError, match="already on the Core plan"):
        subscription_migrate_to_core(subscription=subscription, plan=core, actor="staff")


def test_migrate_with_no_device_in_the_field_buys_one_licence():
    subscription = SubscriptionFactory(plan=PlanFactory(kind="legacy", interval="year"))
    subscription_migrate_to_core(
        subscription=subscription, plan=PlanFactory(interval="year"), actor="staff"
    )
    subscription.refresh_from_db()
    assert subscription.quantity == 1


def test_migrate_refuses_a_core_plan_of_another_interval_and_changes_nothing():
    legacy = PlanFactory(kind="legacy", interval="year")
    subscription = SubscriptionFactory(plan=legacy, quantity=3)
    with pytest.raises(BillingError, match="pick a yearly Core plan"):
        subscription_migrate_to_core(
            subscription=subscription, plan=PlanFactory(interval="month"), actor="staff"
        )
    subscription.refresh_from_db()
    assert (subscription.plan, subscription.quantity) == (legacy, 3)


def test_migrate_refuses_a_plan_in_another_currency_and_changes_nothing():
    subscription = SubscriptionFactory(plan=PlanFactory(kind="legacy"), quantity=3)
    usd_core = PlanFactory(currency="USD", unit_price=Money("4.50", "USD"))
    with pytest.raises(BillingError, match="priced in USD"):
        subscription_migrate_to_core(subscription=subscription, plan=usd_core, actor="staff")
    subscription.refresh_from_db()
    assert (subscription.quantity, subscription.plan.kind) == (3, "legacy")
    assert subscription.organization.licence_count == 0
