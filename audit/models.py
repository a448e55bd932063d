"""One append-only trail for every state change: who, what, when, before, after."""

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept even when the user is gone, and says "system" for scheduled jobs.
    actor_label = models.CharField(max_length=254)
    action = models.CharField(max_length=80)
    # A label and id rather than a foreign key: the trail outlives what it describes
    # (a cancelled organization is erased, its audit entries are not).
    target_type = models.CharField(max_length=80)
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=200)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "audit entries"
        # Every index slows the nightly jobs' inserts (tens of thousands of rows): only
        # what is read. A target's trail: (target_type, target_id), which also serves a
        # target_type alone; the staff filter by action: "audit_action" (no LIKE twin: the
        # admin search is icontains, which no btree serves); created_at (date hierarchy,
        # ordering); actor (the foreign key).
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["action"], name="audit_action"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_repr}"
        )
