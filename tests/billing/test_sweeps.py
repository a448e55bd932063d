"""Sweeps (billing/services/sweeps.py): a renewal run killed right after a chunk committed
left its invoices un-e-mailed and their collection unqueued (the on-commit callbacks never
ran: in these tests they do not run unless captured). The sweep does each once, leaves
recent invoices to the on-commit task, and touches nothing it must not."""

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from billing import tasks
from billing.models import Invoice, InvoiceStatus, Payment, PaymentMethodKind, PaymentStatus
from billing.services.renewals import renewals_renew_chunk
from billing.services.sweeps import sweeps_run
from tests.billing.payment_helpers import saved_method
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

DEC_1 = date(2026, 12, 1)
RUN = "2026-12-01 00:00:05+00:00"  # the nightly run
INTENTS = "/v1/payment_intents"


@pytest.fixture(autouse=True)
def _sweep_settings(settings):
    settings.BILLING_SWEEP_GRACE_MINUTES = 10
    settings.BILLING_SWEEP_BATCH_SIZE = 500
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000"


def _killed_after_commit(*, card: bool = False) -> Invoice:
    """One renewal committed; its e-mail and collection tasks were never queued."""
    subscription = SubscriptionFactory()  # 1 Nov - 1 Dec, 10 x 4.00 EUR: 48.00 EUR with VAT
    if card:
        saved_method(subscription.customer)
    with time_machine.travel(RUN, tick=False):
        assert renewals_renew_chunk(subscription_ids=[subscription.pk], today=DEC_1).invoices == 1
    mail.outbox.clear()
    return Invoice.objects.get()


def _sweep(capture, *, minutes_after_run: int):
    """The beat task at RUN + minutes, its on-commit callbacks (e-mails, tasks) run."""
    at = datetime.fromisoformat(RUN) + timedelta(minutes=minutes_after_run)
    with time_machine.travel(at, tick=False), capture(execute=True):
        return sweeps_run()


def _invoice_mails(invoice):
    return [m for m in mail.outbox if f"invoice {invoice.number} issued" in m.subject]


# ---- invoice e-mails ---------------------------------------------------------------------


def test_an_invoice_a_crash_left_unemailed_is_emailed_exactly_once(
    django_capture_on_commit_callbacks,
):
    invoice = _killed_after_commit()
    assert invoice.emailed_at is None

    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).emailed == 1
    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=16).emailed == 0

    (sent,) = _invoice_mails(invoice)
    assert sent.to == [invoice.customer.email]
    assert [name for name, _, _ in sent.attachments] == [f"{invoice.number}.pdf"]
    assert len(mail.outbox) == 1
    invoice.refresh_from_db()
    assert invoice.emailed_at is not None


def test_a_recent_invoice_is_left_to_the_on_commit_task(django_capture_on_commit_callbacks):
    invoice = _killed_after_commit()

    result = _sweep(django_capture_on_commit_callbacks, minutes_after_run=5)

    assert result.emailed == 0
    assert mail.outbox == []
    invoice.refresh_from_db()
    assert invoice.emailed_at is None


@pytest.mark.parametrize("task_first", [True, False], ids=["task-then-sweep", "sweep-then-task"])
def test_the_task_and_the_sweep_together_email_once(django_capture_on_commit_callbacks, task_first):
    invoice = _killed_after_commit()
    late = datetime.fromisoformat(RUN) + timedelta(minutes=11)

    def task():
        with (
            time_machine.travel(late, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return tasks.email_issued_invoices(invoice_ids=[invoice.pk])["emailed"]

    def sweep():
        return _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).emailed

    first, second = (task, sweep) if task_first else (sweep, task)
    assert (first(), second()) == (1, 0)
    assert len(_invoice_mails(invoice)) == 1
    assert len(mail.outbox) == 1


def test_invoices_older_than_the_lookback_and_void_ones_are_not_emailed(
    django_capture_on_commit_callbacks,
):
    invoice = _killed_after_commit()
    # A week and more later (history from before emailed_at existed is never e-mailed).
    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=8 * 24 * 60).emailed == 0
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.VOID, amount_due=0)
    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).emailed == 0
    assert mail.outbox == []


def test_a_sweep_emails_at_most_a_batch_per_run(settings, django_capture_on_commit_callbacks):
    settings.BILLING_SWEEP_BATCH_SIZE = 2
    subscriptions = [SubscriptionFactory() for _ in range(3)]
    with time_machine.travel(RUN, tick=False):
        renewals_renew_chunk(subscription_ids=[s.pk for s in subscriptions], today=DEC_1)

    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).emailed == 2
    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=16).emailed == 1
    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=21).emailed == 0
    assert len(mail.outbox) == 3
    assert not Invoice.objects.filter(emailed_at__isnull=True).exists()


# ---- collection never started ------------------------------------------------------------


def test_a_collection_never_started_is_started_once(
    fake_stripe, django_capture_on_commit_callbacks
):
    invoice = _killed_after_commit(card=True)
    assert (invoice.next_collection_on, invoice.collection_attempts) == (DEC_1, 0)

    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=5).collections_started == 0
    assert fake_stripe.requests_to("POST", INTENTS) == []

    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).collections_started == 1
    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=16).collections_started == 0

    (sent,) = fake_stripe.requests_to("POST", INTENTS)
    assert sent.idempotency_key == f"test:invoice-{invoice.pk}-collect-1"
    assert sent.params["amount"] == "4800"  # 48.00 EUR in cents
    invoice.refresh_from_db()
    assert (invoice.status, invoice.collection_attempts) == (InvoiceStatus.PAID, 1)
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED


def test_two_sweeps_before_the_task_runs_charge_once(
    fake_stripe, django_capture_on_commit_callbacks
):
    invoice = _killed_after_commit(card=True)
    late = datetime.fromisoformat(RUN) + timedelta(minutes=11)
    with time_machine.travel(late, tick=False):
        with django_capture_on_commit_callbacks() as queued:
            sweeps_run()
            sweeps_run()
        with django_capture_on_commit_callbacks(execute=True):
            for callback in queued:
                callback()

    assert len(fake_stripe.requests_to("POST", INTENTS)) == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.collection_attempts) == (InvoiceStatus.PAID, 1)
    assert Payment.objects.count() == 1


def _nothing_charged(fake_stripe, invoice, *, payments: int = 0, status=InvoiceStatus.OPEN):
    assert fake_stripe.requests_to("POST", INTENTS) == []
    assert Payment.objects.count() == payments
    invoice.refresh_from_db()
    assert invoice.status == status
    assert not [m for m in mail.outbox if "payment" in m.subject]


def test_an_invoice_with_an_attempt_already_is_not_collected_again(
    fake_stripe, django_capture_on_commit_callbacks
):
    invoice = _killed_after_commit(card=True)
    Invoice.objects.filter(pk=invoice.pk).update(collection_attempts=1)

    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).collections_started == 0
    _nothing_charged(fake_stripe, invoice)


def test_an_invoice_the_customer_is_paying_is_not_collected(
    fake_stripe, django_capture_on_commit_callbacks
):
    invoice = _killed_after_commit(card=True)
    Payment.objects.create(
        customer=invoice.customer,
        invoice=invoice,
        method_kind=PaymentMethodKind.CARD,
        gateway="stripe",
        amount=invoice.amount_due.amount,
        currency=invoice.currency,
        status=PaymentStatus.REQUIRES_ACTION,  # on the hosted page now
        idempotency_key=f"invoice-{invoice.pk}-pay-1",
    )

    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).collections_started == 0
    _nothing_charged(fake_stripe, invoice, payments=1)


def test_a_paid_invoice_is_not_collected(fake_stripe, django_capture_on_commit_callbacks):
    invoice = _killed_after_commit(card=True)
    Invoice.objects.filter(pk=invoice.pk).update(
        status=InvoiceStatus.PAID, amount_due=0, paid_at=timezone.now()
    )

    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).collections_started == 0
    _nothing_charged(fake_stripe, invoice, status=InvoiceStatus.PAID)


def test_no_chargeable_method_no_collection(fake_stripe, django_capture_on_commit_callbacks):
    invoice = _killed_after_commit(card=True)
    invoice.customer.payment_methods.update(removed_at=timezone.now(), is_default=False)

    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).collections_started == 0
    _nothing_charged(fake_stripe, invoice)


def test_an_invoice_issued_without_a_card_is_not_charged_once_one_is_added(
    fake_stripe, django_capture_on_commit_callbacks
):
    invoice = _killed_after_commit(card=False)  # no method at issue: nothing scheduled
    assert invoice.next_collection_on is None
    saved_method(invoice.customer)

    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).collections_started == 0
    _nothing_charged(fake_stripe, invoice)


def test_the_sweep_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-unfinished-work"]
    assert entry["task"] == "billing.tasks.sweep_unfinished_work"
    assert entry["schedule"] <= 600  # seconds: every few minutes


def test_an_abandoned_3d_secure_attempt_blocks_nothing_and_is_not_swept(
    fake_stripe, django_capture_on_commit_callbacks
):
    """Why REQUIRES_ACTION needs no sweep: the customer can still pay, and nothing is
    charged again behind their back."""
    from billing.services.payments import invoice_pay_refusal

    invoice = _killed_after_commit(card=True)
    Invoice.objects.filter(pk=invoice.pk).update(collection_attempts=1, next_collection_on=None)
    Payment.objects.create(
        customer=invoice.customer,
        invoice=invoice,
        method_kind=PaymentMethodKind.CARD,
        gateway="stripe",
        amount=invoice.amount_due.amount,
        currency=invoice.currency,
        status=PaymentStatus.REQUIRES_ACTION,
        off_session=True,
        gateway_ref="pi_abandoned",
        idempotency_key=f"test:invoice-{invoice.pk}-collect-1",
    )

    result = _sweep(django_capture_on_commit_callbacks, minutes_after_run=24 * 60)
    with django_capture_on_commit_callbacks(execute=True):
        refreshed = tasks.refresh_pending_payments()

    assert (result.collections_started, refreshed) == (0, 0)
    _nothing_charged(fake_stripe, invoice, payments=1)
    invoice.refresh_from_db()
    assert invoice_pay_refusal(invoice=invoice) is None  # the customer may pay it now


class MailServerDown:
    """An e-mail backend whose server refuses every message (SMTP down)."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("the mail server is down")


def test_an_invoice_e_mail_the_server_refused_is_sent_by_a_later_sweep(
    settings, django_capture_on_commit_callbacks
):
    """The e-mail failed after its claim committed: the claim is given back, so the next
    sweep sends it once the server is back, and only once."""
    invoice = _killed_after_commit()
    settings.EMAIL_BACKEND = f"{__name__}.MailServerDown"
    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=11).emailed == 1
    invoice.refresh_from_db()
    assert invoice.emailed_at is None  # released: nothing was sent
    assert _invoice_mails(invoice) == []

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=16).emailed == 1
    assert _sweep(django_capture_on_commit_callbacks, minutes_after_run=21).emailed == 0
    invoice.refresh_from_db()
    assert invoice.emailed_at is not None
    assert len(_invoice_mails(invoice)) == 1
