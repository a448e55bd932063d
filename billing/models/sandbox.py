"""The sandbox gateway's own state (billing/gateways/sandbox.py): its checkout and
setup sessions, saved methods, charges, PayPal orders and refunds, one row each.

In the database rather than in memory so the web server (where the stand-in pages run)
and the Celery worker (which charges saved methods) see the same sandbox. Nothing here
is ours: it stands for what Stripe or PayPal would hold on their side.
"""

from django.db import models
from django.db.models import Q


class SandboxKind(models.TextChoices):
    SETUP_SESSION = "setup_session", "Setup session"
    PAYMENT_SESSION = "payment_session", "Payment session"
    METHOD = "method", "Saved method"
    CHARGE = "charge", "Charge"
    ORDER = "order", "PayPal order"
    REFUND = "refund", "Refund"
    # An idempotency key seen before: its payload names the record it made.
    IDEMPOTENCY = "idempotency", "Idempotency key"


class SandboxRecord(models.Model):
    kind = models.CharField(max_length=20, choices=SandboxKind.choices)
    ref = models.CharField(max_length=100, unique=True)  # e.g. sb_pi_…, or idem_<sha256>
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=SandboxKind.values), name="sandbox_record_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"
