"""Gateway webhooks over real HTTP (the Django test client posting raw bodies): Stripe
events signed exactly as Stripe signs them, PayPal events verified by the fake PayPal.
Stored once by id, replays and late events change nothing, forgeries store nothing."""

import json
import time
from decimal import Decimal

import pytest

from audit.models import AuditEntry
from billing.models import InvoiceStatus, Payment, PaymentStatus, WebhookEvent
from billing.services.payments import payment_charge_method
from billing.services.paypal_payments import payment_paypal_start
from tests.billing.payment_helpers import (
    intent_object,
    open_invoice,
    post_stripe,
    saved_method,
    stripe_event,
    stripe_sign,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sepa_payment(fake_stripe):
    """A SEPA debit sent to the fake Stripe: pending until the bank answers."""
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_sepa_debit")
    payment = payment_charge_method(invoice=invoice, method=method, actor="test", off_session=True)
    assert payment.status == PaymentStatus.PENDING
    return payment


def _records(payment):
    return AuditEntry.objects.filter(action="payment.record", target_id=str(payment.pk)).count()


def test_a_replayed_event_answers_duplicate_and_changes_nothing(client, sepa_payment):
    payment = sepa_payment
    body = stripe_event(
        "payment_intent.succeeded",
        intent_object(payment, status="succeeded"),
        event_id="evt_replayed",
    )
    records_before = _records(payment)

    first = post_stripe(client, body)
    assert first.status_code == 200
    assert first.content == f"payment {payment.pk}: succeeded".encode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.invoice.status == InvoiceStatus.PAID
    succeeded_at = payment.succeeded_at

    second = post_stripe(client, body)  # Stripe retries: same id, signed again
    assert second.status_code == 200
    assert second.content == b"duplicate"
    assert WebhookEvent.objects.count() == 1
    assert _records(payment) == records_before + 1
    payment.refresh_from_db()
    assert payment.succeeded_at == succeeded_at
    assert AuditEntry.objects.filter(action="invoice.paid").count() == 1


def test_an_event_arriving_after_a_later_one_changes_nothing(client, sepa_payment):
    payment = sepa_payment
    succeeded = stripe_event("payment_intent.succeeded", intent_object(payment, status="succeeded"))
    processing = stripe_event(
        "payment_intent.processing", intent_object(payment, status="processing")
    )
    assert post_stripe(client, succeeded).status_code == 200
    records = _records(payment)
    assert post_stripe(client, processing).status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.invoice.status == InvoiceStatus.PAID
    assert WebhookEvent.objects.count() == 2
    assert _records(payment) == records


def _failed_event(payment, *, created: int | None = None) -> bytes:
    body = json.loads(
        stripe_event(
            "payment_intent.payment_failed",
            intent_object(
                payment,
                status="requires_payment_method",
                last_payment_error={"code": "card_declined", "message": "Declined."},
            ),
        )
    )
    if created is not None:
        body["created"] = created
    return json.dumps(body).encode()


def test_a_late_failure_made_before_the_success_does_not_reverse_a_sepa_debit(client, sepa_payment):
    payment = sepa_payment
    post_stripe(client, stripe_event("payment_intent.succeeded", intent_object(payment)))
    response = post_stripe(client, _failed_event(payment, created=int(time.time()) - 120))
    assert response.status_code == 200
    assert response.content.startswith(b"ignored")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.invoice.status == InvoiceStatus.PAID
    assert not AuditEntry.objects.filter(action="invoice.reopened").exists()


def test_a_failure_event_never_reverses_a_succeeded_card_payment(client, fake_stripe):
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_card_visa")
    payment = payment_charge_method(invoice=invoice, method=method, actor="test", off_session=True)
    assert payment.status == PaymentStatus.SUCCEEDED
    response = post_stripe(client, _failed_event(payment))
    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.invoice.status == InvoiceStatus.PAID


def test_an_unknown_type_is_stored_and_ignored(client, fake_stripe):
    body = stripe_event("customer.created", {"id": "cus_123", "object": "customer"})
    response = post_stripe(client, body)
    assert response.status_code == 200
    stored = WebhookEvent.objects.get()
    assert (stored.provider, stored.type) == ("stripe", "customer.created")
    assert stored.outcome.startswith("ignored")
    assert stored.processed_at is not None
    assert stored.payload["data"]["object"]["id"] == "cus_123"


def test_an_event_for_no_payment_of_ours_is_ignored(client, fake_stripe):
    body = stripe_event(
        "payment_intent.succeeded", {"id": "pi_elsewhere", "object": "payment_intent"}
    )
    response = post_stripe(client, body)
    assert response.status_code == 200
    assert WebhookEvent.objects.get().outcome == "ignored: no such payment"


@pytest.mark.parametrize("case", ["wrong secret", "no header", "stale", "not json", "tampered"])
def test_a_forged_stale_or_unreadable_event_is_refused_and_nothing_stored(
    client, sepa_payment, case
):
    payment = sepa_payment
    body = stripe_event("payment_intent.succeeded", intent_object(payment, status="succeeded"))
    signature = stripe_sign(body)
    if case == "wrong secret":
        signature = stripe_sign(body, secret="whsec_other")
    elif case == "no header":
        signature = ""
    elif case == "stale":
        signature = stripe_sign(body, timestamp=int(time.time()) - 600)
    elif case == "not json":
        body = b"this is not json"
        signature = stripe_sign(body)  # correctly signed, still not an event
    elif case == "tampered":
        body = body.replace(b"succeeded", b"succeeded ")
    response = post_stripe(client, body, signature=signature)
    assert response.status_code == 400
    assert response.content == b"bad_signature"
    assert not WebhookEvent.objects.exists()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING


def test_only_post_is_accepted(client, fake_stripe):
    assert client.get("/webhooks/stripe/").status_code == 405
    assert client.get("/webhooks/paypal/").status_code == 405


# ---- PayPal ----------------------------------------------------------------------------

PAYPAL_HEADERS = {
    "HTTP_PAYPAL_TRANSMISSION_ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
    "HTTP_PAYPAL_TRANSMISSION_TIME": "2026-11-25T10:20:31Z",
    "HTTP_PAYPAL_TRANSMISSION_SIG": "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrm",
    "HTTP_PAYPAL_CERT_URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42",
    "HTTP_PAYPAL_AUTH_ALGO": "SHA256withRSA",
}


def _paypal_event(order_id: str, event_type="PAYMENT.CAPTURE.COMPLETED", event_id="WH-1") -> bytes:
    event = {
        "id": event_id,
        "event_version": "1.0",
        "create_time": "2026-11-25T10:20:30.123Z",
        "resource_type": "capture",
        "event_type": event_type,
        "summary": "Zahlung über EUR 48.00",  # non-ASCII: sent back to PayPal byte for byte
        "resource": {
            "id": "42311647XV020574X",
            "status": "COMPLETED",
            "amount": {"currency_code": "EUR", "value": "48.00"},
            "supplementary_data": {"related_ids": {"order_id": order_id}},
        },
    }
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def _post_paypal(client, body: bytes):
    return client.post(
        "/webhooks/paypal/", data=body, content_type="application/json", **PAYPAL_HEADERS
    )


@pytest.fixture
def paypal_payment(fake_paypal):
    invoice = open_invoice()
    started = payment_paypal_start(
        invoice=invoice,
        actor="test",
        return_url="http://127.0.0.1:8000/paypal/return/",
        cancel_url="http://127.0.0.1:8000/paypal/cancel/",
    )
    assert started.payment.status == PaymentStatus.REQUIRES_ACTION
    return started.payment


def test_a_verified_paypal_capture_completed_marks_the_payment_succeeded(
    client, fake_paypal, paypal_payment
):
    payment = paypal_payment
    response = _post_paypal(client, _paypal_event(payment.gateway_ref))
    assert response.status_code == 200, response.content
    assert response.content == f"payment {payment.pk}: succeeded".encode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.invoice.status == InvoiceStatus.PAID
    assert payment.invoice.amount_due.amount == Decimal("0")
    (verify,) = fake_paypal.calls("/v1/notifications/verify-webhook-signature", "POST")
    assert verify.body["webhook_event"]["resource"]["supplementary_data"]["related_ids"] == {
        "order_id": payment.gateway_ref
    }
    stored = WebhookEvent.objects.get()
    assert (stored.provider, stored.event_id) == ("paypal", "WH-1")
    # PayPal redelivers: nothing twice.
    assert _post_paypal(client, _paypal_event(payment.gateway_ref)).content == b"duplicate"
    assert WebhookEvent.objects.count() == 1


def test_a_paypal_event_paypal_does_not_verify_is_refused(client, fake_paypal, paypal_payment):
    fake_paypal.webhook_verification = "FAILURE"
    response = _post_paypal(client, _paypal_event(paypal_payment.gateway_ref))
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    paypal_payment.refresh_from_db()
    assert paypal_payment.status == PaymentStatus.REQUIRES_ACTION


def test_a_paypal_event_without_its_headers_is_refused(client, fake_paypal, paypal_payment):
    response = client.post(
        "/webhooks/paypal/",
        data=_paypal_event(paypal_payment.gateway_ref),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    assert not fake_paypal.calls("/v1/notifications/verify-webhook-signature")


def test_a_paypal_capture_reversed_reopens_the_invoice(client, fake_paypal, paypal_payment):
    payment = paypal_payment
    _post_paypal(client, _paypal_event(payment.gateway_ref, event_id="WH-1"))
    response = _post_paypal(
        client,
        _paypal_event(payment.gateway_ref, event_type="PAYMENT.CAPTURE.REVERSED", event_id="WH-2"),
    )
    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REVERSED
    assert payment.invoice.status == InvoiceStatus.OPEN
    assert payment.invoice.amount_due.amount == Decimal("48.00")
    assert AuditEntry.objects.filter(action="invoice.reopened").count() == 1
    assert Payment.objects.count() == 1
