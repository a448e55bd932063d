"""PayPal attempts end to end through the services, the real paypal-server-sdk and the fake
PayPal (tests/fakes/paypal_server.py); webhooks verified by the fake as PayPal does."""

import json
from decimal import Decimal

import pytest
from django.core import mail

from audit.models import AuditEntry
from billing.errors import BillingError
from billing.models import CreditEntry, InvoiceStatus, Payment, PaymentStatus, Refund
from billing.services.collection import payment_refresh_pending
from billing.services.paypal_payments import payment_paypal_capture, payment_paypal_start
from tests.billing.payment_helpers import open_invoice
from tests.billing.test_webhooks import _post_paypal

pytestmark = pytest.mark.django_db

RETURN = "http://127.0.0.1:8000/paypal/return/"
CANCEL = "http://127.0.0.1:8000/paypal/cancel/"


@pytest.fixture(autouse=True)
def _no_retries(settings):
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0


def start(invoice):
    return payment_paypal_start(invoice=invoice, actor="test", return_url=RETURN, cancel_url=CANCEL)


def event(payment_or_refs, event_type, *, event_id, amount="48.00", currency="EUR", resource=None):
    order_id, capture_id = payment_or_refs
    body = {
        "id": event_id,
        "event_version": "1.0",
        "create_time": "2026-11-25T10:20:30.123Z",
        "resource_type": "capture",
        "event_type": event_type,
        "summary": "PayPal",
        "resource": resource
        or {
            "id": capture_id,
            "status": "COMPLETED",
            "amount": {"currency_code": currency, "value": amount},
            "supplementary_data": {"related_ids": {"order_id": order_id}},
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def paid(fake_paypal, invoice):
    payment = start(invoice).payment
    fake_paypal.approve(payment.gateway_ref)
    payment = payment_paypal_capture(
        customer=invoice.customer, order_id=payment.gateway_ref, actor="test"
    )
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


# ---- 10. invoice_id unique per attempt --------------------------------------------------


def test_each_attempt_sends_its_own_invoice_id_and_the_invoice_number_as_reference(fake_paypal):
    invoice = open_invoice()
    first = start(invoice).payment
    second = start(invoice).payment  # the first one was never approved: superseded

    bodies = [c.body for c in fake_paypal.calls("/v2/checkout/orders", "POST")]
    units = [b["purchase_units"][0] for b in bodies]
    assert [u["invoice_id"] for u in units] == [f"{invoice.number}-1", f"{invoice.number}-2"]
    assert {u["reference_id"] for u in units} == {u["custom_id"] for u in units} == {invoice.number}
    first.refresh_from_db()
    assert (first.status, first.error_code) == (PaymentStatus.FAILED, "superseded")
    assert second.status == PaymentStatus.REQUIRES_ACTION


# ---- 2. order creation fails: the attempt is closed -------------------------------------


@pytest.mark.parametrize("status", [500, 503, 429])
def test_an_order_create_failure_closes_the_attempt_and_the_next_one_starts(fake_paypal, status):
    invoice = open_invoice()
    fake_paypal.fail_next("/v2/checkout/orders", status=status)

    with pytest.raises(BillingError) as caught:
        start(invoice)

    assert "PayPal" in caught.value.message and str(status) not in caught.value.message
    (failed,) = Payment.objects.all()
    assert failed.status == PaymentStatus.FAILED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    # Not "already on its way": the customer pays at once.
    again = start(invoice).payment
    assert again.status == PaymentStatus.REQUIRES_ACTION
    assert again.attempt == 2


def test_an_order_create_timeout_closes_the_attempt(fake_paypal, settings):
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.2
    invoice = open_invoice()
    fake_paypal.answer_late("/v2/checkout/orders", seconds=1)  # made at PayPal, answer lost

    with pytest.raises(BillingError):
        start(invoice)

    (failed,) = Payment.objects.all()
    assert (failed.status, failed.gateway_ref) == (PaymentStatus.FAILED, "")
    assert start(invoice).payment.status == PaymentStatus.REQUIRES_ACTION


def test_the_pending_poll_closes_a_paypal_attempt_left_without_an_order(fake_paypal):
    invoice = open_invoice()
    payment = start(invoice).payment
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.PENDING, gateway_ref="")

    polled = payment_refresh_pending(payment_id=payment.pk)

    assert polled.status == PaymentStatus.FAILED
    assert fake_paypal.calls("/v2/checkout/orders/", "GET") == []


# ---- 3. a lost capture answer ------------------------------------------------------------


def test_a_lost_capture_answer_records_the_capture_paypal_made(fake_paypal, settings):
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.3
    invoice = open_invoice()
    payment = start(invoice).payment
    fake_paypal.approve(payment.gateway_ref)
    fake_paypal.answer_late("/capture", seconds=1)

    payment = payment_paypal_capture(
        customer=invoice.customer, order_id=payment.gateway_ref, actor="test"
    )

    (capture_id,) = fake_paypal.captures
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.gateway_capture_ref == capture_id
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert len(fake_paypal.orders) == 1


def test_a_capture_with_no_answer_stays_pending_and_the_poll_records_it(fake_paypal):
    invoice = open_invoice()
    payment = start(invoice).payment
    fake_paypal.approve(payment.gateway_ref)
    fake_paypal.fail_next("/capture", status=503)
    fake_paypal.fail_next(f"/v2/checkout/orders/{payment.gateway_ref}", status=503, method="GET")

    payment = payment_paypal_capture(
        customer=invoice.customer, order_id=payment.gateway_ref, actor="test"
    )

    assert payment.status == PaymentStatus.PENDING
    assert fake_paypal.captures == {}
    with pytest.raises(BillingError) as caught:
        start(invoice)  # no second order while this one may be captured
    assert "PayPal confirms" in caught.value.message
    assert len(fake_paypal.orders) == 1

    polled = payment_refresh_pending(payment_id=payment.pk)

    assert polled.status == PaymentStatus.SUCCEEDED
    assert len(fake_paypal.captures) == 1
    captures = fake_paypal.calls("/capture", "POST")
    assert {c.headers["paypal-request-id"] for c in captures} == {
        f"{payment.idempotency_key}-capture"
    }
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_a_new_attempt_records_the_previous_order_paypal_captured(fake_paypal):
    invoice = open_invoice()
    first = start(invoice).payment
    fake_paypal.approve(first.gateway_ref)
    # Captured at PayPal, our answer lost before anything was recorded.
    from billing.gateways import paypal_gateway

    paypal_gateway().order_capture(order_id=first.gateway_ref, idempotency_key="lost")

    with pytest.raises(BillingError) as caught:
        start(invoice)

    assert caught.value.code == "nothing_to_pay"
    first.refresh_from_db()
    assert first.status == PaymentStatus.SUCCEEDED
    assert len(fake_paypal.orders) == 1
    assert Payment.objects.count() == 1


def test_an_extra_capture_is_refunded_not_credited(
    client, fake_paypal, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    first = start(invoice).payment
    fake_paypal.approve(first.gateway_ref)
    second = start(invoice).payment  # first superseded (not captured yet)
    fake_paypal.approve(second.gateway_ref)
    payment_paypal_capture(customer=invoice.customer, order_id=second.gateway_ref, actor="t")
    # The first order captured anyway (a capture in flight), reported by PayPal's webhook.
    from billing.gateways import paypal_gateway

    result = paypal_gateway().order_capture(order_id=first.gateway_ref, idempotency_key="x")
    with django_capture_on_commit_callbacks(execute=True):
        response = _post_paypal(
            client,
            event(
                (first.gateway_ref, result.capture_ref), "PAYMENT.CAPTURE.COMPLETED", event_id="W1"
            ),
        )

    assert response.status_code == 200, response.content
    first.refresh_from_db()
    assert (first.status, first.error_code) == (PaymentStatus.SUCCEEDED, "extra_capture")
    assert first.refunded == first.amount
    (refund,) = Refund.objects.filter(payment=first)
    assert refund.destination == Refund.TO_METHOD
    assert fake_paypal.captures[result.capture_ref]["capture"]["status"] == "REFUNDED"
    assert not CreditEntry.objects.exists()
    assert AuditEntry.objects.filter(action="payment.extra_capture").count() == 1


# ---- 4. capture ids: refunded and reversed webhooks --------------------------------------


def test_a_reversal_naming_only_the_capture_reopens_the_invoice(client, fake_paypal):
    invoice = open_invoice()
    payment = paid(fake_paypal, invoice)
    resource = {
        "id": payment.gateway_capture_ref,
        "status": "REVERSED",
        "amount": {"currency_code": "EUR", "value": "48.00"},
    }

    response = _post_paypal(
        client, event((None, None), "PAYMENT.CAPTURE.REVERSED", event_id="W1", resource=resource)
    )

    assert response.content == f"payment {payment.pk}: reversed".encode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_due.amount == Decimal("48.00")


def test_a_refund_made_at_paypal_issues_a_credit_note_once(client, fake_paypal):
    invoice = open_invoice()
    payment = paid(fake_paypal, invoice)
    resource = {
        "id": "1Y107995YT783435V",
        "status": "COMPLETED",
        "amount": {"currency_code": "EUR", "value": "12.00"},
        "links": [
            {"href": f"{fake_paypal.url}/v2/payments/refunds/1Y107995YT783435V", "rel": "self"},
            {
                "href": f"{fake_paypal.url}/v2/payments/captures/{payment.gateway_capture_ref}",
                "rel": "up",
            },
        ],
    }

    response = _post_paypal(
        client, event((None, None), "PAYMENT.CAPTURE.REFUNDED", event_id="W1", resource=resource)
    )
    again = _post_paypal(
        client, event((None, None), "PAYMENT.CAPTURE.REFUNDED", event_id="W2", resource=resource)
    )

    assert response.content == f"payment {payment.pk}: refunded 12.00".encode()
    assert b"already recorded" in again.content
    (refund,) = Refund.objects.all()
    assert refund.gateway_ref == "1Y107995YT783435V"
    assert refund.credit_note is not None
    payment.refresh_from_db()
    assert payment.refunded == Decimal("12.00")


# ---- 5. amounts ---------------------------------------------------------------------------


def test_a_capture_of_another_amount_is_flagged_not_settled(fake_paypal, caplog):
    invoice = open_invoice()
    payment = start(invoice).payment
    fake_paypal.approve(payment.gateway_ref)
    fake_paypal.capture_amount = "1.00"

    payment = payment_paypal_capture(
        customer=invoice.customer, order_id=payment.gateway_ref, actor="test"
    )

    assert (payment.status, payment.error_code) == (PaymentStatus.PENDING, "amount_mismatch")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_due.amount == Decimal("48.00")
    assert AuditEntry.objects.filter(action="payment.amount_mismatch").count() == 1
    assert any(r.levelname == "ERROR" and "not settled" in r.getMessage() for r in caplog.records)


def test_a_completed_webhook_of_another_currency_is_flagged_not_settled(client, fake_paypal):
    invoice = open_invoice()
    payment = start(invoice).payment

    response = _post_paypal(
        client,
        event(
            (payment.gateway_ref, "CAP1"),
            "PAYMENT.CAPTURE.COMPLETED",
            event_id="W1",
            currency="USD",
        ),
    )

    assert b"amount mismatch" in response.content
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN


# ---- 6. denied after pending; 9. failed then paid -----------------------------------------


def test_a_pending_capture_denied_later_emails_the_customer(
    client, fake_paypal, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    payment = start(invoice).payment
    fake_paypal.approve(payment.gateway_ref)
    fake_paypal.pend_next_capture()
    payment = payment_paypal_capture(
        customer=invoice.customer, order_id=payment.gateway_ref, actor="test"
    )
    assert payment.status == PaymentStatus.PENDING
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        _post_paypal(
            client,
            event(
                (payment.gateway_ref, payment.gateway_capture_ref),
                "PAYMENT.CAPTURE.DENIED",
                event_id="W1",
            ),
        )

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    (sent,) = mail.outbox
    assert invoice.number in sent.subject and "failed" in sent.subject
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN


def test_a_failed_payment_paypal_reports_completed_becomes_paid(client, fake_paypal):
    invoice = open_invoice()
    payment = start(invoice).payment
    Payment.objects.filter(pk=payment.pk).update(status=PaymentStatus.FAILED)

    _post_paypal(
        client, event((payment.gateway_ref, "CAP1"), "PAYMENT.CAPTURE.COMPLETED", event_id="W1")
    )

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.gateway_capture_ref == "CAP1"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    entry = AuditEntry.objects.filter(action="payment.record").latest("pk")
    assert entry.before == {"status": "failed"}


def test_a_succeeded_payment_never_becomes_failed(client, fake_paypal):
    invoice = open_invoice()
    payment = paid(fake_paypal, invoice)

    _post_paypal(
        client,
        event(
            (payment.gateway_ref, payment.gateway_capture_ref),
            "PAYMENT.CAPTURE.DENIED",
            event_id="W1",
        ),
    )

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
