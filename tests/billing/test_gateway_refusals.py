"""When Stripe refuses a hosted session: the customer reads our sentence, never Stripe's
text (billing.gateways.errors.customer_message), and the Stripe customer made on the way is
remembered at once, so the next try makes no second one."""

import pytest

from billing.errors import BillingError
from billing.gateways import errors
from billing.models import BalanceEntry, Customer, Payment, PaymentMethod, PaymentStatus
from billing.services.payment_methods import payment_method_setup_start
from billing.services.top_ups import top_up_start
from tests.factories import CustomerFactory
from tests.fakes import stripe_server

pytestmark = pytest.mark.django_db

STRIPE_TEXT = "Received unknown parameter: payment_method_types"


@pytest.fixture
def sessions_refused(fake_stripe, monkeypatch):
    """Stripe answers 400 to every Checkout Session create (as it did to the unpinned
    requests); customers are still made."""

    def refuse(params):
        raise stripe_server._invalid(STRIPE_TEXT, param="payment_method_types")

    monkeypatch.setattr(fake_stripe, "_session_create", refuse)
    return fake_stripe


def setup_start(customer):
    return payment_method_setup_start(
        customer=customer,
        kind="card",
        success_url="https://portal.example/methods/saved?session={SESSION_ID}",
        cancel_url="https://portal.example/methods/",
    )


def test_a_refused_setup_session_shows_our_sentence_and_keeps_the_stripe_customer(
    sessions_refused,
):
    customer = CustomerFactory()

    with pytest.raises(BillingError) as refused:
        setup_start(customer)

    assert str(refused.value) == errors.customer_message(errors.INVALID_REQUEST)
    assert "payment_method_types" not in str(refused.value)
    [made] = sessions_refused.customers
    assert Customer.objects.get(pk=customer.pk).gateway_customer_ref == made
    assert PaymentMethod.objects.filter(customer=customer).count() == 0


def test_trying_again_makes_no_second_stripe_customer(sessions_refused):
    customer = CustomerFactory()
    for _ in range(2):
        with pytest.raises(BillingError):
            setup_start(Customer.objects.get(pk=customer.pk))

    assert len(sessions_refused.customers) == 1
    assert len(sessions_refused.requests_to("POST", "/v1/customers")) == 1
    [first, second] = sessions_refused.requests_to("POST", "/v1/checkout/sessions")
    assert first.params["customer"] == second.params["customer"]


def test_a_lost_answer_replays_the_same_customer(fake_stripe):
    """The customer create is keyed by our customer: sent twice (our ref not saved yet), Stripe
    answers the first customer again."""
    customer = CustomerFactory()
    setup_start(customer)
    Customer.objects.filter(pk=customer.pk).update(gateway_customer_ref="")

    setup_start(Customer.objects.get(pk=customer.pk))

    [one, two] = fake_stripe.requests_to("POST", "/v1/customers")
    assert one.idempotency_key == two.idempotency_key == f"test:customer-{customer.pk}"
    assert len(fake_stripe.customers) == 1


def test_a_refused_top_up_shows_our_sentence_and_credits_nothing(sessions_refused):
    customer = CustomerFactory()

    with pytest.raises(BillingError) as refused:
        top_up_start(
            customer=customer,
            amount="25.00",
            actor="test",
            success_url="https://portal.example/balance/top-up/return/?payment={PAYMENT_ID}",
            cancel_url="https://portal.example/balance/",
        )

    assert str(refused.value) == errors.customer_message(errors.INVALID_REQUEST)
    payment = Payment.objects.get(customer=customer)
    assert payment.status == PaymentStatus.FAILED
    assert STRIPE_TEXT in payment.error_message  # Stripe's words kept for staff
    assert BalanceEntry.objects.filter(customer=customer).count() == 0
    assert Customer.objects.get(pk=customer.pk).gateway_customer_ref in sessions_refused.customers


def test_every_gateway_code_has_its_own_sentence():
    codes = [v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str)]
    codes = [c for c in codes if c not in (errors.CUSTOMER_MESSAGE_DEFAULT,)]
    assert set(codes) <= set(errors.CUSTOMER_MESSAGES)
