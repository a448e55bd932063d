"""Automatic top-up: when the balance covers fewer than `auto_top_up_below_days` days of
the daily spend (the enabled instances' daily prices), the default card is charged
off-session `auto_top_up_amount`, or up to `auto_top_up_target` when that is set.

At most once per day per customer: the Payment row (kind top_up) carries the unique key
"<installation>:auto-top-up:<customer>:<date>", also sent to the gateway. The balance is
credited only when the payment succeeded, once, by balance_top_up with the key
"payment:<payment id>". A failure (declined, needs the customer, gateway error) e-mails
the customer.

The gateway is called outside any lock and outside the nightly billing transaction.
"""

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

from billing.gateways import card_gateway, card_gateway_name
from billing.gateways import interface as gw
from billing.gateways.errors import GatewayError
from billing.models import (
    Customer,
    Payment,
    PaymentKind,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
)
from billing.money import round_money
from billing.services.balance import BALANCE_CURRENCY, balance_top_up
from billing.services.instances import daily_price_of, option_prices
from billing.services.payments import (
    gateway_customer,
    gateway_idempotency_key,
    payment_gateway_failed,
    payment_record_result,
)
from fleet.models import Instance, InstancePackage


def auto_top_up_key(*, customer_id: int, at: datetime) -> str:
    return gateway_idempotency_key(scope=f"auto-top-up:{customer_id}:{at.date().isoformat()}")


def daily_spend(*, customer_ids: list[int]) -> dict[int, Decimal]:
    """What the customers' enabled instances cost a day (three queries)."""
    packages = {
        pk: (price, per)
        for pk, price, per in InstancePackage.objects.values_list(
            "pk", "daily_price", "price_per_cpe_device"
        )
    }
    options = option_prices()
    spend: dict[int, Decimal] = {}
    for customer_id, package_id, devices, codes in Instance.objects.filter(
        customer_id__in=customer_ids, enabled=True
    ).values_list("customer_id", "package_id", "expected_cpe_devices", "options"):
        price, per = packages[package_id]
        spend[customer_id] = spend.get(customer_id, Decimal(0)) + daily_price_of(
            package_price=price,
            per_device=per,
            devices=devices,
            options=codes or (),
            option_prices=options,
        )
    return spend


def _default_card(customer_id: int) -> PaymentMethod | None:
    """The default card, if saved through the card gateway configured now (no gateway
    configured: none, so no automatic top-up is offered or charged)."""
    gateway = card_gateway_name()
    if not gateway:
        return None
    return PaymentMethod.objects.filter(
        customer_id=customer_id,
        is_default=True,
        removed_at__isnull=True,
        kind=PaymentMethodKind.CARD,
        gateway=gateway,
    ).first()


def auto_top_up_amount_for(*, customer: Customer, spend: Decimal) -> Decimal | None:
    """How much to top up now, or None when it is not needed."""
    if not customer.auto_top_up_enabled or spend <= 0:
        return None
    if customer.balance >= spend * customer.auto_top_up_below_days:
        return None
    if customer.auto_top_up_target is not None:
        amount = customer.auto_top_up_target - customer.balance
    else:
        amount = customer.auto_top_up_amount or Decimal(0)
    amount = round_money(amount)
    return amount if amount > 0 else None


def auto_top_up_due(
    *, customer: Customer, at: datetime, spend: Decimal | None = None
) -> Decimal | None:
    """The amount to charge now, or None: off, enough balance, no default card, or
    already tried today."""
    if spend is None:
        spend = daily_spend(customer_ids=[customer.pk]).get(customer.pk, Decimal(0))
    amount = auto_top_up_amount_for(customer=customer, spend=spend)
    if amount is None or _default_card(customer.pk) is None:
        return None
    if Payment.objects.filter(idempotency_key=auto_top_up_key(customer_id=customer.pk, at=at)):
        return None
    return amount


AUTO_TOP_UP_ACTOR = "automatic-top-up"  # the audit rows of its payments


def auto_top_up_run(
    *, customer: Customer, at: datetime, spend: Decimal | None = None
) -> Payment | None:
    """Charges the default card if a top-up is due; credits the balance on success."""
    customer = Customer.objects.select_related("contact").get(pk=customer.pk)
    amount = auto_top_up_due(customer=customer, at=at, spend=spend)
    if amount is None:
        return None
    method = _default_card(customer.pk)
    key = auto_top_up_key(customer_id=customer.pk, at=at)
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                customer=customer,
                kind=PaymentKind.TOP_UP,
                method=method,
                method_kind=method.kind,
                gateway=method.gateway,
                amount=amount,
                currency=BALANCE_CURRENCY,
                idempotency_key=key,
                off_session=True,
            )
    except IntegrityError:
        return None  # another worker took today's attempt

    request = gw.ChargeRequest(
        customer=gateway_customer(customer=customer),
        method_ref=method.gateway_ref,
        amount=amount,
        currency=BALANCE_CURRENCY,
        idempotency_key=key,
        description="Automatic balance top-up",
        off_session=True,
        metadata={"payment": str(payment.pk), "kind": "auto_top_up"},
    )
    # Recorded through the payment's row lock like every other attempt: a webhook for
    # this charge may record it first, and a final payment is never changed again.
    try:
        result = card_gateway().charge(request)
    except GatewayError as error:
        payment = payment_gateway_failed(payment=payment, error=error, actor=AUTO_TOP_UP_ACTOR)
    else:
        with transaction.atomic():
            payment = payment_record_result(payment=payment, result=result, actor=AUTO_TOP_UP_ACTOR)
            if payment.status == PaymentStatus.SUCCEEDED:
                balance_top_up(  # keyed as top_ups.top_up_credit: credited once, whoever is first
                    customer=customer,
                    amount=payment.amount,
                    key=f"payment:{payment.pk}",
                    reason="Automatic top-up by card",
                    payment=payment,
                    automatic=True,
                )
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.REQUIRES_ACTION):
        _notify_failed(customer=customer, payment=payment)
    return payment


def _notify_failed(*, customer: Customer, payment: Payment) -> None:
    from billing.notifications_balance import notify_auto_top_up_failed

    notify_auto_top_up_failed(customer=customer, payment=payment)


def auto_top_up_run_for(*, customer_ids: list[int], at: datetime) -> int:
    """Before a chunk is billed: the customers of the chunk whose top-up is due."""
    candidates = list(
        Customer.objects.filter(pk__in=customer_ids, auto_top_up_enabled=True).order_by("pk")
    )
    if not candidates:
        return 0
    spend = daily_spend(customer_ids=[c.pk for c in candidates])
    made = 0
    for customer in candidates:
        due = auto_top_up_amount_for(customer=customer, spend=spend.get(customer.pk, Decimal(0)))
        if due and auto_top_up_run(customer=customer, at=at, spend=spend.get(customer.pk)):
            made += 1
    return made
