"""Rate limits fail closed when the cache (Redis) is down: every rate-limited view answers
503 with a clear message and Retry-After (accounts/middleware.py), never a 500 and never
unthrottled, and nothing was stored, sent or logged in. A webhook answered 503 over real
HTTP is retried by the gateway, and the retry goes through once Redis is back."""

import socket
from contextlib import closing

import pytest
import requests
from django.core import mail
from django.test import override_settings
from django.urls import reverse
from django_otp.plugins.otp_email.models import EmailDevice

from accounts import throttle
from accounts.middleware import UNAVAILABLE_MESSAGE
from accounts.models import ContactRequest, SignUp, User
from audit.models import AuditEntry
from billing.models import InvoiceStatus, PaymentStatus, WebhookEvent
from billing.services.payments import payment_charge_method
from tests.billing.payment_helpers import (
    intent_object,
    open_invoice,
    saved_method,
    stripe_event,
    stripe_sign,
)
from tests.factories import CustomerFactory, StaffUserFactory
from tests.staff import STAFF_PASSWORD


def _closed_port() -> int:
    """A port nothing listens on: connections are refused at once."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cache_down():
    """The project's production cache (Redis) pointed at a closed port."""
    location = f"redis://127.0.0.1:{_closed_port()}/0"
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": location,
            }
        }
    ):
        yield


def _assert_unavailable(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert UNAVAILABLE_MESSAGE in response.content.decode()


# ---- the counters ----------------------------------------------------------------------


def test_every_counter_raises_throttle_unavailable_when_the_cache_is_down(cache_down):
    key = throttle.throttle_key(scope="test", kind="ip", subject="192.0.2.1")
    with pytest.raises(throttle.ThrottleUnavailable):
        throttle.throttle_count(key=key, window=60)
    with pytest.raises(throttle.ThrottleUnavailable):
        throttle.throttle_peek(key=key)
    with pytest.raises(throttle.ThrottleUnavailable):
        throttle.throttle_reset(key=key)
    with pytest.raises(throttle.ThrottleUnavailable):
        throttle.throttle_retry_seconds(key=key, window=60)


# ---- each rate-limited view, through the test client -------------------------------------


@pytest.mark.django_db
def test_asking_a_login_code_answers_503_and_sends_nothing(client, cache_down):
    customer = CustomerFactory()
    response = client.post(reverse("portal:login"), {"email": customer.email})
    _assert_unavailable(response)
    assert mail.outbox == []
    assert not EmailDevice.objects.exists()


@pytest.mark.django_db
def test_the_503_is_a_page_for_a_browser(client, cache_down):
    customer = CustomerFactory()
    response = client.post(
        reverse("portal:login"), {"email": customer.email}, HTTP_ACCEPT="text/html"
    )
    _assert_unavailable(response)
    assert response["Content-Type"].startswith("text/html")
    assert "<h1>Briefly unavailable</h1>" in response.content.decode()


@pytest.mark.django_db
def test_a_password_login_answers_503_and_logs_nobody_in(client, cache_down):
    user = User.objects.create_user(email="billing@acme.example", password="a long passphrase")
    CustomerFactory(contact=user)
    response = client.post(
        reverse("portal:login_password"),
        {"email": user.email, "password": "a long passphrase"},
    )
    _assert_unavailable(response)
    assert "_auth_user_id" not in client.session
    assert not AuditEntry.objects.filter(action__startswith="user.login").exists()


@pytest.mark.django_db
def test_the_staff_login_answers_503_and_logs_nobody_in(client, cache_down):
    staff = StaffUserFactory(email="ops@caj.example")
    response = client.post(
        reverse("admin:login"),
        {"email": staff.email, "password": STAFF_PASSWORD, "code": "123456"},
    )
    _assert_unavailable(response)
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_signing_up_answers_503_and_stores_and_sends_nothing(client, cache_down):
    response = client.post(
        reverse("portal:signup"),
        {"email": "founder@newco.example", "company_name": "NewCo SAS", "country": "FR"},
    )
    _assert_unavailable(response)
    assert not SignUp.objects.exists()
    assert mail.outbox == []


@pytest.mark.django_db
def test_contact_us_answers_503_and_stores_and_sends_nothing(client, cache_down):
    response = client.post(
        reverse("portal:contact"),
        {
            "name": "Jeanne Martin",
            "company": "Bigcorp SA",
            "email": "jeanne@bigcorp.example",
            "message": "We want 500 licences.",
        },
    )
    _assert_unavailable(response)
    assert not ContactRequest.objects.exists()
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.parametrize("gateway", ["stripe", "paypal"])
def test_a_webhook_answers_503_and_stores_nothing(client, cache_down, gateway):
    response = client.post(f"/webhooks/{gateway}/", data=b"{}", content_type="application/json")
    _assert_unavailable(response)
    assert not WebhookEvent.objects.exists()


# ---- a webhook over real HTTP: 503 while Redis is down, the gateway's retry pays ---------


def test_a_stripe_webhook_over_http_is_refused_503_then_its_retry_pays_once(
    live_server, transactional_db, fake_stripe
):
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_sepa_debit")
    payment = payment_charge_method(invoice=invoice, method=method, actor="t", off_session=True)
    assert payment.status == PaymentStatus.PENDING
    mail.outbox.clear()
    event = stripe_event("payment_intent.succeeded", intent_object(payment, status="succeeded"))

    def deliver():
        return requests.post(
            f"{live_server.url}/webhooks/stripe/",
            data=event,
            headers={"Content-Type": "application/json", "Stripe-Signature": stripe_sign(event)},
            timeout=10,
        )

    location = f"redis://127.0.0.1:{_closed_port()}/0"
    redis_down = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": location}
    }
    with override_settings(CACHES=redis_down):
        response = deliver()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert response.text == UNAVAILABLE_MESSAGE
    assert not WebhookEvent.objects.exists()
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, invoice.status) == (PaymentStatus.PENDING, InvoiceStatus.OPEN)
    assert invoice.amount_due.amount == invoice.total.amount
    assert mail.outbox == []

    response = deliver()  # Stripe's retry, Redis back
    assert response.status_code == 200, response.text
    assert WebhookEvent.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert len([m for m in mail.outbox if invoice.number in m.subject]) == 1
