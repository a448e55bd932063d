"""Benchmark: renew N subscriptions, the nightly renewal path end to end (lock, count,
number, credit, VAT, invoice + line + audit rows, period move), on PostgreSQL or SQLite.

    .venv/bin/python bench/renewals.py --count 50000 \
        --database-url postgres://postgres@127.0.0.1:5432/portal_bench
    .venv/bin/python bench/renewals.py --count 50000  # SQLite, var/renewals_bench.sqlite3

It uses its own database (created if missing, migrated, emptied), fills it quickly with
bulk inserts, renews everything due today with the same service as `run_renewals`, checks
the result (one invoice per subscription, numbers gapless), and prints figures.
The last line reads: invoices_per_second=<n> peak_rss_mb=<n>
"""

import argparse
import resource
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.databases import database_create, django_configure  # noqa: E402

SQLITE_DEFAULT = Path(__file__).resolve().parent.parent / "var" / "renewals_bench.sqlite3"
SETUP_BATCH = 2000  # subscriptions inserted per batch while preparing the database


def _reset() -> None:
    from django.db import connection

    tables = [
        "audit_auditentry",
        "billing_invoicereminder",
        "billing_creditnote",
        "billing_creditentry",
        "billing_invoiceline",
        "billing_invoice",
        "billing_numbersequence",
        "billing_subscription",
        "billing_plan",
        "billing_customer",
        "fleet_device",
        "fleet_organization",
        "accounts_user",
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
            return
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")  # children first: foreign keys hold
        cursor.execute("DELETE FROM sqlite_sequence")


def _populate(*, count: int, today) -> None:
    """count subscriptions due today: 90% Core monthly, 5% legacy monthly, 5% legacy yearly
    (3 devices each), 5 subscriptions per customer, every 10th customer holding credit."""
    from django.db import transaction
    from djmoney.money import Money

    from accounts.models import User
    from billing.models import Customer, Plan, Subscription
    from fleet.models import Device, DeviceState, Organization

    plans = {
        code: Plan.objects.create(
            code=code, name=name, kind=kind, interval=interval, unit_price=Money(price, "EUR")
        )
        for code, name, kind, interval, price in (
            ("core-month", "Core", "core", "month", "4.00"),
            ("legacy-month", "Legacy", "legacy", "month", "3.50"),
            ("legacy-year", "Legacy", "legacy", "year", "36.00"),
        )
    }
    start = today - timedelta(days=30)
    made = 0
    while made < count:
        size = min(SETUP_BATCH, count - made)
        with transaction.atomic():
            users = User.objects.bulk_create(
                [
                    User(email=f"billing{made + i}@bench.example", password="!")
                    for i in range(0, size, 5)
                ]
            )
            customers = Customer.objects.bulk_create(
                [
                    Customer(
                        name=f"Bench customer {user.pk}",
                        contact=user,
                        currency="EUR",
                        country="FR" if user.pk % 3 else "US",
                        address_line1="1 rue du Banc",
                        postal_code="75001",
                        city="Paris",
                        credit_balance=Decimal("5.00") if user.pk % 10 == 0 else Decimal(0),
                    )
                    for user in users
                ]
            )
            organizations = Organization.objects.bulk_create(
                [
                    Organization(name=f"Bench org {made + i}", licensed=True, licence_count=10)
                    for i in range(size)
                ]
            )
            subscriptions, devices = [], []
            for i, organization in enumerate(organizations):
                n = made + i
                plan = plans["core-month"]
                if n % 20 == 1:
                    plan = plans["legacy-month"]
                elif n % 20 == 2:
                    plan = plans["legacy-year"]
                if not plan.is_core:
                    devices += [
                        Device(
                            organization=organization,
                            serial=f"BENCH-{n}-{d}",
                            state=DeviceState.IN_THE_FIELD if d else DeviceState.IN_STOCK,
                        )
                        for d in range(3)
                    ]
                subscriptions.append(
                    Subscription(
                        customer=customers[i // 5],
                        organization=organization,
                        organization_name=organization.name,
                        plan=plan,
                        quantity=10,
                        billing_day=today.day,
                        billing_month=today.month,
                        current_period_start=start,
                        current_period_end=today,
                    )
                )
            Subscription.objects.bulk_create(subscriptions)
            Device.objects.bulk_create(devices)
        made += size


def _settle() -> None:
    """Leaves the database as a live one is before the night's run, so that runs compare:
    planner statistics for the rows just loaded (autovacuum keeps them on a live database;
    without them the first chunks are planned for empty tables), and on PostgreSQL a
    checkpoint, so the set-up's writes are not flushed during the timed run."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")
        else:
            cursor.execute("ANALYZE")


def _check(*, count: int, today) -> str:
    from django.conf import settings

    from billing.models import Invoice, NumberSequence, Subscription

    invoices = Invoice.objects.filter(kind="renewal", period_start=today)
    issued = invoices.count()
    per_subscription = invoices.values("subscription_id").distinct().count()
    last = NumberSequence.objects.get(
        series=settings.BILLING_INVOICE_PREFIX, year=timezone_today().year
    ).last_number
    distinct_numbers = invoices.values("number").distinct().count()
    moved = Subscription.objects.filter(current_period_start=today).count()
    problems = []
    if issued != count or per_subscription != count:
        problems.append(f"{issued} invoices for {per_subscription} subscriptions, want {count}")
    if distinct_numbers != count or last != count:
        problems.append(f"numbers: {distinct_numbers} distinct, last {last}, want {count}")
    if moved != count:
        problems.append(f"{moved} subscriptions moved, want {count}")
    if problems:
        raise SystemExit("CHECK FAILED: " + "; ".join(problems))
    return f"checked: {issued} invoices, numbers 1..{last} gapless, {moved} periods moved"


def timezone_today():
    from django.utils import timezone

    return timezone.now().date()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50000)
    parser.add_argument(
        "--database-url",
        default=f"sqlite:///{SQLITE_DEFAULT}",
        help="postgres://... or sqlite:///... (default: SQLite under var/)",
    )
    parser.add_argument("--chunk-size", type=int, default=None, help="default: the service's")
    args = parser.parse_args()
    if args.database_url.startswith(("postgres://", "postgresql://")):
        database_create(args.database_url)
    elif args.database_url.startswith("sqlite:///"):
        Path(args.database_url.removeprefix("sqlite:///")).parent.mkdir(exist_ok=True)
    else:
        raise SystemExit("Pass a postgres:// or sqlite:/// URL.")
    django_configure(args.database_url)
    from django.core.management import call_command

    from billing.services.renewals import RENEWAL_CHUNK_SIZE, renewals_run

    args.chunk_size = args.chunk_size or RENEWAL_CHUNK_SIZE

    call_command("migrate", verbosity=0)
    _reset()
    today = timezone_today()
    started = time.perf_counter()
    _populate(count=args.count, today=today)
    _settle()
    print(f"setup: {args.count} subscriptions in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    result = renewals_run(today=today, chunk_size=args.chunk_size, actor="bench")
    elapsed = time.perf_counter() - started
    print(
        f"renewed {result.subscriptions} subscriptions, {result.invoices} invoices in "
        f"{elapsed:.2f} s (chunks of {args.chunk_size})"
    )
    print(_check(count=args.count, today=today))
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"invoices_per_second={result.invoices / elapsed:.0f} peak_rss_mb={peak_rss_mb:.0f}")


if __name__ == "__main__":
    main()
