"""Payments: the customer's payment methods, one row per payment attempt (separate from
the invoice's status), refunds, and every gateway webhook event stored once.

Amounts are Decimal in the currency of the row (the customer's). Gateway references
(Stripe `pm_…`/`pi_…`, PayPal order ids, sandbox ids) are opaque strings.
"""

from django.db import models
from django.db.models import Q

from billing.gateways.errors import customer_message
from billing.money import CURRENCY_CHOICES

AMOUNT = {"max_digits": 14, "decimal_places": 2}


class Gateway(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    PAYPAL = "paypal", "PayPal"
    SANDBOX = "sandbox", "Sandbox (demo, no money moves)"
    OFFLINE = "offline", "Bank transfer"


class PaymentMethodKind(models.TextChoices):
    CARD = "card", "Card"
    SEPA_DEBIT = "sepa_debit", "SEPA direct debit"
    PAYPAL = "paypal", "PayPal"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"


# The kinds we can charge without the customer (automatic collection, "Pay with ..."):
# card and SEPA debit. PayPal and bank transfers need the customer each time.
OFF_SESSION_KINDS = (PaymentMethodKind.CARD, PaymentMethodKind.SEPA_DEBIT)


class PaymentMethod(models.Model):
    """How a customer pays. Exactly one live method is the default."""

    customer = models.ForeignKey(
        "billing.Customer", on_delete=models.PROTECT, related_name="payment_methods"
    )
    kind = models.CharField(max_length=20, choices=PaymentMethodKind.choices)
    gateway = models.CharField(max_length=10, choices=Gateway.choices)
    gateway_ref = models.CharField(max_length=100, blank=True, help_text="e.g. pm_… at Stripe")
    brand = models.CharField(max_length=20, blank=True)  # visa, mastercard
    last4 = models.CharField(max_length=4, blank=True)  # card or IBAN
    exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    funding = models.CharField(max_length=10, blank=True)  # credit, debit, prepaid
    # SEPA debit: the mandate's reference (Stripe: the Mandate's
    # payment_method_details.sepa_debit.reference), shown to the customer and quoted in
    # each debit's pre-notification (SEPA rulebook).
    mandate_ref = models.CharField(max_length=35, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True, help_text="Kept for the payments.")

    class Meta:
        ordering = ("-is_default", "-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(is_default=True, removed_at__isnull=True),
                name="payment_method_one_default",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=PaymentMethodKind.values), name="payment_method_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(removed_at__isnull=True) | Q(is_default=False),
                name="payment_method_removed_not_default",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == PaymentMethodKind.CARD:
            return f"{self.brand.title()} •••• {self.last4}"
        if self.kind == PaymentMethodKind.SEPA_DEBIT:
            return f"SEPA debit, IBAN •••• {self.last4}"
        return self.get_kind_display()

    @property
    def can_charge_off_session(self) -> bool:
        """Card and SEPA debit can be collected without the customer."""
        return self.kind in OFF_SESSION_KINDS


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # sent; SEPA waits for the bank (days)
    REQUIRES_ACTION = "requires_action", "Needs the customer"  # 3-D Secure, PayPal approval
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REVERSED = "reversed", "Reversed"  # a SEPA chargeback after success


class PaymentKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    TOP_UP = "top_up", "Balance top-up"


class Payment(models.Model):
    """One attempt to collect money. The invoice's status is separate: it becomes paid
    only when a succeeded attempt covers its amount due (services/payments.py)."""

    customer = models.ForeignKey(
        "billing.Customer", on_delete=models.PROTECT, related_name="payments"
    )
    invoice = models.ForeignKey(
        "billing.Invoice",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="payments",
    )
    kind = models.CharField(max_length=10, choices=PaymentKind.choices, default=PaymentKind.INVOICE)
    method = models.ForeignKey(
        PaymentMethod, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    method_kind = models.CharField(max_length=20, choices=PaymentMethodKind.choices)
    gateway = models.CharField(max_length=10, choices=Gateway.choices)
    amount = models.DecimalField(**AMOUNT)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    # The key sent to the gateway: the same attempt retried never charges twice.
    idempotency_key = models.CharField(max_length=100, unique=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    off_session = models.BooleanField(default=False, help_text="Collected without the customer")
    gateway_ref = models.CharField(max_length=100, blank=True, db_index=True)
    # PayPal: the capture's id (gateway_ref is the order's). PayPal's capture webhooks
    # (completed, denied, refunded, reversed) name the capture, not the order.
    gateway_capture_ref = models.CharField(max_length=100, blank=True, db_index=True)
    action_url = models.URLField(max_length=500, blank=True)
    # A saved-method charge: the parameters sent to the gateway the first time (the
    # ChargeRequest, amounts as strings), so any retry under the same idempotency key
    # sends exactly the same request (services/payments.py::payment_charge_request).
    charge_request = models.JSONField(null=True, blank=True, editable=False)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    refunded = models.DecimalField(**AMOUNT, default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["status", "created_at"], name="payment_status_recent")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded__gte=0) & Q(refunded__lte=models.F("amount")),
                name="payment_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="payment_status_valid"
            ),
            models.UniqueConstraint(
                fields=["gateway", "gateway_ref"],
                condition=~Q(gateway_ref=""),
                name="payment_gateway_ref_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} {self.get_status_display().lower()}"

    @property
    def failure_message(self) -> str:
        """Why it failed, in our words for the customer (error_message keeps the gateway's
        own text, for staff and the audit trail)."""
        return customer_message(self.error_code) if self.error_code else ""


class PaymentAllocation(models.Model):
    """The part of one payment that pays one invoice. A payment of several open invoices at
    once ("Pay all", one gateway charge of their sum) has no `invoice` and one allocation
    per invoice; the Payment row stays the one attempt (one charge, one idempotency key,
    one status), separate from each invoice's status. Made with the payment, never
    changed: the amounts are the amounts due the customer saw and confirmed."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(
        "billing.Invoice", on_delete=models.PROTECT, related_name="payment_allocations"
    )
    amount = models.DecimalField(**AMOUNT)

    class Meta:
        ordering = ("invoice_id",)
        constraints = [
            models.UniqueConstraint(fields=["payment", "invoice"], name="allocation_once"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} of payment {self.payment_id} to invoice {self.invoice_id}"


class Refund(models.Model):
    """Money given back on a succeeded payment, to its method or as customer credit."""

    TO_METHOD = "method"
    TO_CREDIT = "credit"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**AMOUNT)
    destination = models.CharField(
        max_length=10,
        choices=[(TO_METHOD, "Back to the payment method"), (TO_CREDIT, "Customer credit")],
    )
    gateway_ref = models.CharField(max_length=100, blank=True)
    credit_note = models.ForeignKey(
        "billing.CreditNote", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=200)
    idempotency_key = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount} of payment {self.payment_id}"


class WebhookEvent(models.Model):
    """Every gateway event, stored once by its id: a replay changes nothing twice."""

    provider = models.CharField(max_length=10, choices=Gateway.choices)
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("-received_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"
