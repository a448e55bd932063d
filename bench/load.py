"""Benchmark: the portal under load. gunicorn (4 workers) on PostgreSQL with realistic
data, and locust (headless) playing logged-in customers.

    .venv/bin/python bench/load.py --database-url postgres://postgres@127.0.0.1:5432/perf_load

It prepares its own database (created if missing, migrated, emptied, filled with bulk
inserts and COPY: 10,000 customers, 20,000 subscriptions and organizations, 50,000
invoices, 500,000 devices; one organization in a hundred holds 520 devices, the others 20),
creates sessions directly in the session table for --sessions customers (no login flow),
starts `gunicorn portal.wsgi -w 4` on 127.0.0.1, runs `locust --headless -u 50 -r 10 -t 60s`
(bench/locust_portal.py: subscriptions overview, invoices, an organization's devices, the
Edit Subscription preview) and stops gunicorn. Traffic goes to 127.0.0.1 only.
The last line reads: p95_ms=<n> requests=<n> errors=<n>
"""

import argparse
import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import database_create, django_configure  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))


CUSTOMERS = 10_000
SUBSCRIPTIONS_PER_CUSTOMER = 2
INVOICES_PER_CUSTOMER = 5
DEVICES = 20
DEVICES_LARGE = 520  # every 100th organization: 19,800 x 20 + 200 x 520 = 500,000


def _reset() -> None:
    from django.db import connection

    tables = [
        "django_session",
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
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def _devices_of(index: int) -> int:
    return DEVICES_LARGE if index % 100 == 0 else DEVICES


def _populate(today) -> None:
    from django.db import connection, transaction
    from djmoney.money import Money

    from accounts.models import User
    from billing.models import Customer, Invoice, InvoiceStatus, Plan, Subscription
    from fleet.models import Organization

    plan = Plan.objects.create(
        code="core-month",
        name="Core",
        kind="core",
        interval="month",
        unit_price=Money("4.00", "EUR"),
    )
    start = today.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(email=f"load{i}@bench.example", password="!") for i in range(CUSTOMERS)],
            batch_size=5000,
        )
        customers = Customer.objects.bulk_create(
            [
                Customer(
                    name=f"Load customer {i}",
                    contact=user,
                    currency="EUR",
                    country="FR",
                    address_line1="1 rue de la Charge",
                    postal_code="75001",
                    city="Paris",
                )
                for i, user in enumerate(users)
            ],
            batch_size=5000,
        )
        count = CUSTOMERS * SUBSCRIPTIONS_PER_CUSTOMER
        organizations = Organization.objects.bulk_create(
            [
                Organization(name=f"Load org {i}", licensed=True, licence_count=_devices_of(i) + 10)
                for i in range(count)
            ],
            batch_size=5000,
        )
        Subscription.objects.bulk_create(
            [
                Subscription(
                    customer=customers[i // SUBSCRIPTIONS_PER_CUSTOMER],
                    organization=organization,
                    organization_name=organization.name,
                    plan=plan,
                    quantity=organization.licence_count,
                    billing_day=1,
                    billing_month=start.month,
                    current_period_start=start,
                    current_period_end=end,
                )
                for i, organization in enumerate(organizations)
            ],
            batch_size=5000,
        )
        invoices, number = [], 0
        for customer in customers:
            for month in range(INVOICES_PER_CUSTOMER):
                number += 1
                issued = start - timedelta(days=30 * month)
                paid = month > 0
                invoices.append(
                    Invoice(
                        customer=customer,
                        kind="renewal",
                        number=f"CAJ-{issued.year}-{number:06d}",
                        status=InvoiceStatus.PAID if paid else InvoiceStatus.OPEN,
                        currency="EUR",
                        subtotal=Money("80.00", "EUR"),
                        credit_applied=Money("0", "EUR"),
                        vat_rate=Decimal("20.00"),
                        vat_amount=Money("16.00", "EUR"),
                        total=Money("96.00", "EUR"),
                        amount_due=Money("0" if paid else "96.00", "EUR"),
                        issued_on=issued,
                        due_on=issued + timedelta(days=14),
                    )
                )
        Invoice.objects.bulk_create(invoices, batch_size=5000)
        # 500,000 devices by COPY.
        buffer = io.StringIO()
        states = ("in_the_field", "in_stock", "in_the_field", "in_repair")
        for i, organization in enumerate(organizations):
            for d in range(_devices_of(i)):
                buffer.write(
                    f"{organization.pk}\tLD-{organization.pk}-{d:04d}\tModel X\t{states[d % 4]}"
                    "\t2026-01-01 00:00:00+00\t2026-01-01 00:00:00+00\n"
                )
        with connection.cursor() as cursor:
            with cursor.cursor.copy(
                "COPY fleet_device (organization_id, serial, model_name, state, created_at,"
                " updated_at) FROM STDIN"
            ) as copy:
                copy.write(buffer.getvalue())
            cursor.execute("ANALYZE")


def _sessions(count: int, path: Path) -> None:
    """Logged-in sessions for `count` customers spread over the table (one in 100 owns a
    large organization), written straight into the session store."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from billing.models import Customer, Subscription

    step = max(CUSTOMERS // count, 1)
    picked = Customer.objects.select_related("contact").order_by("id")[::step][:count]
    users = []
    for customer in picked:
        store = SessionStore()
        store[SESSION_KEY] = str(customer.contact.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = customer.contact.get_session_auth_hash()
        store.create()
        subscriptions = Subscription.objects.filter(customer=customer).order_by("id")
        users.append(
            {
                "session": store.session_key,
                "organizations": [s.organization_id for s in subscriptions],
                "subscriptions": [[s.public_id, s.quantity] for s in subscriptions],
            }
        )
    path.write_text(json.dumps(users))


def _wait_until_up(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 (127.0.0.1 only)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer at {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/perf_load")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=int, default=10)
    parser.add_argument("--run-time", default="60s")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--skip-seed", action="store_true", help="reuse the seeded database")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("This benchmark runs on PostgreSQL: pass a postgres:// URL.")

    database_create(args.database_url)
    django_configure(args.database_url, secret_prefix="load-bench-")
    from django.core.management import call_command
    from django.utils import timezone

    work = Path(tempfile.mkdtemp(prefix="portal-load-"))
    if not args.skip_seed:
        call_command("migrate", verbosity=0)
        _reset()
        started = time.perf_counter()
        _populate(timezone.now().date())
        print(f"setup: seeded in {time.perf_counter() - started:.1f} s")
    users_file = work / "users.json"
    _sessions(args.sessions, users_file)
    from django.db import connections

    connections.close_all()

    host = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.base",
        "DEBUG": "false",
        "DATABASE_URL": args.database_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOAD_USERS_FILE": str(users_file),
    }
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(
        [
            str(bin_dir / "gunicorn"),
            "portal.wsgi",
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{args.port}",
            "--access-logfile",
            str(work / "access.log"),
            "--error-logfile",
            str(work / "gunicorn.log"),
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        _wait_until_up(f"{host}/login/", 30)
        prefix = work / "locust"
        subprocess.run(
            [
                str(bin_dir / "locust"),
                "-f",
                str(ROOT / "bench" / "locust_portal.py"),
                "--headless",
                "-u",
                str(args.users),
                "-r",
                str(args.spawn_rate),
                "-t",
                args.run_time,
                "--host",
                host,
                "--csv",
                str(prefix),
                "--only-summary",
                "--stop-timeout",
                "5",
            ],
            cwd=ROOT,
            env=env,
            check=False,
            timeout=600,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    with open(f"{prefix}_stats.csv") as stats_file:
        rows = list(csv.DictReader(stats_file))
    for row in rows:
        print(
            f"{row['Name']:>22}: {row['Request Count']:>6} requests, "
            f"{row['Failure Count']} errors, median {row['50%']} ms, p95 {row['95%']} ms, "
            f"p99 {row['99%']} ms, {float(row['Requests/s']):.1f} req/s"
        )
    total = next(row for row in rows if row["Name"] == "Aggregated")
    print(f"logs and CSV in {work}")
    print(
        f"p95_ms={total['95%']} requests={total['Request Count']} errors={total['Failure Count']}"
    )


if __name__ == "__main__":
    main()
