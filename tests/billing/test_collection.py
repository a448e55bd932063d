"""Automatic collection through the real Stripe SDK against the fake Stripe on 127.0.0.1:
the first attempt queued on commit, declines and their retries, 3-D Secure, SEPA settled
and returned by webhook, a timeout after the charge repaired without a second charge."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse

from audit.models import AuditEntry
from billing.gateways import interface as gw
from billing.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.services import webhooks_stripe as webhooks
from billing.services.collection import (
    collection_attempt,
    collection_start,
    payment_refresh_pending,
)
from tests.billing.payment_helpers import (
    ISSUED,
    intent_object,
    open_invoice,
    post_stripe,
    saved_method,
    stripe_event,
)

pytestmark = pytest.mark.django_db

INTENTS = "/v1/payment_intents"


def _pay_url(invoice):
    return "http://127.0.0.1:8000" + reverse("portal:invoice_detail", args=[invoice.number])


@pytest.fixture(autouse=True)
def _portal_base_url(settings):
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000"
    settings.BILLING_COLLECTION_RETRY_DAYS = [1, 3, 5, 7]


def _start(invoice, capture):
    """What an issuing service does: collection_start inside its transaction; the task
    (eager in tests) runs when it commits."""
    with capture(execute=True), transaction.atomic():
        collection_start(invoice_ids=[invoice.pk], today=invoice.issued_on)
    invoice.refresh_from_db()
    return invoice


def _charged(fake_stripe):
    return fake_stripe.requests_to("POST", INTENTS)


def test_a_default_card_is_charged_once_and_the_invoice_is_paid(
    fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    saved_method(invoice.customer, "pm_card_visa")
    mail.outbox.clear()

    invoice = _start(invoice, django_capture_on_commit_callbacks)

    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_due.amount == 0
    (sent,) = _charged(fake_stripe)
    assert sent.idempotency_key == f"test:invoice-{invoice.pk}-collect-1"
    assert sent.params["amount"] == "4800"  # 48.00 EUR, in cents, exactly
    assert sent.params["currency"] == "eur"
    assert sent.params["off_session"] == "true"
    assert sent.params["payment_method"] == "pm_card_visa"
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount == Decimal("48.00")
    assert payment.gateway_ref == fake_stripe.charges[0]["id"]
    receipts = [m for m in mail.outbox if "payment received" in m.subject]
    assert len(receipts) == 1
    assert receipts[0].to == [invoice.customer.email]
    assert invoice.next_collection_on is None


def test_an_amount_with_cents_is_sent_exactly(fake_stripe, django_capture_on_commit_callbacks):
    invoice = open_invoice(unit_price=Decimal("3.33"), quantity=7)  # 23.31 + 4.66 VAT
    saved_method(invoice.customer)
    invoice = _start(invoice, django_capture_on_commit_callbacks)
    assert _charged(fake_stripe)[0].params["amount"] == str(int(invoice.total.amount * 100))
    assert invoice.total.amount == Decimal("27.97")
    assert invoice.status == InvoiceStatus.PAID


def test_a_decline_emails_a_link_and_retries_on_the_configured_days_then_stops(
    fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    saved_method(invoice.customer, "pm_card_chargeDeclined")
    mail.outbox.clear()

    invoice = _start(invoice, django_capture_on_commit_callbacks)

    payment = Payment.objects.get()
    assert (payment.status, payment.error_code) == (PaymentStatus.FAILED, "card_declined")
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_due.amount == Decimal("48.00")
    assert invoice.next_collection_on == ISSUED + timedelta(days=1)
    (failed,) = mail.outbox
    assert "payment of invoice" in failed.subject and "failed" in failed.subject
    assert _pay_url(invoice) in failed.body

    expected = [3, 5, 7, None]
    for attempt, next_days in enumerate(expected, start=2):
        day = invoice.next_collection_on
        with django_capture_on_commit_callbacks(execute=True):
            payment = collection_attempt(invoice_id=invoice.pk, today=day)
        assert payment.status == PaymentStatus.FAILED
        assert payment.idempotency_key == f"test:invoice-{invoice.pk}-collect-{attempt}"
        invoice.refresh_from_db()
        assert invoice.next_collection_on == (
            ISSUED + timedelta(days=next_days) if next_days else None
        )
    assert invoice.collection_attempts == 5
    assert len(_charged(fake_stripe)) == 5
    assert len(mail.outbox) == 5
    assert invoice.status == InvoiceStatus.OPEN
    # Done: nothing more is tried, even when asked.
    assert collection_attempt(invoice_id=invoice.pk, today=ISSUED + timedelta(days=30)) is None
    assert len(_charged(fake_stripe)) == 5


def test_an_attempt_before_its_day_does_nothing(fake_stripe, django_capture_on_commit_callbacks):
    invoice = open_invoice()
    saved_method(invoice.customer, "pm_card_chargeDeclined")
    invoice = _start(invoice, django_capture_on_commit_callbacks)
    assert collection_attempt(invoice_id=invoice.pk, today=ISSUED) is None
    assert len(_charged(fake_stripe)) == 1


def test_insufficient_funds_fails_with_its_code(fake_stripe, django_capture_on_commit_callbacks):
    invoice = open_invoice()
    saved_method(invoice.customer, "pm_card_chargeDeclinedInsufficientFunds")
    mail.outbox.clear()
    invoice = _start(invoice, django_capture_on_commit_callbacks)
    payment = Payment.objects.get()
    assert (payment.status, payment.error_code) == (PaymentStatus.FAILED, "insufficient_funds")
    assert invoice.next_collection_on == ISSUED + timedelta(days=1)
    assert len(mail.outbox) == 1 and _pay_url(invoice) in mail.outbox[0].body


def test_authentication_required_emails_the_confirm_link(
    fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    saved_method(invoice.customer, "pm_card_authenticationRequired")
    mail.outbox.clear()
    invoice = _start(invoice, django_capture_on_commit_callbacks)
    payment = Payment.objects.get()
    assert payment.error_code == "authentication_required"
    assert invoice.status == InvoiceStatus.OPEN
    (confirm,) = mail.outbox
    assert "confirm the payment of invoice" in confirm.subject
    assert _pay_url(invoice) in confirm.body


def test_sepa_stays_pending_then_a_signed_webhook_pays_and_a_late_failure_reopens(
    fake_stripe, client, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    saved_method(invoice.customer, "pm_sepa_debit")
    invoice = _start(invoice, django_capture_on_commit_callbacks)

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PENDING
    assert payment.gateway_ref.startswith("pi_")
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.next_collection_on is None

    with django_capture_on_commit_callbacks(execute=True):
        response = post_stripe(
            client,
            stripe_event("payment_intent.succeeded", intent_object(payment, status="succeeded")),
        )
    assert response.status_code == 200, response.content
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert invoice.status == InvoiceStatus.PAID

    failed = intent_object(
        payment,
        status="requires_payment_method",
        last_payment_error={"code": "sepa_debit_failed", "message": "Insufficient funds."},
    )
    response = post_stripe(client, stripe_event("payment_intent.payment_failed", failed))
    assert response.status_code == 200
    assert response.content == f"payment {payment.pk}: reversed".encode()
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.status == PaymentStatus.REVERSED
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_due.amount == Decimal("48.00")
    assert invoice.paid_at is None
    reopened = AuditEntry.objects.get(action="invoice.reopened")
    assert reopened.after["status"] == "open"
    assert AuditEntry.objects.filter(action="payment.reversed").count() == 1


def test_a_timeout_after_the_charge_stays_pending_and_the_refresh_never_charges_twice(
    fake_stripe, settings, django_capture_on_commit_callbacks
):
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.5
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    invoice = open_invoice()
    saved_method(invoice.customer)
    fake_stripe.slow_next(1, seconds=3)  # charged, then answers after the client gave up

    invoice = _start(invoice, django_capture_on_commit_callbacks)

    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PENDING
    assert payment.error_code == "gateway_unavailable"
    assert payment.gateway_ref == ""
    assert invoice.status == InvoiceStatus.OPEN
    assert len(fake_stripe.charges) == 1

    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_refresh_pending(payment_id=payment.pk)

    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.gateway_ref == fake_stripe.charges[0]["id"]
    keys = {r.idempotency_key for r in _charged(fake_stripe)}
    assert keys == {f"test:invoice-{invoice.pk}-collect-1"}
    assert len(fake_stripe.charges) == 1  # ONE charge: the retry was answered by the first
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    # Refreshing again changes nothing and sends nothing.
    payment_refresh_pending(payment_id=payment.pk)
    assert len(_charged(fake_stripe)) == 2


def test_renewals_queue_the_collection_on_commit(fake_stripe, django_capture_on_commit_callbacks):
    from billing.services.renewals import renewals_renew_chunk
    from tests.factories import SubscriptionFactory

    subscription = SubscriptionFactory()  # 1 Nov - 1 Dec, 10 x 4.00 EUR
    saved_method(subscription.customer)
    today = subscription.current_period_end
    with django_capture_on_commit_callbacks(execute=True):
        result = renewals_renew_chunk(subscription_ids=[subscription.pk], today=today)
    assert result.invoices == 1
    invoice = Invoice.objects.get()
    assert invoice.status == InvoiceStatus.PAID
    (sent,) = _charged(fake_stripe)
    assert sent.idempotency_key == f"test:invoice-{invoice.pk}-collect-1"
    assert sent.params["amount"] == "4800"
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED


def test_a_sepa_debit_refused_days_later_emails_a_link_and_schedules_the_retry(
    fake_stripe, client, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    saved_method(invoice.customer, "pm_sepa_debit")
    invoice = _start(invoice, django_capture_on_commit_callbacks)
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PENDING
    mail.outbox.clear()

    failed = intent_object(
        payment,
        status="requires_payment_method",
        last_payment_error={"code": "sepa_debit_failed", "message": "Account closed."},
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = post_stripe(client, stripe_event("payment_intent.payment_failed", failed))
    assert response.status_code == 200
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.next_collection_on == invoice.issued_on + timedelta(days=1)
    (email,) = mail.outbox
    assert f"payment of invoice {invoice.number} failed" in email.subject
    assert _pay_url(invoice) in email.body


def test_a_failure_reported_twice_at_once_emails_once(
    fake_stripe, django_capture_on_commit_callbacks
):
    """The bank's refusal arrives by webhook while the pending poll asks the gateway: both
    read the attempt as pending before either takes its lock. The one that records the
    failure sends the e-mail and schedules the retry; the other changes nothing."""
    invoice = open_invoice()
    saved_method(invoice.customer, "pm_sepa_debit")
    _start(invoice, django_capture_on_commit_callbacks)
    read_by_both = Payment.objects.get()
    assert read_by_both.status == PaymentStatus.PENDING
    failed = gw.ChargeResult(
        status=gw.FAILED,
        gateway_ref=read_by_both.gateway_ref,
        amount=read_by_both.amount,
        currency=read_by_both.currency,
        error_code="sepa_debit_failed",
        error_message="Account closed.",
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        webhooks._record(payment=read_by_both, result=failed)
        webhooks._record(payment=read_by_both, result=failed)  # the second, stale
    assert Payment.objects.get().status == PaymentStatus.FAILED
    (email,) = mail.outbox
    assert "failed" in email.subject
    assert AuditEntry.objects.filter(action="payment.record", after__status="failed").count() == 1
