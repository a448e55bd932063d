"""Benchmark: the nightly instance billing on PostgreSQL, end to end (lock a chunk of
customers, load their enabled instances, price them, COPY the ledger rows, move the
balances and paid_until set-based, disable what the balance cannot pay).

    .venv/bin/python bench/instances.py --count 100000 \
        --database-url postgres://postgres@127.0.0.1:5432/cloud_bench_cloudcore

It uses its own database (created if missing, migrated, emptied), seeds N instances over
20,000 customers (5 per customer at 100,000), every 50th customer short of balance (its
last instance is disabled), runs the run at today's 00:00 UTC in chunks of 500 customers,
in this process (--workers 2: two processes sharing the chunks, like two Celery workers
consuming the fan-out), checks it (ledger == balance; every enabled instance charged
once) and prints figures. The last line reads:
instances_per_second=<n> peak_rss_mb=<n>
"""

import argparse
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.databases import database_create, django_configure  # noqa: E402

SETUP_BATCH = 5000


def _reset() -> None:
    from django.db import connection

    tables = [
        "audit_auditentry",
        "billing_balanceentry",
        "fleet_instance",
        "fleet_instancepackage",
        "fleet_instanceoption",
        "billing_customer",
        "accounts_user",
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def _populate(*, count: int, customers: int, at) -> None:
    from django.db import transaction

    from accounts.models import User
    from billing.models import Customer
    from fleet.models import Instance, InstanceOption, InstancePackage

    packages = [
        InstancePackage.objects.create(
            code=code, name=code, daily_price=Decimal(price), price_per_cpe_device=Decimal(per)
        )
        for code, price, per in (("s", "1.50", "0.0010"), ("m", "4.00", "0.0008"))
    ]
    InstanceOption.objects.create(code="backup", name="Backup", daily_price=Decimal("0.50"))
    per_customer = max(1, count // customers)
    made = 0
    n = 0
    while made < count:
        size = min(SETUP_BATCH // per_customer or 1, customers - n) or 1
        with transaction.atomic():
            users = User.objects.bulk_create(
                [User(email=f"cloud{n + i}@bench.example", password="!") for i in range(size)]
            )
            rows = Customer.objects.bulk_create(
                [
                    Customer(
                        name=f"Cloud {user.pk}",
                        contact=user,
                        currency="EUR",
                        country="FR",
                        address_line1="1 rue",
                        postal_code="75001",
                        city="Paris",
                        # every 50th customer is short: its last instance gets disabled
                        balance=Decimal("10.00") if user.pk % 50 == 0 else Decimal("1000.00"),
                    )
                    for user in users
                ]
            )
            instances = []
            for customer in rows:
                for k in range(per_customer):
                    if made + len(instances) >= count:
                        break
                    instances.append(
                        Instance(
                            customer=customer,
                            name=f"dms-{customer.pk}-{k}",
                            package=packages[k % 2],
                            expected_cpe_devices=100 * (k + 1),
                            options=["backup"] if k % 3 == 0 else [],
                            enabled=True,
                            paid_until=at,
                        )
                    )
            Instance.objects.bulk_create(instances, batch_size=5000)
            made += len(instances)
            n += size
    # The seeded balances are opening balances: give them their ledger rows (one each).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO billing_balanceentry (customer_id, kind, amount, balance_after, "
            "automatic, reason, idempotency_key, created_at) SELECT id, 'top_up', balance, "
            "balance, false, 'bench seed', 'seed:' || id, now() FROM billing_customer"
        )
        cursor.execute("ANALYZE")


def _worker(ids_list, at_iso, queue):
    import django
    from django.db import connections

    django.setup()
    connections.close_all()
    from datetime import datetime

    from billing.services.instance_billing import instance_bill_chunk

    at = datetime.fromisoformat(at_iso)
    billed = disabled = 0
    for ids in ids_list:
        result = instance_bill_chunk(customer_ids=ids, at=at, actor="bench")
        billed += result.billed
        disabled += result.disabled
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((billed, disabled, peak))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100000)
    parser.add_argument(
        "--customers", type=int, default=0, help="default: count // 5 (20,000 at 100,000)"
    )
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/cloud_bench_cloudcore"
    )
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("This benchmark runs on PostgreSQL: pass a postgres:// URL.")
    database_create(args.database_url)
    django_configure(args.database_url)
    from django.core.management import call_command
    from django.utils import timezone

    from billing.services.balance import ledger_check
    from billing.services.instance_billing import (
        instance_billing_check,
        instance_billing_chunks,
        run_at,
    )

    call_command("migrate", verbosity=0)
    _reset()
    at = run_at(timezone.now().date())
    customers = args.customers or max(1, args.count // 5)
    started = time.perf_counter()
    _populate(count=args.count, customers=customers, at=at)
    print(
        f"setup: {args.count} instances, {customers} customers in "
        f"{time.perf_counter() - started:.1f} s"
    )

    import multiprocessing

    from django.db import connections

    started = time.perf_counter()
    chunks = list(instance_billing_chunks(chunk_size=args.chunk_size))
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    shares = [chunks[i :: args.workers] for i in range(args.workers)]
    procs = [ctx.Process(target=_worker, args=(s, at.isoformat(), queue)) for s in shares]
    for p in procs:
        p.start()
    outcomes = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    billed = sum(o[0] for o in outcomes)
    disabled = sum(o[1] for o in outcomes)
    print(
        f"billed {billed} instances, disabled {disabled}, {len(chunks)} chunks of "
        f"{args.chunk_size} customers, {args.workers} worker process(es), in {elapsed:.2f} s"
    )
    check = instance_billing_check(day=at.date())
    ledger = ledger_check()
    if not check.ok or ledger.mismatches or billed + disabled != args.count:
        raise SystemExit(
            f"CHECK FAILED: unbilled={len(check.unbilled)} twice={len(check.twice)} "
            f"mismatches={len(ledger.mismatches)} billed+disabled={billed + disabled}"
        )
    print(
        f"checked: {check.charges} charges, none missing or twice; "
        f"{ledger.customers} balances == ledger sums"
    )
    peak = max(
        [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024] + [o[2] for o in outcomes]
    )
    print(f"instances_per_second={(billed + disabled) / elapsed:.0f} peak_rss_mb={peak:.0f}")


if __name__ == "__main__":
    main()
