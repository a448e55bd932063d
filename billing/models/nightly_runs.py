"""One row per nightly run (renewals, instance billing) and day: when it started, what it
queued and did, whether it completed, and whether staff were alerted about it
(billing/services/nightly_runs.py writes it; the watchdog and the health page read it)."""

from django.db import models
from django.db.models import Q


class NightlyRunKind(models.TextChoices):
    RENEWALS = "renewals", "Renewals (billing.tasks.nightly_billing)"
    INSTANCES = "instances", "Instance billing (billing.tasks.nightly_instance_billing)"


class NightlyRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETE = "complete", "Complete"
    # Work still missing past NIGHTLY_RUN_ALERT_MINUTES: the watchdog queues it again.
    INCOMPLETE = "incomplete", "Incomplete"


class NightlyRun(models.Model):
    kind = models.CharField(max_length=20, choices=NightlyRunKind.choices)
    day = models.DateField()  # the run's day (UTC); it starts at 00:00 UTC
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=20, choices=NightlyRunStatus.choices, default=NightlyRunStatus.RUNNING
    )
    # What the fan-out queued (chunks) and the finish step found; plain JSON numbers.
    counts = models.JSONField(default=dict, blank=True)
    requeued_at = models.DateTimeField(null=True, blank=True)  # the watchdog's last requeue
    requeues = models.PositiveIntegerField(default=0)
    alerted_at = models.DateTimeField(null=True, blank=True)  # staff e-mailed (once)

    class Meta:
        ordering = ("-day", "kind")
        constraints = [
            models.UniqueConstraint(fields=("kind", "day"), name="nightly_run_one_per_kind_day"),
            models.CheckConstraint(
                condition=Q(kind__in=NightlyRunKind.values), name="nightly_run_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=NightlyRunStatus.values), name="nightly_run_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.day:%Y-%m-%d} ({self.status})"

    @property
    def duration(self):
        return self.finished_at - self.started_at if self.finished_at else None
