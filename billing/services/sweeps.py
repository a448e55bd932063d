"""Sweeps: nothing committed is forgotten.

Work that must happen once after a commit is queued with `transaction.on_commit`. A worker
killed between the commit and the queueing, or a broker that loses its queue (Redis
restarted without persistence), leaves that work undone and nothing would ever notice.
A beat task (billing.tasks.sweep_unfinished_work, every few minutes) runs the sweeps below:
each finds, from what the database recorded, the duties still undone for longer than
BILLING_SWEEP_GRACE_MINUTES (so the on-commit task normally wins), does at most
BILLING_SWEEP_BATCH_SIZE of them per run, and can run any number of times: the claim each
duty already takes makes it happen once, whoever gets there first.

Swept:
- invoice e-mails (`invoice_emails_sweep`): a renewal or proration invoice (renewals,
  resume, Edit Subscription) finalized but never e-mailed (Invoice.emailed_at is NULL).
  The conditional UPDATE in notifications.invoice_email_claim lets one sender through.
- automatic collection never started (`collections_sweep`): an open renewal or proration
  invoice scheduled for collection (next_collection_on set by collection_schedule in the
  issuing transaction) with no attempt made and no payment at all. collection_attempt
  claims the attempt (collection_attempts) so a second task given it does nothing.
- payments with no answer (billing.tasks.refresh_pending_payments, every 10 minutes):
  PENDING attempts, with or without a gateway id (a timeout: the same idempotency key is
  sent again), are asked of the gateway until they end. An abandoned REQUIRES_ACTION
  attempt (3-D Secure never completed, a hosted page closed) needs no sweep: it blocks
  nothing (only a PENDING payment refuses a new one), the customer was e-mailed the
  link, and the overdue rules and reminders follow the unpaid invoice; one completed
  without the customer coming back is reported by the gateway's webhook, which the
  gateways retry for days.

Not swept, and why:
- reminders: the nightly run sends every stage still missing (services/reminders.py), so
  a night that failed is caught up the next one.
- renewals and the nightly instance billing: re-running them is already safe (one invoice
  per period, one charge per instance and day) and the next night catches up.
- credit note e-mails, receipts (payment received), payment failed / action required,
  subscription e-mails: sent on commit by the process that made the change, without a
  broker in between (a web request, a webhook, the collection task), so a lost queue
  cannot drop them; only a process killed in the instant between its commit and its send
  can, and nothing records such an e-mail as sent (it would need an outbox table).
- the instance notices queued on commit by bill_instances_chunk (instances disabled, low
  balance): their content is only in the queued message, with no "sent" mark to sweep;
  the portal shows disabled instances and the balance forecast, and the low-balance
  warning is sent again at the next threshold. Broker persistence (docs/DEPLOY.md) is what
  keeps them.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from billing.models import (
    OFF_SESSION_KINDS,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethod,
)
from billing.notifications import invoices_email_issued
from billing.services.collection import collection_start

# Invoices whose issuing path e-mails them and starts their collection. Top-up invoices
# (staff, bank transfer) and one-off invoices are neither e-mailed nor collected by it.
SWEPT_KINDS = (InvoiceKind.RENEWAL, InvoiceKind.PRORATION)
# Older than this, an undone duty is left alone: a deploy must not e-mail or charge years
# of history (invoices from before emailed_at existed have none). Days.
SWEEP_LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class SweepResult:
    emailed: int
    collections_started: int


def _window() -> tuple:
    """(oldest, newest) creation times a sweep looks at."""
    now = timezone.now()
    return (
        now - timedelta(days=SWEEP_LOOKBACK_DAYS),
        now - timedelta(minutes=settings.BILLING_SWEEP_GRACE_MINUTES),
    )


def invoice_emails_unsent():
    """Ids of renewal and proration invoices finalized (not void) more than the grace
    period ago and never e-mailed, oldest first, one batch."""
    oldest, newest = _window()
    return (
        Invoice.objects.filter(
            kind__in=SWEPT_KINDS,
            status__in=(InvoiceStatus.OPEN, InvoiceStatus.PAID),
            emailed_at__isnull=True,
            created_at__gte=oldest,
            created_at__lte=newest,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[: settings.BILLING_SWEEP_BATCH_SIZE]
    )


def invoice_emails_sweep() -> int:
    """E-mails the invoices a crash or a lost task left un-e-mailed; returns how many
    went out. Each is claimed first (Invoice.emailed_at), so the on-commit task and this
    sweep racing for one invoice send it once."""
    return invoices_email_issued(invoice_ids=list(invoice_emails_unsent()))


def collections_never_started():
    """Ids of open renewal and proration invoices scheduled for automatic collection more
    than the grace period ago, with no attempt and no payment at all, whose customer
    still has a chargeable default method (card, SEPA mandate). One batch.

    next_collection_on is set in the issuing transaction when the customer could be
    charged then; an invoice without it was issued to a customer with no such method,
    and is not charged later without them."""
    oldest, newest = _window()
    chargeable = PaymentMethod.objects.filter(
        is_default=True, removed_at__isnull=True, kind__in=OFF_SESSION_KINDS
    ).values("customer_id")
    return (
        Invoice.objects.filter(
            kind__in=SWEPT_KINDS,
            status=InvoiceStatus.OPEN,
            amount_due__gt=0,
            collection_attempts=0,
            next_collection_on__isnull=False,
            created_at__gte=oldest,
            created_at__lte=newest,
            customer_id__in=chargeable,
        )
        .exclude(Exists(Payment.objects.filter(invoice=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)[: settings.BILLING_SWEEP_BATCH_SIZE]
    )


def collections_sweep() -> int:
    """Queues (on commit) the first collection attempt of the invoices whose attempt was
    never made; returns how many. An attempt is claimed before it charges, so one queued
    twice (by the issuer and the sweep, or two sweeps) charges once."""
    ids = list(collections_never_started())
    if ids:
        with transaction.atomic():
            collection_start(invoice_ids=ids, today=timezone.now().date())
    return len(ids)


def sweeps_run() -> SweepResult:
    """Every sweep once (the beat task). Collections first: an e-mail that cannot be
    rendered must not hold back the money."""
    started = collections_sweep()
    return SweepResult(emailed=invoice_emails_sweep(), collections_started=started)
