"""Customers, plans, subscriptions and invoices. Amounts are django-money MoneyFields."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from djmoney.models.fields import MoneyField

from accounts.text import text_fields_validate
from billing.countries import COUNTRY_CHOICES
from billing.money import CURRENCY_CHOICES

MONEY = {"max_digits": 14, "decimal_places": 2}


class Customer(models.Model):
    """A company. Exactly one billing contact (a user) logs in for it."""

    name = models.CharField("company name", max_length=200)
    contact = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="customer",
        verbose_name="billing contact",
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    country = models.CharField(max_length=2, choices=COUNTRY_CHOICES)
    vat_number = models.CharField("VAT number", max_length=20, blank=True)
    # Country and VAT number decide the VAT: a customer only proposes new ones, which take
    # effect once staff verify them (services/customers.py customer_tax_identity_verify).
    pending_country = models.CharField(max_length=2, choices=COUNTRY_CHOICES, blank=True)
    pending_vat_number = models.CharField("pending VAT number", max_length=20, blank=True)
    tax_identity_requested_at = models.DateTimeField(null=True, blank=True)
    # The customer's id at the card gateway (Stripe "cus_…"), made on first use.
    gateway_customer_ref = models.CharField(max_length=100, blank=True)
    address_line1 = models.CharField("address", max_length=200)
    address_line2 = models.CharField("address (line 2)", max_length=200, blank=True)
    postal_code = models.CharField(max_length=20)
    city = models.CharField(max_length=100)
    # Credit owed to the customer (e.g. a monthly decrease), in its currency, used by the
    # next invoices before anything is charged. Moved only with F() by services/credit.py
    # under the customer's row lock; it always equals the sum of the CreditEntry ledger.
    credit_balance = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # The prepaid balance (cloud instances), the sum of the BalanceEntry ledger
    # (models/ledger.py), moved only by services/balance.py under the customer's lock.
    balance = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # The low-balance threshold (days of daily spend) last e-mailed; None above them all.
    low_balance_notified_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Automatic top-up: when the balance covers fewer than `auto_top_up_below_days` days,
    # charge the default card `auto_top_up_amount`, or up to `auto_top_up_target` if set.
    auto_top_up_enabled = models.BooleanField(default=False)
    auto_top_up_below_days = models.PositiveSmallIntegerField(default=7)
    auto_top_up_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    auto_top_up_target = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            models.CheckConstraint(
                condition=Q(credit_balance__gte=0), name="customer_credit_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="customer_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        super().clean()
        # Shown in e-mail subjects: no line breaks or control characters (accounts.text).
        text_fields_validate(obj=self, labels={"name": "company name"})

    @property
    def email(self) -> str:
        return self.contact.email


class PlanKind(models.TextChoices):
    CORE = "core", "Core (licences)"
    LEGACY = "legacy", "Legacy"


class Interval(models.TextChoices):
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


class Plan(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=PlanKind.choices)
    interval = models.CharField(max_length=5, choices=Interval.choices)
    # Per licence (Core) or per device (legacy), per interval.
    unit_price = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    is_active = models.BooleanField(default=True, help_text="Inactive plans are not offered.")

    class Meta:
        ordering = ("kind", "interval", "code")
        constraints = [
            models.CheckConstraint(
                condition=Q(unit_price__gte=0),
                name="plan_price_not_negative",
                violation_error_message="A price cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.unit_price}/{self.interval})"

    def clean(self):
        super().clean()
        # Shown in e-mail subjects: no line breaks or control characters (accounts.text).
        text_fields_validate(obj=self, labels={"name": "plan name"})

    @property
    def is_core(self) -> bool:
        return self.kind == PlanKind.CORE


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    CANCELLED = "cancelled", "Cancelled"


# Alphabet without 0/O and 1/I/L: customers read these ids out on the phone.
_PUBLIC_ID_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def new_subscription_public_id() -> str:
    return "SUB-" + "".join(secrets.choice(_PUBLIC_ID_ALPHABET) for _ in range(8))


class Subscription(models.Model):
    """One per MDM organization; its own billing date."""

    public_id = models.CharField(
        max_length=12, unique=True, default=new_subscription_public_id, editable=False
    )
    # Indexed by subscription_listing, which starts with the customer.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="subscriptions", db_index=False
    )
    # Kept null once cancelled: the organization is erased, the subscription and its
    # invoices stay as records.
    organization = models.OneToOneField(
        "fleet.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subscription",
    )
    organization_name = models.CharField(
        max_length=200, help_text="Kept after cancellation, when the organization is erased."
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    # Licences bought (Core). Legacy plans bill per device; there it is informational.
    quantity = models.PositiveIntegerField(default=1)
    # A yearly decrease waits for the renewal (12-month commitment).
    pending_quantity = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    # The day of month it renews on (1..31); clamped to the month's last day.
    billing_day = models.PositiveSmallIntegerField()
    # The month of year it renews in, for yearly plans (1..12).
    billing_month = models.PositiveSmallIntegerField()
    current_period_start = models.DateField()
    current_period_end = models.DateField(help_text="Exclusive: the next period starts here.")
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("customer", "organization_name", "id")
        indexes = [
            # The portal's subscriptions overview, one page at a time.
            models.Index(
                fields=["customer", "organization_name", "id"], name="subscription_listing"
            ),
            # The nightly renewals walk the active subscriptions in id order (one pass a
            # night) and keep those whose period has ended. The period columns are in no
            # index, so moving a period rewrites the row on its page (a HOT update, no
            # index entries), in room the table keeps free (migration 0012, fillfactor).
            models.Index(fields=["id"], condition=Q(status="active"), name="subscription_active"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1) & Q(quantity__lte=100000),
                name="subscription_quantity_range",
                violation_error_message="The quantity must be between 1 and 100,000 licences.",
            ),
            models.CheckConstraint(
                condition=Q(pending_quantity__isnull=True)
                | (Q(pending_quantity__gte=1) & Q(pending_quantity__lte=100000)),
                name="subscription_pending_quantity_range",
            ),
            models.CheckConstraint(
                condition=Q(current_period_end__gt=models.F("current_period_start")),
                name="subscription_period_ordered",
                violation_error_message="The period must end after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(billing_day__gte=1) & Q(billing_day__lte=31),
                name="subscription_billing_day_range",
            ),
            models.CheckConstraint(
                condition=Q(billing_month__gte=1) & Q(billing_month__lte=12),
                name="subscription_billing_month_range",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SubscriptionStatus.values), name="subscription_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.organization_name}"

    def clean(self):
        super().clean()
        # Shown in e-mail subjects: no line breaks or control characters (accounts.text).
        text_fields_validate(obj=self, labels={"organization_name": "organization name"})


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    OPEN = "open", "Open"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class InvoiceKind(models.TextChoices):
    RENEWAL = "renewal", "Renewal"
    PRORATION = "proration", "Proration"
    ONE_OFF = "one_off", "One-off"
    # Prepaid cloud balance, paid by bank transfer: once paid, its total goes to the balance.
    TOP_UP = "top_up", "Balance top-up"


class Invoice(models.Model):
    """Drafts have no number. Finalizing numbers and freezes it (services/invoices.py)."""

    # Indexed by invoice_customer_recent, which starts with the customer.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="invoices", db_index=False
    )
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    kind = models.CharField(max_length=10, choices=InvoiceKind.choices, default=InvoiceKind.ONE_OFF)
    # Idempotency: one invoice per key, e.g. "renewal:SUB-ABCD2345:2026-11-01".
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    number = models.CharField(max_length=20, null=True, blank=True, unique=True, editable=False)
    status = models.CharField(
        max_length=10, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    subtotal = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    credit_applied = MoneyField(
        **MONEY,
        currency_choices=CURRENCY_CHOICES,
        help_text="Customer credit used on this invoice (before VAT).",
    )
    vat_rate = models.DecimalField(max_digits=5, decimal_places=2, default=0, help_text="Percent.")
    vat_amount = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    total = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    # What is still owed: total - credit notes applied - payments (services/invoices.py
    # invoice_reduce_due). Zero once paid or void.
    amount_due = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    vat_note = models.CharField(
        max_length=200, blank=True, help_text="Legal mention, e.g. reverse charge."
    )
    # Who was billed, frozen at finalization (later address edits do not rewrite history).
    bill_to = models.JSONField(default=dict, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    issued_on = models.DateField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Set when its e-mail went out (claimed atomically: the e-mail is sent once).
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Automatic collection (services/collection.py): attempts made so far, and the day the
    # next one is due (None: nothing scheduled, e.g. no card or SEPA mandate).
    collection_attempts = models.PositiveSmallIntegerField(default=0)
    next_collection_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-issued_on", "-id")
        indexes = [
            models.Index(fields=["status", "due_on"]),
            models.Index(fields=["status", "next_collection_on"], name="invoice_collection_due"),
            # The portal's billing history, newest first, one page at a time.
            models.Index(fields=["customer", "-issued_on", "-id"], name="invoice_customer_recent"),
            # The staff changelist's default ordering (Meta.ordering).
            models.Index(fields=["-issued_on", "-id"], name="invoice_recent"),
            # The staff search by number prefix (LIKE 'CAJ-2026-00%') uses the index the
            # unique number has (on PostgreSQL Django adds its varchar_pattern_ops twin).
        ]
        constraints = [
            # Never two renewal invoices for one subscription period.
            models.UniqueConstraint(
                fields=["subscription", "period_start"],
                condition=Q(kind="renewal"),
                name="invoice_one_renewal_per_period",
            ),
            # A number exactly when finalized.
            models.CheckConstraint(
                condition=(Q(status=InvoiceStatus.DRAFT) & Q(number__isnull=True))
                | (
                    ~Q(status=InvoiceStatus.DRAFT)
                    & Q(number__isnull=False)
                    & Q(issued_on__isnull=False)
                    & Q(due_on__isnull=False)
                ),
                name="invoice_number_iff_finalized",
            ),
            models.CheckConstraint(
                condition=Q(status__in=InvoiceStatus.values), name="invoice_status_valid"
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_not_negative"),
            models.CheckConstraint(
                condition=Q(amount_due__gte=0) & Q(amount_due__lte=models.F("total")),
                name="invoice_amount_due_within_total",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["paid", "void"]) | Q(amount_due=0),
                name="invoice_settled_owes_nothing",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft #{self.pk}"

    @property
    def is_finalized(self) -> bool:
        return self.status != InvoiceStatus.DRAFT


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=300)
    quantity = models.IntegerField()
    unit_price = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    amount = MoneyField(
        **MONEY, currency_choices=CURRENCY_CHOICES, help_text="Rounded once, half up, to the cent."
    )
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.description


class NumberSequence(models.Model):
    """The last number given per series and year. Locked row = gapless numbering."""

    series = models.CharField(max_length=10)  # "CAJ" invoices, "CN" credit notes
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="number_sequence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_number}"


class CreditKind(models.TextChoices):
    """Where a credit entry comes from. Every positive kind has a paid or staff-granted
    source: credit is never made from money that was not paid."""

    DECREASE = "decrease", "Licences removed"  # the paid part of a monthly decrease
    CREDIT_NOTE = "credit_note", "Credit note"  # the paid part of a credit note
    STAFF_GRANT = "staff_grant", "Granted by staff"  # audited, with a reason
    OVERPAYMENT = "overpayment", "Paid more than was due"  # before VAT, like all credit
    USED = "used", "Used on an invoice"  # negative


class CreditEntry(models.Model):
    """The credit ledger, append-only: Customer.credit_balance is the sum of its rows."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_entries")
    kind = models.CharField(max_length=20, choices=CreditKind.choices)
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="In the customer's currency; negative when used."
    )
    balance_after = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="The credit balance once this entry applied."
    )
    reason = models.CharField(max_length=200)
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries"
    )
    credit_note = models.ForeignKey(
        "CreditNote",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_entries",
    )
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "credit entries"
        indexes = [
            models.Index(fields=["customer", "-id"], name="credit_entry_customer_recent"),
            # The portal's credit history (Meta.ordering), one page at a time.
            models.Index(
                fields=["customer", "-created_at", "-id"], name="credit_entry_customer_time"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="credit_entry_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="credit_entry_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=(Q(kind="used") & Q(amount__lt=0)) | (~Q(kind="used") & Q(amount__gt=0)),
                name="credit_entry_sign_follows_kind",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=["decrease", "credit_note", "staff_grant", "overpayment", "used"]
                ),
                name="credit_entry_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.customer.currency}: {self.reason}"


class CreditNote(models.Model):
    """Corrects a finalized invoice. Own gapless series (e.g. CN-2026-000001).

    `subtotal` is the part of the invoice's subtotal credited, before VAT; `taxable` the
    part of it within the invoice's taxable base (what customer credit had paid carries
    no VAT). Of the note's total, `applied_to_invoice` lowered the invoice's amount due and
    `credited` (before VAT, like all credit) went to the customer's credit balance.
    """

    number = models.CharField(max_length=20, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    reason = models.CharField(max_length=300)
    subtotal = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    taxable = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    vat_amount = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    total = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    applied_to_invoice = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    credited = MoneyField(**MONEY, currency_choices=CURRENCY_CHOICES)
    # Of the note's total, what went back to the payment method (a staff refund) instead
    # of becoming credit.
    refunded = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    issued_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-issued_on", "-id")
        indexes = [
            models.Index(fields=["customer", "-issued_on", "-id"], name="cn_customer_recent")
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total__gt=0), name="credit_note_total_positive"),
            models.CheckConstraint(
                condition=Q(taxable__gte=0) & Q(taxable__lte=models.F("subtotal")),
                name="credit_note_taxable_within_subtotal",
            ),
            models.CheckConstraint(
                condition=Q(applied_to_invoice__gte=0)
                & Q(applied_to_invoice__lte=models.F("total"))
                & Q(credited__gte=0),
                name="credit_note_split_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class InvoiceReminder(models.Model):
    """One row per reminder sent: the unique key makes each stage go out once."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="reminders")
    # Days relative to the due date (0 = on the due date, 3 = three days after).
    stage_days = models.SmallIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "stage_days"], name="invoice_reminder_once_per_stage"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice} reminder at due+{self.stage_days}d"


# Payments live in their own module (one row per attempt, methods, webhook events).
from billing.models.ledger import BalanceEntry, BalanceKind  # noqa: E402
from billing.models.nightly_runs import NightlyRun, NightlyRunKind, NightlyRunStatus  # noqa: E402
from billing.models.payments import (  # noqa: E402
    OFF_SESSION_KINDS,
    Gateway,
    Payment,
    PaymentAllocation,
    PaymentKind,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
    Refund,
    WebhookEvent,
)
from billing.models.sandbox import SandboxKind, SandboxRecord  # noqa: E402

__all__ = [
    "NightlyRun",
    "NightlyRunKind",
    "NightlyRunStatus",
    "OFF_SESSION_KINDS",
    "BalanceEntry",
    "BalanceKind",
    "CreditEntry",
    "CreditKind",
    "CreditNote",
    "Customer",
    "Gateway",
    "Interval",
    "Invoice",
    "InvoiceKind",
    "InvoiceLine",
    "InvoiceReminder",
    "InvoiceStatus",
    "NumberSequence",
    "Payment",
    "PaymentAllocation",
    "PaymentKind",
    "PaymentMethod",
    "PaymentMethodKind",
    "PaymentStatus",
    "Plan",
    "PlanKind",
    "Refund",
    "SandboxKind",
    "SandboxRecord",
    "Subscription",
    "SubscriptionStatus",
    "WebhookEvent",
]
