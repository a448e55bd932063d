"""How long one invoice PDF takes to render (target: under 100 ms).

Builds a realistic finalized invoice (French customer, 20% VAT, credit applied, a renewal
line and three proration lines) in a throwaway SQLite database, renders it N times, and
prints the median and 95th percentile in milliseconds.

    .venv/bin/python bench/invoice_pdf.py [--count 200]

Its last line reads `median_ms=<n> p95_ms=<n> pdf_bytes=<n>`.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="renders to time")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    workdir = tempfile.mkdtemp(prefix="bench-pdf-")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.test")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    invoice = _realistic_invoice()

    from billing.pdf import invoice_pdf_render

    invoice_pdf_render(invoice=invoice)  # warm-up: imports, font metrics
    timings = []
    size = 0
    for _ in range(args.count):
        started = time.perf_counter()
        size = len(invoice_pdf_render(invoice=invoice))
        timings.append((time.perf_counter() - started) * 1000)  # milliseconds
    timings.sort()
    median = statistics.median(timings)
    p95 = timings[max(0, int(round(0.95 * len(timings))) - 1)]
    print(f"renders={args.count} min_ms={timings[0]:.1f} max_ms={timings[-1]:.1f}")
    print(f"median_ms={median:.1f} p95_ms={p95:.1f} pdf_bytes={size}")


def _realistic_invoice():
    from djmoney.money import Money

    from accounts.models import User
    from billing.models import Customer, InvoiceKind, Plan, PlanKind
    from billing.services.credit import credit_grant
    from billing.services.invoices import (
        invoice_add_line,
        invoice_create_draft,
        invoice_finalize,
    )
    from billing.services.proration import proration_amount
    from billing.services.subscriptions import subscription_create

    customer = Customer.objects.create(
        name="Acme SAS",
        contact=User.objects.create_user(email="billing@acme.example"),
        currency="EUR",
        country="FR",
        vat_number="FR40303265045",
        address_line1="8 avenue des Ternes",
        address_line2="Bâtiment B, 3e étage",
        postal_code="75017",
        city="Paris",
    )
    plan = Plan.objects.create(
        code="core-monthly-eur",
        name="Core",
        kind=PlanKind.CORE,
        interval="month",
        unit_price=Money(Decimal("4.00"), "EUR"),
    )
    subscription = subscription_create(
        customer=customer,
        organization_name="Acme Paris",
        plan=plan,
        quantity=25,
        start=date(2026, 11, 1),
        actor="bench",
    )
    credit_grant(
        kind="staff_grant", customer=customer, amount=Decimal("12.50"), reason="earlier decrease"
    )
    invoice = invoice_create_draft(
        customer=customer,
        subscription=subscription,
        kind=InvoiceKind.RENEWAL,
        period_start=date(2026, 11, 1),
        period_end=date(2026, 12, 1),
    )
    invoice_add_line(
        invoice=invoice,
        description="Core monthly, 25 licences",
        quantity=25,
        unit_price=Decimal("4.00"),
        period_start=date(2026, 11, 1),
        period_end=date(2026, 12, 1),
    )
    for added, day in ((5, 9), (3, 16), (2, 23)):
        remaining = 30 - day + 1
        invoice_add_line(
            invoice=invoice,
            description=f"Core monthly: {added} additional licences, {remaining}/30 days",
            quantity=added,
            unit_price=Decimal("4.00"),
            amount=proration_amount(
                unit_price=Decimal("4.00"), quantity=added, remaining_days=remaining, period_days=30
            ),
            period_start=date(2026, 11, day),
            period_end=date(2026, 12, 1),
        )
    return invoice_finalize(invoice=invoice, actor="bench", issued_on=date(2026, 11, 1))


if __name__ == "__main__":
    main()
