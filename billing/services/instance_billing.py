"""Nightly instance billing: the run at T (00:00 UTC) bills every enabled instance whose
paid_until <= T for [T, T + 24 h), from the prepaid balance.

Per customer, its enabled instances in a fixed order (created_at, id), greedily: an
instance the remaining balance cannot pay is disabled (the balance is untouched) and the
next one is tried (10, 50, 5 with 20 -> the first and third billed, the second disabled).
A disabled instance is not billed.

A chunk of customers is billed in ONE transaction with a fixed number of queries: lock
the customers in id order (services/locks.py, level 2; every instance write takes its
customer first, so none moves under the run), load their enabled instances, compute in
Python, insert the ledger rows at once (COPY on PostgreSQL), then move the balances and
the instances set-based.

Idempotent: inside the lock only instances with paid_until <= T are billed, and each
charge has the unique key "instance:<id>:<date>": a rerun (or a crashed chunk rolled
back and retried) bills nothing twice.

After the chunk commits: one e-mail per customer listing what was disabled, and a
low-balance e-mail when the balance covers fewer days of today's daily spend than a
threshold (BILLING_LOW_BALANCE_DAYS, default 7 and 3), once per crossing.

Automatic top-ups (services/auto_top_up.py) run for the chunk before it is billed,
outside the billing transaction (a gateway call never holds the chunk's locks).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from audit.services import audit_record_many
from billing.errors import BillingError
from billing.models import BalanceEntry, BalanceKind, Customer
from billing.money import round_money
from billing.services.bulk_insert import bulk_insert_rows
from billing.services.instances import DAY, daily_price_of
from billing.services.locks import lock_customers
from fleet.models import Instance, InstanceOption, InstancePackage

INSTANCE_CHUNK_SIZE = 500  # customers per chunk (one transaction, one task)
BILLING_ACTOR = "nightly-instance-billing"


def run_at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def instance_charge_key(*, instance_id: int, day: date) -> str:
    return f"instance:{instance_id}:{day.isoformat()}"


def low_balance_thresholds() -> list[int]:
    return sorted(getattr(settings, "BILLING_LOW_BALANCE_DAYS", [7, 3]), reverse=True)


def low_balance_level(*, balance: Decimal, daily_spend: Decimal) -> int | None:
    """The lowest threshold (in days) the balance is under, or None."""
    if daily_spend <= 0:
        return None
    level = None
    for days in low_balance_thresholds():  # 7, then 3
        if balance < daily_spend * days:
            level = days
    return level


@dataclass
class InstanceBillingResult:
    customers: int = 0
    billed: int = 0
    disabled: int = 0
    charged: Decimal = Decimal("0.00")
    notices: list[dict] = field(default_factory=list)

    def add(self, other: "InstanceBillingResult") -> None:
        self.customers += other.customers
        self.billed += other.billed
        self.disabled += other.disabled
        self.charged += other.charged


def instance_billing_check_time(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    if (at.hour, at.minute, at.second, at.microsecond) != (0, 0, 0, 0):
        raise BillingError("A billing run is at 00:00 UTC.", code="run_time_invalid")
    if at > timezone.now():
        raise BillingError(
            f"Cannot bill for {at:%Y-%m-%d}: that run has not come yet (UTC).",
            code="run_in_future",
        )
    return at


def customers_with_enabled_instances():
    """Ids of customers with an enabled instance, in id order."""
    return (
        Instance.objects.filter(enabled=True)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
        .distinct()
    )


def instance_billing_chunks(*, chunk_size: int = INSTANCE_CHUNK_SIZE):
    chunk: list[int] = []
    for customer_id in customers_with_enabled_instances().iterator(chunk_size=5000):
        chunk.append(customer_id)
        if len(chunk) == chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Prices:
    """Package and option prices, read once per chunk (small tables)."""

    def __init__(self) -> None:
        self.packages = {
            pk: (price, per_device)
            for pk, price, per_device in InstancePackage.objects.values_list(
                "pk", "daily_price", "price_per_cpe_device"
            )
        }
        self.options = dict(InstanceOption.objects.values_list("code", "daily_price"))

    def daily(self, row: dict) -> Decimal:
        price, per_device = self.packages[row["package_id"]]
        return daily_price_of(
            package_price=price,
            per_device=per_device,
            devices=row["expected_cpe_devices"],
            options=row["options"] or (),
            option_prices=self.options,
        )


def _update_rows(*, model, columns: dict[str, str], rows: list[tuple]) -> None:
    """UPDATE model SET <columns> per row (pk first in each tuple), one statement: UPDATE
    ... FROM (VALUES ...) on PostgreSQL (columns maps name -> SQL type), bulk_update
    elsewhere."""
    if not rows:
        return
    names = list(columns)
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(model._meta.db_table)
        quote = connection.ops.quote_name
        values = ", ".join(["(" + ", ".join(["%s"] * (len(names) + 1)) + ")"] * len(rows))
        sets = ", ".join(f"{quote(n)} = v.{quote(n)}::{columns[n]}" for n in names)
        alias = ", ".join(["id", *(quote(n) for n in names)])
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS t SET {sets} FROM (VALUES {values}) AS v({alias}) "  # noqa: S608
                "WHERE t.id = v.id::bigint",
                [value for row in rows for value in row],
            )
        return
    objects = [model(pk=row[0], **dict(zip(names, row[1:], strict=True))) for row in rows]
    model.objects.bulk_update(objects, names, batch_size=500)


def instance_bill_chunk(
    *, customer_ids: list[int], at: datetime, actor: str = BILLING_ACTOR
) -> InstanceBillingResult:
    """Bills the customers' due instances for [at, at + 24 h) in one transaction, then
    (on commit) e-mails what was disabled and low balances."""
    from billing.services.auto_top_up import auto_top_up_run_for

    auto_top_up_run_for(customer_ids=customer_ids, at=at)
    with transaction.atomic():
        result = _bill_locked_chunk(customer_ids=customer_ids, at=at, actor=actor)
        if result.notices:
            from billing.tasks import email_instance_notices

            notices = result.notices
            transaction.on_commit(lambda: email_instance_notices.delay(notices))
    return result


def _bill_locked_chunk(*, customer_ids: list[int], at: datetime, actor: str):
    result = InstanceBillingResult()
    customers = lock_customers(pks=customer_ids)
    if not customers:
        return result
    instances = list(
        Instance.objects.filter(customer_id__in=list(customers), enabled=True)
        .order_by("customer_id", "created_at", "id")
        .values(
            "pk",
            "customer_id",
            "name",
            "package_id",
            "expected_cpe_devices",
            "options",
            "paid_until",
        )
    )
    prices = _Prices()
    end = at + DAY
    day = at.date()
    now = timezone.now()
    by_customer: dict[int, list[dict]] = defaultdict(list)
    for row in instances:
        by_customer[row["customer_id"]].append(row)
    entries: list[dict] = []
    billed: list[tuple] = []  # (pk, paid_daily_price)
    disabled_rows: list[dict] = []
    customer_updates: list[tuple] = []  # (pk, balance, low_balance_notified_days)
    for customer_id, customer in customers.items():
        rows = by_customer.get(customer_id, [])
        if not rows:
            continue
        result.customers += 1
        balance = customer.balance
        spend = Decimal(0)
        disabled_here = []
        for row in rows:
            daily = prices.daily(row)
            if row["paid_until"] is not None and row["paid_until"] > at:
                spend += daily  # already paid for this day (enabled since the run time)
                continue
            amount = round_money(daily)
            if amount > balance:
                disabled_here.append(row)
                continue
            spend += daily
            billed.append((row["pk"], daily))
            if amount > 0:
                balance -= amount
                result.charged += amount
                entries.append(
                    {
                        "customer_id": customer_id,
                        "kind": BalanceKind.INSTANCE_CHARGE,
                        "amount": -amount,
                        "balance_after": balance,
                        "automatic": False,
                        "instance_id": row["pk"],
                        "payment_id": None,
                        "period_start": at,
                        "period_end": end,
                        "reason": f"{row['name'][:150]}: {day:%Y-%m-%d}",
                        "idempotency_key": instance_charge_key(instance_id=row["pk"], day=day),
                        "created_at": now,
                    }
                )
        level = low_balance_level(balance=balance, daily_spend=spend)
        notify_level = (
            level
            if level is not None
            and (
                customer.low_balance_notified_days is None
                or level < customer.low_balance_notified_days
            )
            else None
        )
        if balance != customer.balance or level != customer.low_balance_notified_days:
            customer_updates.append((customer_id, balance, level))
        if disabled_here or notify_level is not None:
            result.notices.append(
                {
                    "customer_id": customer_id,
                    "disabled": [row["pk"] for row in disabled_here],
                    "low_balance_days": notify_level,
                    "balance": str(balance),
                    "daily_spend": str(round_money(spend)),
                    "day": day.isoformat(),
                }
            )
        disabled_rows += disabled_here
    result.billed = len(billed)
    result.disabled = len(disabled_rows)
    bulk_insert_rows(model=BalanceEntry, rows=entries)
    _update_rows(
        model=Customer,
        columns={"balance": "numeric", "low_balance_notified_days": "smallint"},
        rows=customer_updates,
    )
    if billed:
        Instance.objects.filter(pk__in=[pk for pk, _ in billed]).update(paid_until=end)
        _update_rows(model=Instance, columns={"paid_daily_price": "numeric"}, rows=billed)
    if disabled_rows:
        Instance.objects.filter(pk__in=[row["pk"] for row in disabled_rows]).update(
            enabled=False, updated_at=now
        )
        audit_record_many(
            actor=actor,
            entries=[
                (
                    "instance.disable",
                    Instance(pk=row["pk"], name=row["name"]),
                    {"enabled": True},
                    {"enabled": False, "why": "balance too low", "run": at.isoformat()},
                )
                for row in disabled_rows
            ],
        )
    return result


def instance_billing_run(
    *, at: datetime, chunk_size: int = INSTANCE_CHUNK_SIZE, actor: str = BILLING_ACTOR
) -> InstanceBillingResult:
    """Every chunk in this process, one after another (staff command, benchmark)."""
    at = instance_billing_check_time(at)
    total = InstanceBillingResult()
    for ids in instance_billing_chunks(chunk_size=chunk_size):
        total.add(instance_bill_chunk(customer_ids=ids, at=at, actor=actor))
    return total


# ---- the check ---------------------------------------------------------------------------


@dataclass
class InstanceBillingCheck:
    day: date
    enabled: int
    charges: int
    unbilled: list[int]  # enabled instances with no charge covering the day
    twice: list[tuple[int, int]]  # (instance id, charges covering the day) when > 1

    @property
    def ok(self) -> bool:
        return not self.unbilled and not self.twice


def _period_charges(*, start: datetime, end: datetime):
    """Charges that pay for time on the day (the nightly charge, or an enable after a
    gap); a settings change's difference is not one."""
    return BalanceEntry.objects.filter(
        kind=BalanceKind.INSTANCE_CHARGE, period_start__lt=end, period_end__gt=start
    ).exclude(idempotency_key__contains=":change:")


def instance_billing_pending(*, at) -> bool:
    """Whether an enabled instance is still unbilled for the run at `at` (its paid-until
    not past it, or never billed): the nightly run is not finished while one is."""
    return (
        Instance.objects.filter(enabled=True)
        .filter(Q(paid_until__isnull=True) | Q(paid_until__lte=at))
        .exists()
    )


def instance_billing_check(*, day: date) -> InstanceBillingCheck:
    """For the billed day [00:00, 24:00) UTC: every instance enabled now has a charge
    covering it, unless its price is zero, and none has two. Meaningful right after the
    run: an instance enabled later (created later, or after days disabled) has no charge
    for the earlier days and would be listed for them."""
    start = run_at(day)
    end = start + DAY
    charges = _period_charges(start=start, end=end)
    unbilled = list(
        Instance.objects.filter(enabled=True)
        .exclude(Q(paid_until__gt=start) & Q(paid_daily_price__lt=Decimal("0.005")))
        .exclude(Exists(charges.filter(instance_id=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    twice = list(
        charges.values("instance_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("instance_id")
        .values_list("instance_id", "n")
    )
    return InstanceBillingCheck(
        day=day,
        enabled=Instance.objects.filter(enabled=True).count(),
        charges=charges.count(),
        unbilled=unbilled,
        twice=twice,
    )
