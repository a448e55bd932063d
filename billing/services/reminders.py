"""Reminder e-mails for unpaid invoices, on the schedule in settings.BILLING_REMINDER_DAYS
(days relative to the due date, e.g. [0, 3, 7]). Each stage goes out once: an
InvoiceReminder row, unique per (invoice, stage), is written in the same transaction that
queues the e-mail (sent on commit).

If the nightly job missed days, an invoice that has passed several stages gets one e-mail,
for the latest stage, and the stages it skipped are recorded as covered by it: a customer
never receives three reminders at once.
"""

from datetime import date, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from billing.models import Invoice, InvoiceReminder, InvoiceStatus
from billing.notifications import notify_invoice_reminder


def reminder_stages() -> list[int]:
    return sorted(set(settings.BILLING_REMINDER_DAYS))


def reminders_send(*, today: date | None = None, actor: Actor = "nightly-billing") -> int:
    """Sends the reminders due today; returns how many e-mails were queued."""
    today = today or timezone.now().date()
    stages = reminder_stages()
    if not stages:
        return 0
    candidates = (
        Invoice.objects.filter(status=InvoiceStatus.OPEN, due_on__lte=today - timedelta(stages[0]))
        .select_related("customer__contact", "subscription")
        .order_by("due_on", "pk")
    )
    sent = 0
    for invoice in candidates.iterator(chunk_size=500):
        if reminder_send_for_invoice(invoice=invoice, today=today, stages=stages, actor=actor):
            sent += 1
    return sent


def reminder_send_for_invoice(
    *, invoice: Invoice, today: date, stages: list[int], actor: Actor
) -> bool:
    reached = [s for s in stages if invoice.due_on + timedelta(days=s) <= today]
    with transaction.atomic():
        done = set(invoice.reminders.values_list("stage_days", flat=True))
        missing = [s for s in reached if s not in done]
        if not missing:
            return False
        try:
            with transaction.atomic():
                InvoiceReminder.objects.bulk_create(
                    [InvoiceReminder(invoice=invoice, stage_days=s) for s in missing]
                )
        except IntegrityError:
            return False  # another run sent it first
        notify_invoice_reminder(invoice=invoice, today=today, stage_days=missing[-1])
        audit_record(
            actor=actor,
            action="invoice.reminder",
            target=invoice,
            after={"stages": missing, "to": invoice.customer.email},
        )
    return True
