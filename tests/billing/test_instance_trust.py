"""Money in instance billing never appears or disappears: a property test over random
sequences, a crash in the middle of a nightly run, and automatic top-ups."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.db.models import Count, Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.errors import BillingError
from billing.gateways import interface as gw
from billing.gateways.errors import GatewayError
from billing.gateways.sandbox import sandbox_method_create
from billing.models import (
    BalanceEntry,
    BalanceKind,
    Customer,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from billing.services import instance_billing as ib
from billing.services.auto_top_up import auto_top_up_due, auto_top_up_run
from billing.services.instances import (
    instance_change_settings,
    instance_disable,
    instance_enable,
    next_run_after,
)
from billing.services.top_ups import top_up_record_result
from fleet.models import Instance
from tests.billing.instance_helpers import new_instance, option, package, top_up, utc
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

START = utc(2025, 3, 3)

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("top_up"), st.integers(1, 5000)),
        st.tuples(st.just("enable"), st.integers(0, 2)),
        st.tuples(st.just("disable"), st.integers(0, 2)),
        st.tuples(st.just("change"), st.integers(0, 2), st.integers(0, 2), st.integers(0, 50)),
        st.tuples(st.just("hours"), st.integers(1, 30)),
        st.tuples(
            st.just("night"),
        ),
    ),
    min_size=1,
    max_size=20,
)


def _check(customer) -> None:
    customer = Customer.objects.get(pk=customer.pk)
    running = Decimal(0)
    for entry in BalanceEntry.objects.filter(customer=customer).order_by("id"):
        running += entry.amount
        assert entry.balance_after == running >= 0
    assert running == customer.balance >= 0
    by_kind = dict(
        BalanceEntry.objects.filter(customer=customer)
        .values("kind")
        .annotate(s=Sum("amount"))
        .values_list("kind", "s")
    )
    top_ups = by_kind.get(BalanceKind.TOP_UP, Decimal(0))
    charges = -by_kind.get(BalanceKind.INSTANCE_CHARGE, Decimal(0))
    refunds = by_kind.get(BalanceKind.INSTANCE_REFUND, Decimal(0))
    assert top_ups - charges + refunds == customer.balance
    # No instance billed twice for one nightly period.
    nightly = (
        BalanceEntry.objects.filter(kind=BalanceKind.INSTANCE_CHARGE)
        .exclude(idempotency_key__contains=":change:")
        .values("instance_id", "period_end")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not nightly.exists()
    # Refunds for a period never exceed its charges.
    for instance in Instance.objects.filter(customer=customer):
        for end in set(
            BalanceEntry.objects.filter(instance=instance).values_list("period_end", flat=True)
        ):
            net = BalanceEntry.objects.filter(instance=instance, period_end=end).aggregate(
                s=Sum("amount")
            )["s"]
            assert net <= 0


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS)
def test_no_sequence_creates_or_loses_money(operations):
    with transaction.atomic():
        customer = CustomerFactory()
        packages = [package("a", "3.00", "0.0100"), package("b", "7.50"), package("c", "0.37")]
        option("backup", "1.25")
        instances = [new_instance(customer, packages[i], name=f"i{i}") for i in range(3)]
        now = START
        for operation in operations:
            kind = operation[0]
            try:
                with transaction.atomic():
                    if kind == "top_up":
                        top_up(customer, str(Decimal(operation[1]) / 100), f"t{now}{operation}")
                    elif kind == "enable":
                        instance_enable(instance=instances[operation[1]], actor="p", at=now)
                    elif kind == "disable":
                        instance_disable(instance=instances[operation[1]], actor="p")
                    elif kind == "change":
                        instance_change_settings(
                            instance=instances[operation[1]],
                            package=packages[operation[2]],
                            expected_cpe_devices=operation[3],
                            options=["backup"] if operation[3] % 2 else [],
                            actor="p",
                            at=now,
                        )
                    elif kind == "hours":
                        now += timedelta(hours=operation[1])
                    else:
                        now = next_run_after(now)
                        ib.instance_billing_run(at=now)
                        ib.instance_billing_run(at=now)  # a rerun bills nothing
                        assert ib.instance_billing_check(day=now.date()).twice == []
            except BillingError:
                pass  # refused: the savepoint rolled back whatever it had started
            _check(customer)
        transaction.set_rollback(True)


def test_a_crash_in_the_middle_of_a_run_then_a_rerun_bills_each_instance_once():
    pkg = package("p", "2.00")
    customers = [CustomerFactory() for _ in range(6)]
    for n, customer in enumerate(customers):
        top_up(customer, "50.00", f"t{n}")
        for k in range(2):
            instance = new_instance(customer, pkg, name=f"c{n}-{k}")
            instance_enable(instance=instance, actor="t", at=utc(2025, 3, 6))
    run = utc(2025, 3, 7)
    real = ib.round_money
    calls = {"n": 0}

    def exploding(amount):
        calls["n"] += 1
        if calls["n"] == 7:  # inside the second chunk, after some of its customers
            raise RuntimeError("worker killed")
        return real(amount)

    with mock.patch.object(ib, "round_money", exploding), pytest.raises(RuntimeError):
        ib.instance_billing_run(at=run, chunk_size=2)
    first_pass = BalanceEntry.objects.filter(period_start=run).count()
    assert first_pass == 4  # the first chunk (2 customers x 2) committed, the rest rolled back
    ib.instance_billing_run(at=run, chunk_size=2)
    ib.instance_billing_run(at=run, chunk_size=2)
    per_instance = (
        BalanceEntry.objects.filter(period_start=run)
        .values("instance_id")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    assert sorted(per_instance) == [1] * 12
    assert all(c.balance == Decimal("42.00") for c in Customer.objects.all())
    assert ib.instance_billing_check(day=run.date()).ok


# ---- automatic top-up ----------------------------------------------------------------------


def _card(customer, number="4242424242424242"):
    ref = sandbox_method_create(card_number=number, exp_month=12, exp_year=2030).ref
    return PaymentMethod.objects.create(
        customer=customer,
        kind="card",
        gateway="sandbox",
        gateway_ref=ref,
        brand="visa",
        last4=number[-4:],
        is_default=True,
    )


def _auto_customer(*, target=None, amount="50.00", balance="10.00"):
    customer = CustomerFactory(
        auto_top_up_enabled=True,
        auto_top_up_below_days=7,
        auto_top_up_amount=Decimal(amount) if amount else None,
        auto_top_up_target=Decimal(target) if target else None,
    )
    top_up(customer, balance, f"seed{customer.pk}")
    instance = new_instance(customer, package(f"p{customer.pk}", "2.00"))
    instance_enable(instance=instance, actor="t", at=utc(2025, 3, 6))  # 2.00 a day
    return Customer.objects.get(pk=customer.pk)


def test_auto_top_up_charges_the_default_card_once_a_day():
    customer = _auto_customer()  # 8.00 left < 7 x 2.00
    _card(customer)
    at = utc(2025, 3, 7)
    assert auto_top_up_due(customer=customer, at=at) == Decimal("50.00")
    payment = auto_top_up_run(customer=customer, at=at)
    assert (payment.status, payment.kind, payment.idempotency_key) == (
        PaymentStatus.SUCCEEDED,
        "top_up",
        f"test:auto-top-up:{customer.pk}:2025-03-07",
    )
    customer.refresh_from_db()
    assert customer.balance == Decimal("58.00")
    entry = BalanceEntry.objects.get(idempotency_key=f"payment:{payment.pk}")
    assert (entry.kind, entry.automatic, entry.payment_id) == ("top_up", True, payment.pk)
    Customer.objects.filter(pk=customer.pk).update(balance=Decimal("8.00"))  # pretend spent
    assert auto_top_up_run(customer=customer, at=at.replace(hour=5)) is None  # same day


def test_auto_top_up_up_to_a_target_runs_before_the_nightly_billing():
    customer = _auto_customer(target="30.00", amount=None)
    _card(customer)
    ib.instance_billing_run(at=utc(2025, 3, 7))
    customer.refresh_from_db()
    assert customer.balance == Decimal("28.00")  # topped up to 30.00, then 2.00 billed
    assert Payment.objects.get(customer=customer).amount == Decimal("22.00")


def test_a_failed_auto_top_up_emails_and_credits_nothing(django_capture_on_commit_callbacks):
    customer = _auto_customer()
    _card(customer, number="4000000000000002")  # declined
    entries = BalanceEntry.objects.filter(customer=customer).count()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        payment = auto_top_up_run(customer=customer, at=utc(2025, 3, 7))
    assert payment.status == PaymentStatus.FAILED
    customer.refresh_from_db()
    assert customer.balance == Decimal("8.00")
    assert BalanceEntry.objects.filter(customer=customer).count() == entries
    assert len([m for m in mail.outbox if "automatic top-up" in m.subject]) == 1
    assert len(mail.outbox) == 1


def test_a_late_gateway_failure_never_undoes_a_top_up_the_webhook_recorded(
    django_capture_on_commit_callbacks,
):
    """The charge went through and its webhook was recorded (balance credited) while our
    call to the gateway was still waiting; the call then ends in an error. The payment
    stays succeeded, the balance is credited once, and no "top-up failed" e-mail goes."""
    customer = _auto_customer()
    _card(customer)

    class ChargedThenFailed:
        def charge(self, request):
            payment = Payment.objects.get(pk=int(request.metadata["payment"]))
            top_up_record_result(  # what the webhook does, first
                payment=payment,
                result=gw.ChargeResult(
                    status=gw.SUCCEEDED,
                    gateway_ref="pi_late",
                    amount=request.amount,
                    currency=request.currency,
                ),
                actor="stripe-webhook",
            )
            raise GatewayError("The connection was reset.", code="api_error")

    mail.outbox.clear()
    with (
        mock.patch("billing.services.auto_top_up.card_gateway", ChargedThenFailed),
        django_capture_on_commit_callbacks(execute=True),
    ):
        payment = auto_top_up_run(customer=customer, at=utc(2025, 3, 7))
    assert payment.status == PaymentStatus.SUCCEEDED
    customer.refresh_from_db()
    assert customer.balance == Decimal("8.00") + payment.amount
    assert BalanceEntry.objects.filter(payment=payment).count() == 1
    assert not [m for m in mail.outbox if "failed" in m.subject.lower()]


def test_no_auto_top_up_when_the_balance_covers_enough():
    customer = _auto_customer(balance="100.00")
    _card(customer)
    assert auto_top_up_due(customer=customer, at=utc(2025, 3, 7)) is None
