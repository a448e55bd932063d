"""The prepaid balance: an append-only ledger (BalanceEntry) whose sum is cached on
Customer.balance. Both move together under the customer's row lock
(billing/services/balance.py) and neither can go below zero (database constraints)."""

from django.db import models
from django.db.models import Q

from billing.models import Customer


class BalanceKind(models.TextChoices):
    TOP_UP = "top_up", "Top-up"  # a payment that succeeded (card, or automatic)
    INSTANCE_CHARGE = "instance_charge", "Instance charge"  # negative
    INSTANCE_REFUND = "instance_refund", "Instance refund"  # a cheaper setting, pro rata
    STAFF_ADJUSTMENT = "staff_adjustment", "Adjusted by staff"  # a bank transfer; audited
    # A top-up disputed (negative: what the balance held of it) or the dispute won (positive).
    CHARGEBACK = "chargeback", "Chargeback"


class BalanceEntry(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="balance_entries")
    kind = models.CharField(max_length=20, choices=BalanceKind.choices)
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="EUR; negative when it takes money."
    )
    balance_after = models.DecimalField(max_digits=14, decimal_places=2)
    automatic = models.BooleanField(default=False, help_text="An automatic top-up.")
    instance = models.ForeignKey(
        "fleet.Instance",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="balance_entries",
    )
    payment = models.ForeignKey(
        "billing.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200)
    idempotency_key = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "balance entries"
        indexes = [
            models.Index(fields=["customer", "id"], name="balance_entry_customer"),
            # The portal's balance history (Meta.ordering), one page at a time.
            models.Index(
                fields=["customer", "-created_at", "-id"], name="balance_entry_customer_time"
            ),
            models.Index(fields=["instance", "period_end"], name="balance_entry_instance_period"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="balance_entry_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="balance_entry_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=(Q(kind="instance_charge") & Q(amount__lt=0))
                | (Q(kind__in=["top_up", "instance_refund"]) & Q(amount__gt=0))
                | Q(kind__in=["staff_adjustment", "chargeback"]),
                name="balance_entry_sign_follows_kind",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "top_up",
                        "instance_charge",
                        "instance_refund",
                        "staff_adjustment",
                        "chargeback",
                    ]
                ),
                name="balance_entry_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} EUR: {self.reason}"
