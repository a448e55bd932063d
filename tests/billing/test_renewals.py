"""Nightly renewals: next period, invoice in advance, pending changes applied, legacy
counts, catch-up, idempotent (twice, and after a crash half-way)."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from djmoney.money import Money

from billing.models import Invoice, InvoiceKind, InvoiceStatus, SubscriptionStatus
from billing.services import renewals
from billing.services.credit import credit_grant
from billing.services.renewals import renewals_renew_chunk, renewals_run
from billing.services.subscriptions import subscription_migrate_to_core
from fleet.models import DeviceState
from tests.factories import (
    CustomerFactory,
    DeviceFactory,
    InvoiceFactory,
    PlanFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

DEC_1 = date(2026, 12, 1)


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_core_monthly_renewal_moves_the_period_and_issues_one_invoice_in_advance():
    subscription = SubscriptionFactory(quantity=25)  # 1 Nov - 1 Dec, 4.00 EUR a licence
    result = renewals_run(today=DEC_1)
    assert (result.subscriptions, result.invoices) == (1, 1)
    subscription.refresh_from_db()
    assert (subscription.current_period_start, subscription.current_period_end) == (
        date(2026, 12, 1),
        date(2027, 1, 1),
    )
    invoice = Invoice.objects.get()
    assert invoice.kind == InvoiceKind.RENEWAL
    assert invoice.number == "CAJ-2026-000001"
    assert invoice.idempotency_key == f"renewal:{subscription.public_id}:2026-12-01"
    assert (invoice.period_start, invoice.period_end) == (date(2026, 12, 1), date(2027, 1, 1))
    assert (invoice.subtotal, invoice.vat_amount, invoice.total) == (
        Money("100.00", "EUR"),
        Money("20.00", "EUR"),
        Money("120.00", "EUR"),
    )
    assert invoice.status == InvoiceStatus.OPEN
    assert (invoice.issued_on, invoice.due_on) == (DEC_1, date(2026, 12, 15))
    assert invoice.bill_to["name"] == subscription.customer.name
    line = invoice.lines.get()
    assert (line.quantity, line.unit_price, line.amount) == (
        25,
        Money("4.00", "EUR"),
        Money("100.00", "EUR"),
    )
    # Twice: nothing more.
    assert renewals_run(today=DEC_1).invoices == 0
    assert Invoice.objects.count() == 1


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_not_yet_ended_paused_and_cancelled_subscriptions_are_not_renewed():
    SubscriptionFactory(current_period_start=date(2026, 11, 2))  # ends 2 Dec
    SubscriptionFactory(status=SubscriptionStatus.PAUSED)
    SubscriptionFactory(
        status=SubscriptionStatus.CANCELLED, organization=None, organization_name="Gone Ltd"
    )
    assert renewals_run(today=DEC_1).invoices == 0
    assert not Invoice.objects.exists()


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_legacy_yearly_bills_every_device_and_legacy_monthly_the_devices_in_the_field():
    customer = CustomerFactory(country="US", currency="USD")
    yearly = SubscriptionFactory(
        customer=customer,
        plan=PlanFactory(kind="legacy", interval="year", currency="USD"),
        current_period_start=date(2025, 12, 1),
    )
    monthly = SubscriptionFactory(
        customer=customer, plan=PlanFactory(kind="legacy", interval="month", currency="USD")
    )
    for subscription in (yearly, monthly):
        for state, count in (
            (DeviceState.IN_THE_FIELD, 3),
            (DeviceState.IN_STOCK, 2),
            (DeviceState.IN_REPAIR, 1),
        ):
            for _ in range(count):
                DeviceFactory(organization=subscription.organization, state=state)
    renewals_run(today=DEC_1)
    yearly_invoice = Invoice.objects.get(subscription=yearly)
    monthly_invoice = Invoice.objects.get(subscription=monthly)
    assert yearly_invoice.lines.get().quantity == 6
    assert yearly_invoice.total == Money("24.00", "USD")  # outside the EU: no VAT
    assert (yearly_invoice.period_start, yearly_invoice.period_end) == (
        date(2026, 12, 1),
        date(2027, 12, 1),
    )
    assert monthly_invoice.lines.get().quantity == 3
    assert monthly_invoice.total == Money("12.00", "USD")


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_a_yearly_decrease_takes_effect_at_the_renewal_and_fleet_gets_the_new_count():
    subscription = SubscriptionFactory(
        plan=PlanFactory(interval="year"),
        quantity=20,
        pending_quantity=12,
        current_period_start=date(2025, 12, 1),
    )
    renewals_run(today=DEC_1)
    subscription.refresh_from_db()
    assert (subscription.quantity, subscription.pending_quantity) == (12, None)
    assert subscription.organization.licence_count == 12
    assert Invoice.objects.get().subtotal == Money("48.00", "EUR")


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_a_migration_to_core_takes_its_new_price_at_the_renewal():
    legacy = PlanFactory(kind="legacy", interval="month")
    core = PlanFactory(code="core-new", unit_price=Money("5.50", "EUR"))
    subscription = SubscriptionFactory(plan=legacy, quantity=1)
    for _ in range(7):
        DeviceFactory(organization=subscription.organization, state="in_the_field")
    subscription_migrate_to_core(subscription=subscription, plan=core, actor="staff")
    renewals_run(today=DEC_1)
    line = Invoice.objects.get().lines.get()
    assert (line.quantity, line.amount) == (7, Money("38.50", "EUR"))


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_credit_is_used_before_vat_on_the_renewal_invoice():
    subscription = SubscriptionFactory(quantity=10)
    credit_grant(
        kind="staff_grant",
        customer=subscription.customer,
        amount=Decimal("15.00"),
        reason="decrease",
    )
    renewals_run(today=DEC_1)
    invoice = Invoice.objects.get()
    assert (invoice.credit_applied, invoice.vat_amount, invoice.total) == (
        Money("15.00", "EUR"),
        Money("5.00", "EUR"),
        Money("30.00", "EUR"),
    )
    subscription.customer.refresh_from_db()
    assert subscription.customer.credit_balance == Decimal("0.00")


@time_machine.travel("2027-03-31 00:00:05+00:00", tick=False)
def test_a_subscription_behind_by_several_periods_catches_up_all_at_once_on_its_own_day():
    subscription = SubscriptionFactory(
        current_period_start=date(2026, 12, 31)
    )  # billed on the 31st: ends 31 Jan
    result = renewals_run(today=date(2027, 3, 31))
    assert result.invoices == 3
    periods = list(
        Invoice.objects.order_by("number").values_list("number", "period_start", "period_end")
    )
    assert periods == [
        ("CAJ-2027-000001", date(2027, 1, 31), date(2027, 2, 28)),
        ("CAJ-2027-000002", date(2027, 2, 28), date(2027, 3, 31)),
        ("CAJ-2027-000003", date(2027, 3, 31), date(2027, 4, 30)),
    ]
    subscription.refresh_from_db()
    assert subscription.current_period_end == date(2027, 4, 30)


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_a_crash_half_way_then_a_rerun_issues_exactly_one_invoice_per_period(monkeypatch):
    subscriptions = [SubscriptionFactory() for _ in range(10)]
    real_issue = renewals.invoices_issue_many
    calls = {"n": 0}

    def crash_in_the_third_chunk(**kwargs):
        calls["n"] += 1
        invoices = real_issue(**kwargs)  # written, then the worker dies before commit
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return invoices

    monkeypatch.setattr(renewals, "invoices_issue_many", crash_in_the_third_chunk)
    with pytest.raises(RuntimeError, match="worker killed"):
        renewals_run(today=DEC_1, chunk_size=2)
    assert Invoice.objects.count() == 4  # chunks 1 and 2 committed; chunk 3 rolled back

    monkeypatch.setattr(renewals, "invoices_issue_many", real_issue)
    result = renewals_run(today=DEC_1, chunk_size=2)
    assert result.invoices == 6
    assert renewals_run(today=DEC_1, chunk_size=2).invoices == 0
    for subscription in subscriptions:
        assert list(
            Invoice.objects.filter(subscription=subscription).values_list("period_start", flat=True)
        ) == [DEC_1]
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"CAJ-2026-{n:06d}" for n in range(1, 11)]  # the crash left no gap


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_an_invoice_already_there_for_the_period_is_not_issued_again():
    subscription = SubscriptionFactory()
    InvoiceFactory(
        customer=subscription.customer,
        subscription=subscription,
        kind=InvoiceKind.RENEWAL,
        period_start=DEC_1,
    )
    result = renewals_renew_chunk(subscription_ids=[subscription.pk], today=DEC_1)
    assert (result.subscriptions, result.invoices) == (1, 0)
    subscription.refresh_from_db()
    assert subscription.current_period_start == DEC_1
    assert Invoice.objects.count() == 1


def test_the_database_refuses_two_renewal_invoices_for_one_period():
    subscription = SubscriptionFactory()
    fields = {
        "customer": subscription.customer,
        "subscription": subscription,
        "kind": InvoiceKind.RENEWAL,
        "period_start": DEC_1,
    }
    InvoiceFactory(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceFactory(**fields)


@time_machine.travel("2026-12-01 12:00:00+00:00", tick=False)
def test_run_renewals_command_prints_counts_and_refuses_a_day_to_come():
    SubscriptionFactory()
    SubscriptionFactory(current_period_start=date(2026, 11, 15))  # ends 15 Dec
    from io import StringIO

    out = StringIO()
    call_command("run_renewals", "--date", "2026-12-01", stdout=out)
    assert out.getvalue().strip() == (
        "Renewed 1 subscription(s), issued 1 invoice(s) for periods ended by 2026-12-01."
    )
    with pytest.raises(CommandError, match="has not come yet"):
        call_command("run_renewals", "--date", "2026-12-15", stdout=StringIO())
    assert Invoice.objects.count() == 1


def test_nightly_billing_is_scheduled_at_midnight_utc(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["nightly-billing"]
    assert entry["task"] == "billing.tasks.nightly_billing"
    schedule = entry["schedule"]
    assert (schedule.minute, schedule.hour) == ({0}, {0})
    assert settings.CELERY_TIMEZONE == "UTC"


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_renewals_audit_each_invoice_and_each_subscription_in_issue_order():
    from audit.models import AuditEntry

    first = SubscriptionFactory(quantity=25)
    second = SubscriptionFactory(quantity=1)
    credit_grant(kind="staff_grant", customer=second.customer, amount=Decimal("1.00"), reason="x")
    renewals_run(today=DEC_1, chunk_size=1)
    invoices = list(Invoice.objects.order_by("pk"))
    finalized = list(AuditEntry.objects.filter(action="invoice.finalize").order_by("pk"))
    assert [(e.target_type, e.target_id, e.target_repr) for e in finalized] == [
        ("billing.Invoice", str(i.pk), i.number) for i in invoices
    ]
    assert [(e.actor_label, e.before, e.after) for e in finalized] == [
        (
            "nightly-billing",
            {"status": "draft"},
            {"status": "open", "number": i.number, "total": f"{i.total.amount} EUR"},
        )
        for i in invoices
    ]
    assert invoices[1].total == Money("3.60", "EUR")  # 4.00 - 1.00 credit, then 20% VAT
    renewed = AuditEntry.objects.get(action="subscription.renew", target_id=str(first.pk))
    assert (renewed.target_type, renewed.target_repr) == ("billing.Subscription", str(first))
    assert (renewed.before, renewed.after) == (
        {"period_start": "2026-11-01", "period_end": "2026-12-01"},
        {"period_start": "2026-12-01", "period_end": "2027-01-01"},
    )


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_the_renewal_audit_row_carries_the_quantity_a_pending_decrease_sets():
    from audit.models import AuditEntry

    subscription = SubscriptionFactory(
        plan=PlanFactory(interval="year"),
        quantity=20,
        pending_quantity=12,
        current_period_start=date(2025, 12, 1),
    )
    renewals_run(today=DEC_1)
    renewed = AuditEntry.objects.get(action="subscription.renew")
    assert (renewed.target_id, renewed.before, renewed.after) == (
        str(subscription.pk),
        {"period_start": "2025-12-01", "period_end": "2026-12-01"},
        {"period_start": "2026-12-01", "period_end": "2027-12-01", "quantity": "12"},
    )
