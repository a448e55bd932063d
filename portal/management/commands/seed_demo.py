"""Demo data. Deterministic: the same customers, plans, devices and invoices every run,
placed relative to today so the current periods are current. Running it twice is safe.

Acme SAS meets every mode a customer can meet: Acme Paris is active, Acme Lyon is
restricted (renewed with fewer licences than devices in the field), Acme Retail is
read-only (its previous invoice is unpaid past its due date). Acme's VAT number is not
the seller's."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from djmoney.money import Money

from accounts.demo import demo_required
from accounts.models import User
from accounts.services import staff_user_create
from billing.models import Customer, InvoiceKind, Plan, PlanKind, Subscription
from billing.services.customers import customer_create
from billing.services.invoices import (
    invoice_add_line,
    invoice_create_draft,
    invoice_finalize,
)
from billing.services.overdue import overdue_mark
from billing.services.payments import payment_record_bank_transfer
from billing.services.periods import period_end_for
from billing.services.subscriptions import subscription_create
from fleet.models import Device, DeviceState, InstanceOption, InstancePackage
from fleet.services.organizations import (
    organization_refresh_mode,
    organization_set_billing_state,
)

STAFF_EMAIL = "staff@caj.example"
STAFF_PASSWORD = "demo-staff-2026"
# Fixed so the README can say how to add it to an authenticator app. Demo only.
STAFF_TOTP_KEY = "3132333435363738393031323334353637383930"

PLANS = [
    ("core-monthly-eur", "Core", PlanKind.CORE, "month", "4.00", "EUR"),
    ("core-yearly-eur", "Core", PlanKind.CORE, "year", "40.00", "EUR"),
    ("legacy-monthly-eur", "Legacy", PlanKind.LEGACY, "month", "5.00", "EUR"),
    ("legacy-yearly-eur", "Legacy", PlanKind.LEGACY, "year", "50.00", "EUR"),
    ("core-monthly-usd", "Core", PlanKind.CORE, "month", "4.50", "USD"),
    ("core-yearly-usd", "Core", PlanKind.CORE, "year", "45.00", "USD"),
]

# (public id, organization, plan, quantity, days since the period started,
#  devices in the field / in stock / in repair)
ACME_SUBSCRIPTIONS = [
    ("SUB-ACMEPAR2", "Acme Paris", "core-monthly-eur", 25, 5, (18, 4, 2)),
    ("SUB-ACMEYRN3", "Acme Lyon", "core-yearly-eur", 12, 40, (11, 1, 0)),
    ("SUB-ACMERTA4", "Acme Retail", "legacy-monthly-eur", 1, 9, (9, 3, 1)),
]
# Renewed with fewer licences (a yearly decrease scheduled a year ago) than the devices
# still in the field: the organization is restricted until some go back to stock.
RENEWED_WITH_FEWER_LICENCES = {"SUB-ACMEYRN3": 9}
# The invoice of the previous period is still open past its due date: read-only.
UNPAID_PAST_DUE = {"SUB-ACMERTA4"}
GLOBEX_SUBSCRIPTIONS = [
    ("SUB-GBXNYC55", "Globex New York", "core-monthly-usd", 15, 3, (10, 2, 0)),
]

# Cloud instances: (code, name, EUR a day, EUR per expected CPE device a day).
CLOUD_PACKAGES = [
    ("starter", "Starter", "3.00", "0.0100"),
    ("business", "Business", "9.00", "0.0080"),
]
CLOUD_OPTIONS = [("backup", "Daily backup", "1.00"), ("sla", "24/7 support", "4.00")]


class Command(BaseCommand):
    help = "Demo only: loads the demo data once (safe to run again)."

    def handle(self, *args, **options):
        # Its staff user has a published password and TOTP key: never outside the demo.
        demo_required(what="seed_demo")
        if Customer.objects.filter(contact__email="billing@acme.example").exists():
            self.stdout.write("Demo data already loaded.")
            return
        with transaction.atomic():
            self._seed()
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))

    def _seed(self):
        today = timezone.now().date()
        if not User.objects.filter(email=STAFF_EMAIL).exists():
            staff_user_create(email=STAFF_EMAIL, password=STAFF_PASSWORD, totp_key=STAFF_TOTP_KEY)
        plans = {}
        for code, name, kind, interval, price, currency in PLANS:
            plans[code], _ = Plan.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "kind": kind,
                    "interval": interval,
                    "unit_price": Money(Decimal(price), currency),
                },
            )
        self._cloud_catalogue()
        acme = customer_create(
            name="Acme SAS",
            contact_email="billing@acme.example",
            currency="EUR",
            country="FR",
            vat_number="FR44732829320",  # not the seller's (BILLING_SELLER)
            address_line1="8 avenue des Ternes",
            postal_code="75017",
            city="Paris",
            actor="seed_demo",
        )
        globex = customer_create(
            name="Globex Inc.",
            contact_email="billing@globex.example",
            currency="USD",
            country="US",
            address_line1="350 Fifth Avenue",
            postal_code="10118",
            city="New York",
            actor="seed_demo",
        )
        invoices = []
        for customer, rows, prefix in (
            (acme, ACME_SUBSCRIPTIONS, "ACM"),
            (globex, GLOBEX_SUBSCRIPTIONS, "GBX"),
        ):
            for public_id, org_name, plan_code, quantity, age, states in rows:
                invoices += self._subscription(
                    customer,
                    public_id,
                    org_name,
                    plans[plan_code],
                    quantity,
                    today - timedelta(days=age),
                    states,
                    prefix,
                )
        # Numbers are given in issue order, as the law wants them chronological.
        for period_start, subscription, billed in sorted(invoices, key=lambda row: row[0]):
            # What is past due is paid, except the previous period of UNPAID_PAST_DUE.
            paid = (today - period_start).days >= settings.BILLING_INVOICE_DUE_DAYS and not (
                subscription.public_id in UNPAID_PAST_DUE
                and period_start < subscription.current_period_start
            )
            self._invoice(subscription, subscription.plan, billed, period_start, paid)
        # The nightly pass makes the organizations of overdue invoices read-only.
        overdue_mark(today=today, actor="seed_demo")

    def _cloud_catalogue(self):
        """Cloud instance packages and options (daily prices in EUR) for the Instances page."""
        for code, name, daily, per_device in CLOUD_PACKAGES:
            InstancePackage.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "daily_price": Decimal(daily),
                    "price_per_cpe_device": Decimal(per_device),
                },
            )
        for code, name, daily in CLOUD_OPTIONS:
            InstanceOption.objects.get_or_create(
                code=code, defaults={"name": name, "daily_price": Decimal(daily)}
            )

    def _subscription(self, customer, public_id, org_name, plan, quantity, start, states, prefix):
        # The previous period (paid) and the current one (open, not yet due).
        previous_start = _previous_start(start, plan.interval)
        subscription = subscription_create(
            customer=customer,
            organization_name=org_name,
            plan=plan,
            quantity=quantity,
            start=previous_start,
            actor="seed_demo",
        )
        Subscription.objects.filter(pk=subscription.pk).update(
            public_id=public_id,
            current_period_start=start,
            current_period_end=period_end_for(
                start=start,
                interval=plan.interval,
                billing_day=start.day,
                billing_month=start.month,
            ),
        )
        subscription.refresh_from_db()
        organization = subscription.organization
        serial = 1
        for state, count in zip(DeviceState.values, states, strict=True):
            for _ in range(count):
                Device.objects.create(
                    organization=organization,
                    state=state,
                    serial=f"{prefix}-{organization.pk:02d}-{serial:04d}",
                    model_name=("Zebra TC52", "Samsung XCover 6")[serial % 2],
                )
                serial += 1
        organization_refresh_mode(organization=organization, actor="seed_demo")
        billed = quantity if plan.is_core else states[0]
        renewed_with = RENEWED_WITH_FEWER_LICENCES.get(public_id)
        if renewed_with is None:
            return [(previous_start, subscription, billed), (start, subscription, billed)]
        # As the renewal applies a scheduled decrease: fewer licences for the MDM.
        Subscription.objects.filter(pk=subscription.pk).update(quantity=renewed_with)
        subscription.refresh_from_db()
        organization_set_billing_state(
            organization=organization, actor="seed_demo", licence_count=renewed_with
        )
        return [(previous_start, subscription, billed), (start, subscription, renewed_with)]

    def _invoice(self, subscription, plan, billed, period_start, paid):
        period_end = period_end_for(
            start=period_start,
            interval=plan.interval,
            billing_day=subscription.billing_day,
            billing_month=subscription.billing_month,
        )
        invoice = invoice_create_draft(
            customer=subscription.customer,
            subscription=subscription,
            kind=InvoiceKind.RENEWAL,
            idempotency_key=f"renewal:{subscription.public_id}:{period_start.isoformat()}",
            period_start=period_start,
            period_end=period_end,
        )
        unit = "licence" if plan.is_core else "device"
        invoice_add_line(
            invoice=invoice,
            description=f"{plan.name} {plan.get_interval_display().lower()}, "
            f"{billed} {unit}{'s' if billed != 1 else ''}",
            quantity=billed,
            unit_price=plan.unit_price.amount,
            period_start=period_start,
            period_end=period_end,
        )
        invoice = invoice_finalize(invoice=invoice, actor="seed_demo", issued_on=period_start)
        if paid:
            # Paid by a bank transfer staff reconciled: the customer sees it on Payments.
            payment_record_bank_transfer(
                invoice=invoice, amount=invoice.amount_due.amount, actor="seed_demo"
            )


def _previous_start(start, interval):
    if interval == "month":
        return (start.replace(day=1) - timedelta(days=1)).replace(day=min(start.day, 28))
    return start.replace(year=start.year - 1, day=min(start.day, 28))
