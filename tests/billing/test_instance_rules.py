"""The cloud-instance rules, as a table, to the cent."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.errors import BillingError
from billing.models import BalanceEntry, BalanceKind, Customer
from billing.services import instance_billing as ib
from billing.services.balance import balance_adjust_by_staff, balance_top_up, ledger_check
from billing.services.instances import (
    instance_change_preview,
    instance_change_settings,
    instance_create,
    instance_disable,
    instance_enable,
    instance_enable_preview,
    next_run_after,
    pro_rata,
)
from fleet.models import Instance
from tests.billing.instance_helpers import new_instance, option, package, top_up, utc
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

THU = utc(2025, 3, 6)  # Thursday 00:00 UTC
FRI = utc(2025, 3, 7)  # Friday 00:00 UTC


def _balance(customer) -> Decimal:
    return Customer.objects.get(pk=customer.pk).balance


def _enabled_paid(customer, pkg, at, **kw):
    instance = new_instance(customer, pkg, **kw)
    instance_enable(instance=instance, actor="test", at=at)
    return Instance.objects.get(pk=instance.pk)


# ---- small pieces ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("daily", "start", "end", "expected"),
    [
        ("24.00", utc(2025, 3, 7, 8), FRI + timedelta(days=1), "16.00"),  # 16 of 24 h
        ("10.00", utc(2025, 3, 7, 12), FRI + timedelta(days=1), "5.00"),
        ("1.00", utc(2025, 3, 7, 23, 59, 59), FRI + timedelta(days=1), "0.00"),  # 1 s
        ("0.03", utc(2025, 3, 7, 12), FRI + timedelta(days=1), "0.02"),  # 0.015 half up
        ("7.00", FRI, FRI + timedelta(days=1), "7.00"),
    ],
)
def test_pro_rata_in_seconds_rounded_once_half_up(daily, start, end, expected):
    assert pro_rata(daily_price=Decimal(daily), start=start, end=end) == Decimal(expected)


def test_next_run_is_the_next_midnight_utc():
    assert next_run_after(utc(2025, 3, 7, 8)) == utc(2025, 3, 8)
    assert next_run_after(FRI) == utc(2025, 3, 8)


def test_daily_price_is_package_plus_devices_plus_options():
    customer = CustomerFactory()
    pkg = package("pro", "5.00", per_device="0.0100")
    option("backup", "1.50")
    option("sso", "0.25")
    top_up(customer, "100.00", "t1")
    instance = new_instance(customer, pkg, devices=250, options=["sso", "backup"])
    quote = instance_enable_preview(instance=instance, at=FRI)
    assert quote.daily_price == Decimal("9.25")  # 5 + 2.50 + 1.50 + 0.25
    assert quote.amount == Decimal("9.25")


def test_another_currency_is_refused():
    customer = CustomerFactory(currency="USD")
    with pytest.raises(BillingError) as refused:
        instance_create(
            customer=customer,
            name="x",
            package=package("p", "1"),
            expected_cpe_devices=0,
            actor="t",
        )
    assert refused.value.code == "currency_mismatch"


# ---- the nightly run ---------------------------------------------------------------------


def test_greedy_in_creation_order_10_50_5_with_20():
    customer = CustomerFactory()
    top_up(customer, "80.00", "t1")  # enough to enable all three on Thursday
    ten = _enabled_paid(customer, package("ten", "10.00"), THU, name="ten")
    fifty = _enabled_paid(customer, package("fifty", "50.00"), THU, name="fifty")
    five = _enabled_paid(customer, package("five", "5.00"), THU, name="five")
    assert _balance(customer) == Decimal("15.00")
    top_up(customer, "5.00", "t2")  # 20.00 at Friday's run

    result = ib.instance_billing_run(at=FRI)

    assert (result.billed, result.disabled, result.charged) == (2, 1, Decimal("15.00"))
    assert _balance(customer) == Decimal("5.00")
    states = {i.name: (i.enabled, i.paid_until) for i in Instance.objects.all()}
    assert states == {
        "ten": (True, utc(2025, 3, 8)),
        "fifty": (False, FRI),
        "five": (True, utc(2025, 3, 8)),
    }
    charges = BalanceEntry.objects.filter(period_start=FRI).order_by("id")
    assert [(e.instance_id, e.amount, e.balance_after) for e in charges] == [
        (ten.pk, Decimal("-10.00"), Decimal("10.00")),
        (five.pk, Decimal("-5.00"), Decimal("5.00")),
    ]
    assert fifty.pk not in [e.instance_id for e in charges]


def test_the_run_is_pending_until_every_enabled_instance_is_billed():
    customer = CustomerFactory()
    top_up(customer, "100.00", "t1")
    _enabled_paid(customer, package("p", "10.00"), THU)
    never = new_instance(customer, package("q", "1.00"), name="never billed")
    Instance.objects.filter(pk=never.pk).update(enabled=True, paid_until=None)
    assert ib.instance_billing_pending(at=FRI)
    ib.instance_billing_run(at=FRI)
    assert not ib.instance_billing_pending(at=FRI)
    assert ib.instance_billing_pending(at=utc(2025, 3, 8))  # the next night's run


def test_one_email_per_customer_lists_what_was_disabled(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    top_up(customer, "5.00", "t1")  # 3.00 once alpha is enabled on Thursday
    pkg = package("p", "2.00")
    a = _enabled_paid(customer, pkg, THU, name="alpha")
    b = new_instance(customer, pkg, name="beta")
    Instance.objects.filter(pk=b.pk).update(enabled=True, paid_until=THU)
    with django_capture_on_commit_callbacks(execute=True):
        ib.instance_billing_run(at=FRI)
    disabled = [m for m in mail.outbox if "disabled" in m.subject]
    assert len(disabled) == 1
    assert "beta" in disabled[0].body and "alpha" not in disabled[0].body
    assert Instance.objects.get(pk=a.pk).enabled


def test_disabled_at_billing_time_is_not_billed_and_rerun_bills_nothing_twice():
    customer = CustomerFactory()
    top_up(customer, "100.00", "t1")
    pkg = package("p", "10.00")
    on = _enabled_paid(customer, pkg, THU)
    off = _enabled_paid(customer, pkg, THU)
    instance_disable(instance=off, actor="test")
    ib.instance_billing_run(at=FRI)
    ib.instance_billing_run(at=FRI)
    assert _balance(customer) == Decimal("70.00")  # Thursday 2 x 10, Friday 1 x 10
    assert BalanceEntry.objects.filter(instance=off, period_start=FRI).count() == 0
    assert BalanceEntry.objects.filter(instance=on, period_start=FRI).count() == 1
    assert ib.instance_billing_check(day=FRI.date()).ok


def test_reenable_inside_the_paid_period_is_free():
    customer = CustomerFactory()
    top_up(customer, "10.00", "t1")
    instance = _enabled_paid(customer, package("p", "10.00"), THU)
    instance_disable(instance=instance, actor="test")
    quote = instance_enable_preview(instance=instance, at=utc(2025, 3, 6, 18))
    assert quote.amount == Decimal("0.00")
    instance_enable(instance=instance, actor="test", at=utc(2025, 3, 6, 18), expected_amount=0)
    assert _balance(customer) == Decimal("0.00")
    assert Instance.objects.get(pk=instance.pk).enabled


def test_reenable_friday_0800_after_a_gap_bills_16_of_24():
    customer = CustomerFactory()
    top_up(customer, "100.00", "t1")
    instance = _enabled_paid(customer, package("p", "24.00"), utc(2025, 3, 5))  # Wed
    instance_disable(instance=instance, actor="test")  # not billed Thursday nor Friday
    ib.instance_billing_run(at=THU)
    ib.instance_billing_run(at=FRI)
    friday_8 = utc(2025, 3, 7, 8)
    quote = instance_enable_preview(instance=instance, at=friday_8)
    assert (quote.amount, quote.period_start, quote.period_end) == (
        Decimal("16.00"),
        friday_8,
        utc(2025, 3, 8),
    )
    instance_enable(instance=instance, actor="test", at=friday_8, expected_amount=quote.amount)
    assert _balance(customer) == Decimal("60.00")  # 100 - 24 (Wed) - 16
    assert Instance.objects.get(pk=instance.pk).paid_until == utc(2025, 3, 8)
    assert ib.instance_billing_check(day=FRI.date()).ok


def test_enable_refused_saying_what_is_missing():
    customer = CustomerFactory()
    top_up(customer, "10.00", "t1")
    instance = new_instance(customer, package("p", "24.00"))
    with pytest.raises(BillingError) as refused:
        instance_enable(instance=instance, actor="test", at=utc(2025, 3, 7, 8))
    assert refused.value.code == "balance_insufficient"
    assert "6.00 EUR is missing" in refused.value.message
    assert not Instance.objects.get(pk=instance.pk).enabled
    assert _balance(customer) == Decimal("10.00")


def test_apply_refuses_when_the_preview_changed():
    customer = CustomerFactory()
    top_up(customer, "50.00", "t1")
    instance = new_instance(customer, package("p", "24.00"))
    quote = instance_enable_preview(instance=instance, at=utc(2025, 3, 7, 8))
    with pytest.raises(BillingError) as refused:
        instance_enable(
            instance=instance, actor="t", at=utc(2025, 3, 7, 9), expected_amount=quote.amount
        )
    assert refused.value.code == "preview_changed"


# ---- settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "new_price", "amount", "balance_after"),
    [
        (utc(2025, 3, 7, 12), "30.00", "10.00", "66.00"),  # up 20 a day, half a day left
        (utc(2025, 3, 7, 18), "4.00", "-1.50", "77.50"),  # down 6 a day, a quarter left
        (utc(2025, 3, 7, 0), "10.00", "0.00", "76.00"),  # same price: nothing
    ],
)
def test_settings_up_and_down_pro_rata(at, new_price, amount, balance_after):
    customer = CustomerFactory()
    top_up(customer, "100.00", "t1")
    small, other = package("small", "10.00"), package("other", new_price)
    instance = _enabled_paid(customer, small, utc(2025, 3, 5))
    ib.instance_billing_run(at=utc(2025, 3, 6))
    ib.instance_billing_run(at=FRI)  # 100 - 3 x 10 + ... paid until Saturday
    top_up(customer, "6.00", "t2")  # 76.00
    quote = instance_change_preview(instance=instance, package=other, expected_cpe_devices=0, at=at)
    assert quote.amount == Decimal(amount)
    instance_change_settings(
        instance=instance,
        package=other,
        expected_cpe_devices=0,
        actor="t",
        at=at,
        expected_amount=quote.amount,
    )
    assert _balance(customer) == Decimal(balance_after)
    assert Instance.objects.get(pk=instance.pk).paid_daily_price == Decimal(new_price)


def test_settings_outside_a_paid_period_cost_nothing():
    customer = CustomerFactory()
    instance = new_instance(customer, package("p", "10.00"))
    quote = instance_change_preview(
        instance=instance, package=package("q", "99.00"), expected_cpe_devices=5, at=FRI
    )
    assert quote.amount == Decimal("0.00")


def test_a_refund_never_exceeds_what_was_paid_for_the_period():
    customer = CustomerFactory()
    top_up(customer, "1.00", "t1")
    at = utc(2025, 3, 7, 16)  # a third of the day left
    p1, p2, zero = package("p1", "0.012"), package("p2", "0.024"), package("zero", "0")
    instance = new_instance(customer, p1)
    assert instance_enable(instance=instance, actor="t", at=at).amount == Decimal("0.00")
    up = instance_change_settings(
        instance=instance, package=p2, expected_cpe_devices=0, actor="t", at=at
    )
    assert up.amount == Decimal("0.00")  # 0.004 rounds to nothing
    # The difference alone would give back 0.024 / 3 = 0.008 -> 0.01, but nothing was paid.
    down = instance_change_preview(instance=instance, package=zero, expected_cpe_devices=0, at=at)
    assert down.amount == Decimal("0.00")
    assert _balance(customer) == Decimal("1.00")


def test_a_cheaper_setting_gives_back_at_most_the_remainder():
    customer = CustomerFactory()
    top_up(customer, "24.00", "t1")
    instance = new_instance(customer, package("p", "24.00"))
    instance_enable(instance=instance, actor="t", at=utc(2025, 3, 7, 12))  # 12.00
    down = instance_change_settings(
        instance=instance,
        package=package("z", "0"),
        expected_cpe_devices=0,
        actor="t",
        at=utc(2025, 3, 7, 18),
    )
    assert down.amount == Decimal("-6.00")
    assert _balance(customer) == Decimal("18.00")


# ---- balance, staff, ledger check ----------------------------------------------------------


def test_top_up_is_idempotent_by_key():
    customer = CustomerFactory()
    first = balance_top_up(customer=customer, amount=Decimal("5.00"), key="k", reason="r")
    again = balance_top_up(customer=customer, amount=Decimal("5.00"), key="k", reason="r")
    assert first.pk == again.pk
    assert _balance(customer) == Decimal("5.00")


def test_staff_adjustment_is_audited_and_never_below_zero():
    from audit.models import AuditEntry

    customer = CustomerFactory()
    balance_adjust_by_staff(customer=customer, amount="12.50", reason="bank transfer", actor="s")
    with pytest.raises(BillingError):
        balance_adjust_by_staff(customer=customer, amount="-20", reason="oops", actor="s")
    balance_adjust_by_staff(customer=customer, amount="-2.50", reason="fix", actor="s")
    assert _balance(customer) == Decimal("10.00")
    assert AuditEntry.objects.filter(action="customer.adjust_balance").count() == 2
    assert set(BalanceEntry.objects.values_list("kind", flat=True)) == {
        BalanceKind.STAFF_ADJUSTMENT
    }


def test_check_ledger_command_passes_then_fails_on_a_mismatch(capsys):
    customer = CustomerFactory()
    top_up(customer, "5.00", "t1")
    call_command("check_ledger")
    assert "mismatches=0" in capsys.readouterr().out
    Customer.objects.filter(pk=customer.pk).update(balance=Decimal("6.00"))
    with pytest.raises(CommandError):
        call_command("check_ledger")
    assert len(ledger_check().mismatches) == 1


def test_bill_instances_command_and_its_check(capsys):
    customer = CustomerFactory()
    top_up(customer, "100.00", "t1")
    instance = _enabled_paid(customer, package("p", "10.00"), THU)
    call_command("bill_instances", "--at", FRI.isoformat())
    out = capsys.readouterr().out
    assert "billed=1" in out and "unbilled=0 charged_twice=0" in out
    call_command("bill_instances", "--check", "2025-03-07")
    # A second charge for the same day is reported.
    BalanceEntry.objects.create(
        customer=customer,
        kind=BalanceKind.INSTANCE_CHARGE,
        amount=Decimal("-1.00"),
        balance_after=Decimal("79.00"),
        instance=instance,
        period_start=FRI,
        period_end=FRI + timedelta(days=1),
        reason="dup",
        idempotency_key="dup",
    )
    with pytest.raises(CommandError):
        call_command("bill_instances", "--check", "2025-03-07")
    assert "charged 2 times" in capsys.readouterr().out
    # An enabled instance with no charge for the day is reported.
    Instance.objects.filter(pk=instance.pk).update(paid_until=FRI)
    BalanceEntry.objects.filter(instance=instance, period_start=FRI).delete()
    with pytest.raises(CommandError):
        call_command("bill_instances", "--check", "2025-03-07")


def test_low_balance_email_once_per_crossing(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    top_up(customer, "100.00", "t1")
    _enabled_paid(customer, package("p", "10.00"), utc(2025, 3, 1))  # 90 left
    subjects = []
    for day in range(2, 9):  # 80, 70, ..., 20
        mail.outbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            ib.instance_billing_run(at=utc(2025, 3, day))
        subjects.append([m.subject.split(": ", 1)[1] for m in mail.outbox])
    # 80..70 >= 7 days; 60 < 7 days (once); 50, 40, 30: still under 7; 20 < 3 days.
    assert subjects == [
        [],
        [],
        ["your balance covers less than 7 days"],
        [],
        [],
        [],
        ["your balance covers less than 3 days"],
    ]
    assert Customer.objects.get(pk=customer.pk).low_balance_notified_days == 3


def test_the_nightly_task_fans_out_chunks_and_bills(django_capture_on_commit_callbacks):
    import time_machine

    from billing.tasks import nightly_instance_billing

    customer = CustomerFactory()
    top_up(customer, "100.00", "t1")
    instance = _enabled_paid(customer, package("p", "10.00"), THU)
    with (
        time_machine.travel(utc(2025, 3, 7, 0, 0, 5), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        summary = nightly_instance_billing()
    assert summary["chunks"] == 1
    assert Instance.objects.get(pk=instance.pk).paid_until == utc(2025, 3, 8)
    assert _balance(customer) == Decimal("80.00")
