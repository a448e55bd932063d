"""Balance top-ups by Stripe Checkout (the fake Stripe): the balance is credited once,
by the webhook or the return page, whichever comes first; a replayed event, the other
one, or a second visit changes nothing."""

from decimal import Decimal

import pytest
from django.test import Client

from billing.errors import BillingError
from billing.models import BalanceEntry, Customer, Payment, PaymentStatus, WebhookEvent
from billing.services.top_ups import top_up_finish, top_up_start
from tests.billing.payment_helpers import intent_object, post_stripe, stripe_event
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

RETURN = "https://portal.example/balance/top-up/return/?payment={PAYMENT_ID}"


@pytest.fixture
def paid_session(fake_stripe):
    """A 50.00 EUR top-up paid on (fake) Checkout; nothing reported to us yet."""
    customer = CustomerFactory()
    started = top_up_start(
        customer=customer,
        amount="50.00",
        actor="test",
        success_url=RETURN,
        cancel_url="https://portal.example/balance/",
    )
    payment = started.payment
    session = fake_stripe.complete_checkout(payment.gateway_ref)
    return customer, payment, session


def _completed(session: dict, payment: Payment) -> bytes:
    return stripe_event(
        "checkout.session.completed",
        {
            "id": session["id"],
            "object": "checkout.session",
            "mode": "payment",
            "payment_intent": session["payment_intent"],
            "metadata": {"payment": str(payment.pk), "kind": "top_up"},
        },
    )


def _balance(customer) -> Decimal:
    return Customer.objects.get(pk=customer.pk).balance


def test_the_checkout_session_is_made_in_payment_mode_for_the_amount(fake_stripe):
    customer = CustomerFactory()
    started = top_up_start(
        customer=customer, amount="12.34", actor="test", success_url=RETURN, cancel_url="x"
    )
    session = fake_stripe.sessions[started.payment.gateway_ref]
    assert session["mode"] == "payment"
    assert session["amount_total"] == 1234
    assert session["success_url"].endswith(f"?payment={started.payment.pk}")
    assert started.payment.kind == "top_up" and started.payment.invoice is None


def test_the_webhook_credits_once_and_the_return_page_then_changes_nothing(client, paid_session):
    customer, payment, session = paid_session
    body = _completed(session, payment)
    response = post_stripe(client, body)
    assert response.status_code == 200
    assert response.content == f"payment {payment.pk}: succeeded".encode()
    assert _balance(customer) == Decimal("50.00")
    assert post_stripe(client, body).content == b"duplicate"  # Stripe retries
    finished = top_up_finish(customer=customer, payment_id=payment.pk, actor="test")
    assert finished.status == PaymentStatus.SUCCEEDED
    assert BalanceEntry.objects.count() == 1
    assert _balance(customer) == Decimal("50.00")


def test_the_return_page_first_then_the_webhook_changes_nothing(paid_session):
    customer, payment, session = paid_session
    owner = Client()
    owner.force_login(customer.contact)
    owner.get(f"/balance/top-up/return/?payment={payment.pk}")
    assert _balance(customer) == Decimal("50.00")
    client = Client()
    assert post_stripe(client, _completed(session, payment)).status_code == 200
    assert (
        post_stripe(
            client,
            stripe_event(
                "payment_intent.succeeded",
                intent_object(payment, intent_id=session["payment_intent"], status="succeeded"),
            ),
        ).status_code
        == 200
    )
    assert BalanceEntry.objects.count() == 1
    assert WebhookEvent.objects.count() == 2
    assert _balance(customer) == Decimal("50.00")


def test_payment_intent_succeeded_alone_credits_the_balance(client, paid_session):
    """The intent's event may be the only one to arrive (or the first): it credits too."""
    customer, payment, session = paid_session
    post_stripe(
        client,
        stripe_event(
            "payment_intent.succeeded",
            intent_object(payment, intent_id=session["payment_intent"], status="succeeded"),
        ),
    )
    assert _balance(customer) == Decimal("50.00")
    post_stripe(client, _completed(session, payment))
    assert BalanceEntry.objects.count() == 1
    entry = BalanceEntry.objects.get()
    assert (entry.kind, entry.payment_id, entry.idempotency_key) == (
        "top_up",
        payment.pk,
        f"payment:{payment.pk}",
    )


def test_an_unpaid_session_credits_nothing(client, fake_stripe):
    customer = CustomerFactory()
    started = top_up_start(
        customer=customer, amount="20", actor="test", success_url=RETURN, cancel_url="x"
    )
    payment = top_up_finish(customer=customer, payment_id=started.payment.pk, actor="test")
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert _balance(customer) == 0 and BalanceEntry.objects.count() == 0


def test_a_bad_amount_calls_no_gateway_and_writes_nothing(fake_stripe):
    with pytest.raises(BillingError) as refused:
        top_up_start(
            customer=CustomerFactory(),
            amount="10000.01",
            actor="test",
            success_url=RETURN,
            cancel_url="x",
        )
    assert refused.value.code == "amount_out_of_bounds"
    assert Payment.objects.count() == 0
    assert fake_stripe.requests_to("POST", "/v1/checkout/sessions") == []
