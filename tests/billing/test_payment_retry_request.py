"""Issue 16, item 2: a retried charge sends the same request, every time, and every key a
gateway sees names this installation. Through the real Stripe SDK against the fake Stripe
on 127.0.0.1 (tests/fakes/stripe_server.py), which answers like Stripe: a key reused with
other parameters or on another endpoint is a 400 idempotency_error."""

from decimal import Decimal

import pytest
import stripe
from django.core import mail
from django.urls import reverse

from billing.gateways import interface as gw
from billing.gateways.errors import GatewayError
from billing.gateways.stripe import StripeGateway
from billing.models import InvoiceStatus, Payment, PaymentStatus
from billing.services.collection import payment_refresh_pending
from billing.services.payments import (
    gateway_idempotency_key,
    payment_charge_method,
    payment_charge_request,
    payment_hosted_start,
)
from billing.services.refunds import payment_refund
from billing.services.top_ups import top_up_start
from tests.billing.payment_helpers import open_invoice, saved_method
from tests.fakes.stripe_server import API_KEY

pytestmark = pytest.mark.django_db

INTENTS = "/v1/payment_intents"


def _intent_bodies(fake_stripe) -> list[tuple[str | None, str]]:
    return [(key, body) for path, key, body in fake_stripe.bodies if path == INTENTS]


def test_a_timed_out_pay_page_charge_is_repaired_with_byte_identical_parameters(
    client, fake_stripe, settings, django_capture_on_commit_callbacks
):
    """The pay page charges the saved card with its own 3-D Secure return URL; Stripe
    charges but the answer is lost. The repair (payment_refresh_pending) sends the very
    same bytes under the same key, Stripe replays the first answer, the payment settles
    once and the pay page stops saying a payment is on its way."""
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.5
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    invoice = open_invoice()
    method = saved_method(invoice.customer)
    client.force_login(invoice.customer.contact)
    fake_stripe.slow_next(1, seconds=3)  # charged, then answers after the client gave up
    mail.outbox.clear()

    response = client.post(
        reverse("portal:invoice_pay", args=[invoice.number]), {"how": "saved", "method": method.pk}
    )

    assert response.status_code == 302
    payment = Payment.objects.get()
    assert (payment.status, payment.gateway_ref) == (PaymentStatus.PENDING, "")
    assert len(fake_stripe.charges) == 1
    pay_page = client.get(reverse("portal:invoice_pay", args=[invoice.number]))
    assert b"already on its way" in pay_page.content  # blocked while the repair is due
    authenticated = "http://testserver" + reverse(
        "portal:invoice_pay_authenticated", args=[invoice.number]
    )
    assert payment.charge_request["return_url"] == authenticated

    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_refresh_pending(payment_id=payment.pk)

    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.gateway_ref == fake_stripe.charges[0]["id"]
    (first_key, first), (second_key, second) = _intent_bodies(fake_stripe)
    assert second == first  # byte for byte
    assert first_key == second_key == f"test:invoice-{invoice.pk}-pay-1"
    assert fake_stripe.requests_to("POST", INTENTS)[1].params["return_url"] == authenticated
    assert len(fake_stripe.charges) == 1  # ONE charge: the repair got the first answer
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.PAID, Decimal("0.00"))
    assert len([m for m in mail.outbox if invoice.number in m.subject]) == 1  # one receipt
    response = client.get(reverse("portal:invoice_pay", args=[invoice.number]))
    assert response.status_code == 302  # nothing left to pay, nothing "on its way"
    # Refreshing again sends nothing and changes nothing.
    payment_refresh_pending(payment_id=payment.pk)
    assert len(_intent_bodies(fake_stripe)) == 2


def test_the_request_is_stored_once_and_later_return_urls_are_ignored(fake_stripe):
    invoice = open_invoice()
    method = saved_method(invoice.customer)
    payment = payment_charge_method(
        invoice=invoice,
        method=method,
        actor="test",
        off_session=False,
        return_url="http://127.0.0.1:8000/first/",
    )
    stored = dict(payment.charge_request)

    again = payment_charge_request(payment=payment, return_url="http://127.0.0.1:8000/other/")

    assert again.return_url == "http://127.0.0.1:8000/first/"
    assert again.amount == Decimal("48.00") and again.idempotency_key == payment.idempotency_key
    payment.refresh_from_db()
    assert payment.charge_request == stored  # unchanged
    # An attempt made before the request was stored gets one built from the attempt
    # alone (the invoice's page), stored before it is sent.
    Payment.objects.filter(pk=payment.pk).update(charge_request=None)
    payment.refresh_from_db()
    rebuilt = payment_charge_request(payment=payment)
    assert rebuilt.return_url.endswith(reverse("portal:invoice_detail", args=[invoice.number]))
    payment.refresh_from_db()
    assert payment.charge_request["return_url"] == rebuilt.return_url


def _charge(key: str, return_url: str) -> gw.ChargeRequest:
    return gw.ChargeRequest(
        customer=gw.GatewayCustomer(customer_id=1, email="a@example.com", name="A"),
        method_ref="pm_card_visa",
        amount=Decimal("48.00"),
        currency="EUR",
        idempotency_key=key,
        description="Invoice CAJ-2026-000001",
        off_session=False,
        return_url=return_url,
    )


def test_the_fake_refuses_a_key_reused_with_other_parameters(fake_stripe, settings):
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    gateway = StripeGateway()
    gateway.charge(_charge("test:k-1", "http://127.0.0.1:8000/a/"))

    with pytest.raises(GatewayError) as caught:
        gateway.charge(_charge("test:k-1", "http://127.0.0.1:8000/b/"))

    assert "same parameters" in caught.value.message
    assert len(fake_stripe.charges) == 1  # the second request charged nothing
    client = stripe.StripeClient(API_KEY, base_addresses={"api": fake_stripe.url})
    with pytest.raises(stripe.IdempotencyError) as refused:
        client.v1.payment_intents.create(
            params={
                "amount": 1,
                "currency": "eur",
                "payment_method": "pm_card_visa",
                "confirm": True,
            },
            options={"idempotency_key": "test:k-1"},
        )
    assert refused.value.http_status == 400
    # The same key on another endpoint is refused too, as at Stripe.
    with pytest.raises(stripe.IdempotencyError) as elsewhere:
        client.v1.customers.create(params={}, options={"idempotency_key": "test:k-1"})
    assert "same endpoint" in str(elsewhere.value)
    assert len(fake_stripe.charges) == 1 and len(fake_stripe.customers) == 0


def test_every_key_sent_to_a_gateway_carries_the_installation_id(fake_stripe, settings):
    settings.PAYMENT_INSTALLATION_ID = "staging-eu"
    invoice = open_invoice()
    method = saved_method(invoice.customer)
    paid = payment_charge_method(invoice=invoice, method=method, actor="t", off_session=True)
    assert paid.status == PaymentStatus.SUCCEEDED
    payment_refund(payment=paid, amount="12.00", destination="method", reason="goodwill", actor="t")
    other = open_invoice()
    payment_hosted_start(
        invoice=other, actor="t", success_url="http://x/s?{SESSION_ID}", cancel_url="http://x/c"
    )
    top_up_start(
        customer=invoice.customer,
        amount="50.00",
        actor="t",
        success_url="http://x/s?{SESSION_ID}",
        cancel_url="http://x/c",
    )

    keys = [r.idempotency_key for r in fake_stripe.requests if r.method == "POST"]
    assert keys and all(key.startswith("staging-eu:") for key in keys), keys
    assert f"staging-eu:invoice-{invoice.pk}-pay-1" in keys
    assert f"staging-eu:refund-{paid.pk}-1" in keys
    assert f"staging-eu:customer-{other.customer_id}" in keys  # its Stripe customer, made once
    assert gateway_idempotency_key(scope="x") == "staging-eu:x"


def test_a_changed_installation_id_never_changes_a_sent_attempts_key(
    fake_stripe, settings, django_capture_on_commit_callbacks
):
    """Keys are stored when made: the repair of an attempt sent under the old id resends
    its old key (a new one could charge twice)."""
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.5
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    settings.PAYMENT_INSTALLATION_ID = "before"
    invoice = open_invoice()
    method = saved_method(invoice.customer)
    fake_stripe.slow_next(1, seconds=3)
    payment = payment_charge_method(invoice=invoice, method=method, actor="t", off_session=True)
    assert payment.status == PaymentStatus.PENDING
    settings.PAYMENT_INSTALLATION_ID = "after"

    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_refresh_pending(payment_id=payment.pk)

    assert payment.status == PaymentStatus.SUCCEEDED
    assert [key for key, _ in _intent_bodies(fake_stripe)] == [
        f"before:invoice-{invoice.pk}-pay-1"
    ] * 2
    assert len(fake_stripe.charges) == 1
