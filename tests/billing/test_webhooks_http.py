"""The Stripe webhook over real HTTP, as Stripe calls it: a signed event posted to the
running server pays the invoice once; the same event again and a forged one change
nothing."""

import requests
from django.core import mail

from billing.models import InvoiceStatus, Payment, PaymentStatus, WebhookEvent
from billing.services.payments import payment_charge_method
from tests.billing.payment_helpers import (
    intent_object,
    open_invoice,
    saved_method,
    stripe_event,
    stripe_sign,
)


def _post(live_server, payload: bytes, signature: str):
    return requests.post(
        f"{live_server.url}/webhooks/stripe/",
        data=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        timeout=10,
    )


def test_a_signed_event_pays_once_and_a_forged_one_is_refused(
    live_server, transactional_db, fake_stripe
):
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_sepa_debit")
    payment = payment_charge_method(invoice=invoice, method=method, actor="t", off_session=True)
    assert payment.status == PaymentStatus.PENDING  # a SEPA debit waits for the bank
    mail.outbox.clear()

    forged = stripe_event("payment_intent.succeeded", intent_object(payment, status="succeeded"))
    response = _post(live_server, forged, stripe_sign(forged, secret="whsec_not_ours"))
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, invoice.status) == (PaymentStatus.PENDING, InvoiceStatus.OPEN)
    assert invoice.amount_due.amount == invoice.total.amount
    assert mail.outbox == []

    event = stripe_event("payment_intent.succeeded", intent_object(payment, status="succeeded"))
    for _ in range(2):  # Stripe delivers at least once
        response = _post(live_server, event, stripe_sign(event))
        assert response.status_code == 200, response.text
    assert WebhookEvent.objects.count() == 1
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_due.amount == 0
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1
    receipts = [m for m in mail.outbox if invoice.number in m.subject]
    assert len(receipts) == 1
