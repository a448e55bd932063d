"""Cloud instances: what each move costs, paid from the prepaid balance
(services/balance.py). The rules:

- An instance is created disabled: nothing is charged until it is enabled.
- Enabling inside a period already paid (paid_until > now) is free. Otherwise it bills
  now -> the next 00:00 UTC, pro rata, and is refused, saying how much is missing, when
  the balance cannot pay.
- Disabling never refunds (the period stays paid: enabling again inside it is free).
- Changing the settings inside a paid period bills the difference in daily price for the
  time left (now -> paid_until), or gives it back when cheaper; a refund never exceeds
  what was paid for that period (the instance's charges less its refunds). Outside a
  paid period a change costs nothing.
- Pro rata is in whole seconds of a 86,400-second day, rounded once, half up, to the cent.
- Prices are daily and in EUR: a customer billed in another currency cannot have one.

Each preview (what a move costs) is separate from its apply; the apply computes it again
under the locks and refuses when it changed (`expected_amount`).

Locks (services/locks.py): the customer (its balance), then the instance.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.text import CONTROL_CHARACTERS_CODE, text_refusal
from audit.services import Actor, audit_record
from billing.errors import PREVIEW_CHANGED, BillingError
from billing.models import BalanceEntry, Customer
from billing.money import money_format, round_money
from billing.services.balance import BALANCE_CURRENCY, balance_instance_cost
from billing.services.locks import lock_customer, lock_instance
from fleet.models import Instance, InstanceOption, InstancePackage

DAY = timedelta(days=1)
DAY_SECONDS = 86400
INSTANCE_CURRENCY = BALANCE_CURRENCY


def next_run_after(at: datetime) -> datetime:
    """The next 00:00 UTC strictly after `at`."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, at.day, tzinfo=UTC) + DAY


def pro_rata(*, daily_price: Decimal, start: datetime, end: datetime) -> Decimal:
    seconds = max(0, int((end - start).total_seconds()))
    return round_money(daily_price * seconds / DAY_SECONDS)


def daily_price_of(
    *,
    package_price: Decimal,
    per_device: Decimal,
    devices: int,
    options: Iterable[str],
    option_prices: dict[str, Decimal],
) -> Decimal:
    """Package + price per CPE device x devices + options (unrounded, per day)."""
    return (
        package_price
        + per_device * devices
        + sum((option_prices[code] for code in options), Decimal(0))
    )


def option_prices() -> dict[str, Decimal]:
    return dict(InstanceOption.objects.values_list("code", "daily_price"))


def instance_daily_price(
    *, package: InstancePackage, expected_cpe_devices: int, options: Iterable[str]
) -> Decimal:
    return daily_price_of(
        package_price=package.daily_price,
        per_device=package.price_per_cpe_device,
        devices=expected_cpe_devices,
        options=options,
        option_prices=option_prices(),
    )


def _money(amount: Decimal) -> str:
    return money_format(amount, INSTANCE_CURRENCY)


def _clean_settings(
    *, package: InstancePackage, expected_cpe_devices: int, options: Iterable[str]
) -> list[str]:
    codes = sorted(set(options))
    known = dict(InstanceOption.objects.filter(code__in=codes).values_list("code", "is_active"))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise BillingError(f"Unknown option(s): {', '.join(unknown)}.", code="option_unknown")
    if int(expected_cpe_devices) < 0:
        raise BillingError("The number of CPE devices cannot be negative.", code="devices_invalid")
    return codes


@dataclass(frozen=True)
class InstanceQuote:
    """What a move costs now: amount > 0 is charged, < 0 given back, 0 free."""

    action: str  # "enable" or "change"
    amount: Decimal
    daily_price: Decimal
    period_start: datetime | None
    period_end: datetime | None
    balance: Decimal
    explanation: str

    @property
    def missing(self) -> Decimal:
        return max(Decimal("0.00"), self.amount - self.balance)


def _refuse_short(quote: InstanceQuote) -> BillingError:
    return BillingError(
        f"Your balance is {_money(quote.balance)} and this costs {_money(quote.amount)}: "
        f"{_money(quote.missing)} is missing. Top up your balance and try again.",
        code="balance_insufficient",
    )


def _refuse_changed(quote: InstanceQuote) -> BillingError:
    return BillingError(
        f"The amount changed since your preview: it is now {_money(quote.amount)}. "
        "Check it and confirm again.",
        code=PREVIEW_CHANGED,
    )


def _fresh(instance: Instance) -> Instance:
    """A preview reads the instance as stored (a page may hold an older copy)."""
    return Instance.objects.select_related("package").get(pk=instance.pk)


def _balance_of(customer_id: int) -> Decimal:
    return Customer.objects.values_list("balance", flat=True).get(pk=customer_id)


# ---- create ------------------------------------------------------------------------------


@transaction.atomic
def instance_create(
    *,
    customer: Customer,
    name: str,
    package: InstancePackage,
    expected_cpe_devices: int,
    options: Iterable[str] = (),
    actor: Actor,
) -> Instance:
    """A new instance, disabled: nothing is charged until it is enabled."""
    if customer.currency != INSTANCE_CURRENCY:
        raise BillingError(
            f"Cloud instances are sold in {INSTANCE_CURRENCY} only; this account is billed "
            f"in {customer.currency}.",
            code="currency_mismatch",
        )
    name = (name or "").strip()
    if not name:
        raise BillingError("Give the instance a name.", code="name_missing")
    # The name is shown in e-mails and the balance ledger: no line breaks or controls.
    refusal = text_refusal(value=name, label="instance name")
    if refusal:
        raise BillingError(refusal, code=CONTROL_CHARACTERS_CODE)
    if not package.is_active:
        raise BillingError("That package is no longer offered.", code="package_inactive")
    codes = _clean_settings(
        package=package, expected_cpe_devices=expected_cpe_devices, options=options
    )
    lock_customer(pk=customer.pk)
    instance = Instance.objects.create(
        customer=customer,
        name=name[:100],
        package=package,
        expected_cpe_devices=expected_cpe_devices,
        options=codes,
        enabled=False,
    )
    audit_record(
        actor=actor,
        action="instance.create",
        target=instance,
        after={"package": package.code, "devices": expected_cpe_devices, "options": codes},
    )
    return instance


# ---- enable / disable --------------------------------------------------------------------


def _enable_quote(*, instance: Instance, at: datetime, balance: Decimal) -> InstanceQuote:
    daily = instance_daily_price(
        package=instance.package,
        expected_cpe_devices=instance.expected_cpe_devices,
        options=instance.options,
    )
    if instance.enabled:
        return InstanceQuote("enable", Decimal("0.00"), daily, None, None, balance, "Enabled.")
    if instance.paid_until is not None and instance.paid_until > at:
        return InstanceQuote(
            "enable",
            Decimal("0.00"),
            daily,
            None,
            None,
            balance,
            f"Already paid until {instance.paid_until:%Y-%m-%d %H:%M} UTC: enabling is free.",
        )
    end = next_run_after(at)
    amount = pro_rata(daily_price=daily, start=at, end=end)
    return InstanceQuote(
        "enable",
        amount,
        daily,
        at,
        end,
        balance,
        f"{_money(amount)} for {at:%H:%M} -> 00:00 UTC at {_money(daily)} a day.",
    )


def instance_enable_preview(*, instance: Instance, at: datetime | None = None) -> InstanceQuote:
    at = at or timezone.now()
    instance = _fresh(instance)
    return _enable_quote(instance=instance, at=at, balance=_balance_of(instance.customer_id))


@transaction.atomic
def instance_enable(
    *,
    instance: Instance,
    actor: Actor,
    at: datetime | None = None,
    expected_amount: Decimal | None = None,
) -> InstanceQuote:
    at = at or timezone.now()
    customer = lock_customer(pk=instance.customer_id)
    instance = lock_instance(pk=instance.pk, customer_id=customer.pk)
    quote = _enable_quote(instance=instance, at=at, balance=customer.balance)
    if expected_amount is not None and quote.amount != expected_amount:
        raise _refuse_changed(quote)
    if instance.enabled:
        return quote
    if quote.amount > quote.balance:
        raise _refuse_short(quote)
    fields = ["enabled", "updated_at"]
    if quote.period_end is not None:
        if quote.amount > 0:
            balance_instance_cost(
                customer_id=customer.pk,
                cost=quote.amount,
                key=f"instance:{instance.pk}:enable:{quote.period_end.isoformat()}",
                reason=f"{instance.name}: enabled until 00:00 UTC",
                instance_id=instance.pk,
                period_start=quote.period_start,
                period_end=quote.period_end,
            )
        instance.paid_until = quote.period_end
        instance.paid_daily_price = quote.daily_price
        fields += ["paid_until", "paid_daily_price"]
    instance.enabled = True
    instance.save(update_fields=fields)
    audit_record(
        actor=actor,
        action="instance.enable",
        target=instance,
        before={"enabled": False},
        after={"enabled": True, "charged": quote.amount, "paid_until": instance.paid_until},
    )
    return quote


@transaction.atomic
def instance_disable(*, instance: Instance, actor: Actor) -> Instance:
    """No refund: the period stays paid, and enabling again inside it is free."""
    customer = lock_customer(pk=instance.customer_id)
    instance = lock_instance(pk=instance.pk, customer_id=customer.pk)
    if instance.enabled:
        instance.enabled = False
        instance.save(update_fields=["enabled", "updated_at"])
        audit_record(
            actor=actor,
            action="instance.disable",
            target=instance,
            before={"enabled": True},
            after={"enabled": False, "paid_until": instance.paid_until},
        )
    return instance


# ---- settings ----------------------------------------------------------------------------


def paid_for_period(*, instance: Instance) -> Decimal:
    """What the instance's current paid period (ending at paid_until) cost, net of what
    was given back: the ceiling of any refund."""
    if instance.paid_until is None:
        return Decimal("0.00")
    net = BalanceEntry.objects.filter(
        instance_id=instance.pk, period_end=instance.paid_until
    ).aggregate(s=Sum("amount"))["s"] or Decimal(0)
    return max(Decimal("0.00"), round_money(-net))


def _change_quote(
    *,
    instance: Instance,
    package: InstancePackage,
    expected_cpe_devices: int,
    options: list[str],
    at: datetime,
    balance: Decimal,
) -> InstanceQuote:
    daily = instance_daily_price(
        package=package, expected_cpe_devices=expected_cpe_devices, options=options
    )
    if instance.paid_until is None or instance.paid_until <= at:
        return InstanceQuote(
            "change", Decimal("0.00"), daily, None, None, balance, "No paid period: free."
        )
    end = instance.paid_until
    difference = daily - instance.paid_daily_price
    if difference >= 0:
        amount = pro_rata(daily_price=difference, start=at, end=end)
        text = f"{_money(amount)} for the time left until {end:%Y-%m-%d %H:%M} UTC."
    else:
        back = min(
            pro_rata(daily_price=-difference, start=at, end=end),
            paid_for_period(instance=instance),
        )
        amount = -back
        text = f"{_money(back)} back to your balance for the time left."
    return InstanceQuote("change", amount, daily, at, end, balance, text)


def instance_change_preview(
    *,
    instance: Instance,
    package: InstancePackage,
    expected_cpe_devices: int,
    options: Iterable[str] = (),
    at: datetime | None = None,
) -> InstanceQuote:
    at = at or timezone.now()
    codes = _clean_settings(
        package=package, expected_cpe_devices=expected_cpe_devices, options=options
    )
    return _change_quote(
        instance=_fresh(instance),
        package=package,
        expected_cpe_devices=expected_cpe_devices,
        options=codes,
        at=at,
        balance=_balance_of(instance.customer_id),
    )


@transaction.atomic
def instance_change_settings(
    *,
    instance: Instance,
    package: InstancePackage,
    expected_cpe_devices: int,
    options: Iterable[str] = (),
    actor: Actor,
    at: datetime | None = None,
    expected_amount: Decimal | None = None,
) -> InstanceQuote:
    at = at or timezone.now()
    codes = _clean_settings(
        package=package, expected_cpe_devices=expected_cpe_devices, options=options
    )
    customer = lock_customer(pk=instance.customer_id)
    instance = lock_instance(pk=instance.pk, customer_id=customer.pk)
    if package.pk != instance.package_id and not package.is_active:
        raise BillingError("That package is no longer offered.", code="package_inactive")
    quote = _change_quote(
        instance=instance,
        package=package,
        expected_cpe_devices=expected_cpe_devices,
        options=codes,
        at=at,
        balance=customer.balance,
    )
    if expected_amount is not None and quote.amount != expected_amount:
        raise _refuse_changed(quote)
    if quote.amount > quote.balance:
        raise _refuse_short(quote)
    if quote.amount != 0:
        count = BalanceEntry.objects.filter(instance_id=instance.pk).count()
        balance_instance_cost(
            customer_id=customer.pk,
            cost=quote.amount,
            key=f"instance:{instance.pk}:change:{count + 1}",
            reason=f"{instance.name}: settings changed",
            instance_id=instance.pk,
            period_start=quote.period_start,
            period_end=quote.period_end,
        )
    before = {
        "package": instance.package.code,
        "devices": instance.expected_cpe_devices,
        "options": instance.options,
    }
    instance.package = package
    instance.expected_cpe_devices = expected_cpe_devices
    instance.options = codes
    fields = ["package", "expected_cpe_devices", "options", "updated_at"]
    if quote.period_end is not None:
        instance.paid_daily_price = quote.daily_price
        fields.append("paid_daily_price")
    instance.save(update_fields=fields)
    audit_record(
        actor=actor,
        action="instance.change_settings",
        target=instance,
        before=before,
        after={
            "package": package.code,
            "devices": expected_cpe_devices,
            "options": codes,
            "amount": quote.amount,
        },
    )
    return quote
