"""Topping up the prepaid balance by card on the gateway's hosted page (Stripe Checkout
in payment mode, or the sandbox's stand-in).

- The amount is in EUR (BALANCE_CURRENCY), between settings.BALANCE_TOP_UP_MIN and
  BALANCE_TOP_UP_MAX, at most two decimals; anything else is refused before any row is
  written.
- One Payment row per attempt (kind top_up, no invoice, key "<installation>:top-up:<customer>:<n>",
  services/payments.py::gateway_idempotency_key).
- The balance is credited only when the payment succeeded, ONCE, by balance_top_up with
  the key "payment:<payment id>" (the key auto top-ups use too): by the webhook
  (checkout.session.completed, payment_intent.succeeded) or the return page, whichever
  comes first; the other finds the entry written and moves nothing.

The gateway is called outside any lock.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from billing.errors import BillingError
from billing.gateways import card_gateway, card_gateway_name
from billing.gateways import interface as gw
from billing.gateways.errors import GatewayError, customer_message
from billing.models import (
    BalanceEntry,
    Customer,
    Payment,
    PaymentKind,
    PaymentMethodKind,
    PaymentStatus,
)
from billing.money import money_format, round_money
from billing.services.auto_top_up import _default_card, daily_spend
from billing.services.balance import BALANCE_CURRENCY, balance_top_up
from billing.services.instances import DAY, next_run_after
from billing.services.locks import lock_customer
from billing.services.ownership import hosted_owner_check
from billing.services.payment_kinds import payment_kind_require
from billing.services.payments import (
    FINAL,
    Started,
    _customer_ref_remember,
    gateway_customer,
    gateway_idempotency_key,
    payment_card_refusal,
    payment_gateway_failed,
    payment_record_result,
    payment_refused_card,
)


def top_up_bounds() -> tuple[Decimal, Decimal]:
    return (
        Decimal(str(getattr(settings, "BALANCE_TOP_UP_MIN", 10))),
        Decimal(str(getattr(settings, "BALANCE_TOP_UP_MAX", 10000))),
    )


def top_up_parse_amount(raw: object) -> Decimal:
    """A customer-typed amount ("50", "50.00", "1 000,50" is refused: one number, a dot
    or a comma for the cents), within the bounds. BillingError says what is wrong."""
    low, high = top_up_bounds()
    bounds = (
        f"between {money_format(low, BALANCE_CURRENCY)} and {money_format(high, BALANCE_CURRENCY)}"
    )
    text = str(raw or "").strip().replace(",", ".")
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        raise BillingError(
            f"Enter an amount {bounds}, e.g. 50.00.", code="amount_invalid"
        ) from None
    if not amount.is_finite():
        raise BillingError(f"Enter an amount {bounds}, e.g. 50.00.", code="amount_invalid")
    if amount != round_money(amount):
        raise BillingError("The amount has at most two decimal places.", code="amount_invalid")
    if amount < low or amount > high:
        raise BillingError(f"You can top up {bounds} at once.", code="amount_out_of_bounds")
    return round_money(amount)


@transaction.atomic
def _attempt_create(*, customer: Customer, amount: Decimal) -> Payment:
    lock_customer(pk=customer.pk)
    attempt = Payment.objects.filter(customer=customer, kind=PaymentKind.TOP_UP).count() + 1
    return Payment.objects.create(
        customer=customer,
        kind=PaymentKind.TOP_UP,
        method_kind=PaymentMethodKind.CARD,
        gateway=card_gateway_name(),
        amount=amount,
        currency=BALANCE_CURRENCY,
        status=PaymentStatus.PENDING,
        idempotency_key=gateway_idempotency_key(scope=f"top-up:{customer.pk}:{attempt}"),
        attempt=attempt,
        off_session=False,
    )


def top_up_reference(payment: Payment) -> str:
    """Our reference for a top-up at the gateway; the return page checks it comes back."""
    return f"TOP-UP-{payment.pk}"


def top_up_start(
    *,
    customer: Customer,
    amount: object,
    actor: Actor,
    success_url: str,
    cancel_url: str,
) -> Started:
    """Opens the hosted payment page for a top-up of `amount` (checked first: a refused
    amount writes nothing). `success_url` may hold "{PAYMENT_ID}" (replaced by the
    payment's id) and "{SESSION_ID}" (by the gateway)."""
    value = top_up_parse_amount(amount)
    payment_kind_require(kind=PaymentMethodKind.CARD)
    if customer.currency != BALANCE_CURRENCY:
        raise BillingError(
            f"The prepaid balance is in {BALANCE_CURRENCY}; this account is billed in "
            f"{customer.currency}.",
            code="currency_mismatch",
        )
    payment = _attempt_create(customer=customer, amount=value)
    customer = Customer.objects.select_related("contact").get(pk=customer.pk)
    reference = top_up_reference(payment)
    try:
        session = card_gateway().payment_session_create(
            gw.PaymentSessionRequest(
                customer=gateway_customer(customer=customer),
                amount=value,
                currency=BALANCE_CURRENCY,
                description="Prepaid balance top-up",
                reference=reference,
                idempotency_key=payment.idempotency_key,
                success_url=success_url.replace("{PAYMENT_ID}", str(payment.pk)),
                cancel_url=cancel_url,
                metadata={"payment": str(payment.pk), "kind": "top_up"},
            )
        )
    except GatewayError as error:
        payment_gateway_failed(payment=payment, error=error, actor=actor)
        raise BillingError(customer_message(error.code), code=error.code) from error
    _customer_ref_remember(customer=customer, ref=session.gateway_customer_ref)
    Payment.objects.filter(pk=payment.pk).update(
        status=PaymentStatus.REQUIRES_ACTION, gateway_ref=session.session_id, action_url=session.url
    )
    payment.refresh_from_db()
    return Started(payment=payment, redirect_url=session.url)


def top_up_credit(*, payment: Payment) -> BalanceEntry | None:
    """The succeeded top-up's money onto the balance, once (keyed by the payment)."""
    if payment.kind != PaymentKind.TOP_UP or payment.status != PaymentStatus.SUCCEEDED:
        return None
    return balance_top_up(
        customer=payment.customer,
        amount=payment.amount,
        key=f"payment:{payment.pk}",
        reason="Top-up by card",
        payment=payment,
    )


@transaction.atomic
def top_up_record_result(*, payment: Payment, result: gw.ChargeResult, actor: Actor) -> Payment:
    """Records what the gateway said (once, payment_record_result) and credits the
    balance when the payment has succeeded, now or before (a webhook that recorded it
    without crediting): the credit is keyed, so it is never written twice."""
    payment = payment_record_result(payment=payment, result=result, actor=actor)
    top_up_credit(payment=payment)
    return payment


def top_up_finish(*, customer: Customer, payment_id: object, actor: Actor) -> Payment:
    """The customer is back from the hosted page (the webhook may have come first)."""
    text = str(payment_id or "")
    payment = (
        Payment.objects.filter(pk=int(text), customer=customer, kind=PaymentKind.TOP_UP).first()
        if text.isdigit()
        else None
    )
    if payment is None:
        raise BillingError("This top-up was not found.", code="payment_not_found")
    if payment.status in FINAL:
        with transaction.atomic():
            top_up_credit(payment=payment)
        return payment
    if payment.status != PaymentStatus.REQUIRES_ACTION or not payment.gateway_ref:
        return payment  # pending: the webhook (or the pending refresh) settles it
    payment_kind_require(kind=PaymentMethodKind.CARD)
    try:
        result = card_gateway().payment_session_result(payment.gateway_ref)
    except GatewayError as error:
        raise BillingError(customer_message(error.code), code=error.code) from error
    hosted_owner_check(
        customer=customer, owner=result.owner, what="top-up", reference=top_up_reference(payment)
    )
    if (why := payment_card_refusal(result=result)) is not None:
        # A card we do not accept slipped through Checkout: refunded, nothing credited.
        return payment_refused_card(payment=payment, result=result, why=why, actor=actor)
    return top_up_record_result(payment=payment, result=result, actor=actor)


# ---- the forecast ------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceForecast:
    balance: Decimal
    daily_spend: Decimal  # rounded to the cent, what the nightly run takes a day
    days: int | None  # whole days the balance pays for; None when nothing runs
    until: datetime | None  # the first nightly run the balance cannot pay

    @property
    def running(self) -> bool:
        return self.daily_spend > 0


def balance_forecast(*, customer: Customer, at: datetime | None = None) -> BalanceForecast:
    """At today's daily spend (the enabled instances' daily prices): the running day is
    paid already, the balance pays `days` more nightly runs, so the run at `until` (00:00
    UTC) is the first it cannot pay."""
    at = at or timezone.now()
    balance = Customer.objects.values_list("balance", flat=True).get(pk=customer.pk)
    spend = round_money(daily_spend(customer_ids=[customer.pk]).get(customer.pk, Decimal(0)))
    if spend <= 0:
        return BalanceForecast(balance=balance, daily_spend=spend, days=None, until=None)
    days = int(balance // spend)
    return BalanceForecast(
        balance=balance, daily_spend=spend, days=days, until=next_run_after(at) + days * DAY
    )


# ---- automatic top-up settings -------------------------------------------------------------

AUTO_TOP_UP_MAX_DAYS = 90


def auto_top_up_has_card(*, customer: Customer) -> bool:
    return _default_card(customer.pk) is not None


@transaction.atomic
def auto_top_up_configure(
    *,
    customer: Customer,
    enabled: bool,
    below_days: object,
    how: str,
    amount: object,
    actor: Actor,
) -> Customer:
    """Saves the automatic top-up settings: below `below_days` days of daily spend, charge
    the default card `amount` (how="amount") or up to `amount` (how="target"). Turning it
    on needs a default card. Checked whole before anything is saved; audited."""
    text = str(below_days or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= AUTO_TOP_UP_MAX_DAYS:
        raise BillingError(
            f"Enter a number of days from 1 to {AUTO_TOP_UP_MAX_DAYS}.", code="days_invalid"
        )
    if how not in ("amount", "target"):
        raise BillingError("Choose a fixed amount or a target balance.", code="how_invalid")
    value = top_up_parse_amount(amount)
    if enabled:
        payment_kind_require(kind=PaymentMethodKind.CARD)
    if enabled and _default_card(customer.pk) is None:
        raise BillingError(
            "An automatic top-up charges your default card, and you have none: add a card first.",
            code="no_default_card",
        )
    locked = lock_customer(pk=customer.pk)
    before = {
        "enabled": locked.auto_top_up_enabled,
        "below_days": locked.auto_top_up_below_days,
        "amount": locked.auto_top_up_amount,
        "target": locked.auto_top_up_target,
    }
    locked.auto_top_up_enabled = bool(enabled)
    locked.auto_top_up_below_days = int(text)
    locked.auto_top_up_amount = value if how == "amount" else None
    locked.auto_top_up_target = value if how == "target" else None
    locked.save(
        update_fields=[
            "auto_top_up_enabled",
            "auto_top_up_below_days",
            "auto_top_up_amount",
            "auto_top_up_target",
        ]
    )
    audit_record(
        actor=actor,
        action="customer.auto_top_up",
        target=locked,
        before=before,
        after={
            "enabled": locked.auto_top_up_enabled,
            "below_days": locked.auto_top_up_below_days,
            "amount": locked.auto_top_up_amount,
            "target": locked.auto_top_up_target,
        },
    )
    return locked
