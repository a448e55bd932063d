"""Each gateway says whose hosted session, order or charge it is (SessionOwner), which
billing/services/ownership.py compares with the logged-in customer: the sandbox from what
it stored, Stripe from the session's or PaymentIntent's customer and our metadata (real
SDK, fake server), PayPal from the purchase unit's reference_id (real SDK, fake server)."""

from decimal import Decimal

import pytest

from billing.gateways import card_gateway, sandbox
from billing.gateways.interface import (
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeRequest,
    GatewayCustomer,
    PaymentSessionRequest,
    SessionOwner,
    SetupSessionRequest,
)
from billing.gateways.paypal import PayPalOrdersGateway
from billing.gateways.sandbox import SandboxCardGateway, SandboxPayPalGateway
from billing.gateways.stripe import StripeGateway
from tests.billing.gateways.test_paypal_gateway import order_request

pytestmark = pytest.mark.django_db

ANNA = GatewayCustomer(7, "anna@example.com", "Anna", "cus_known")


def setup_request(kinds=("card",)):
    return SetupSessionRequest(
        customer=ANNA,
        kinds=kinds,
        success_url="https://portal.example/payment-method/added/?session_id={SESSION_ID}",
        cancel_url="https://portal.example/payment-method/",
    )


def payment_request(key="invoice-1-checkout-1"):
    return PaymentSessionRequest(
        customer=ANNA,
        amount=Decimal("48.00"),
        currency="EUR",
        description="Invoice CAJ-1",
        reference="CAJ-1",
        idempotency_key=key,
        success_url="https://portal.example/invoices/CAJ-1/pay/card/?session_id={SESSION_ID}",
        cancel_url="https://portal.example/invoices/CAJ-1/",
    )


def charge_request(method_ref, key="invoice-1-pay-1"):
    return ChargeRequest(
        customer=ANNA,
        method_ref=method_ref,
        amount=Decimal("48.00"),
        currency="EUR",
        idempotency_key=key,
        description="Invoice CAJ-1",
        off_session=False,
        return_url="https://portal.example/invoices/CAJ-1/pay/authenticated/",
    )


# ---- sandbox -----------------------------------------------------------------------------


def test_sandbox_reports_the_owner_of_a_setup_session():
    gateway = SandboxCardGateway()
    session = gateway.setup_session_create(setup_request())
    sandbox.sandbox_setup_complete(
        session.session_id, card_number="5555 5555 5555 4444", exp_month=12, exp_year=2034
    )
    assert gateway.setup_session_result(session.session_id).owner == SessionOwner(customer_id="7")


def test_sandbox_reports_the_owner_of_a_payment_session_before_and_after_paying():
    gateway = SandboxCardGateway()
    session = gateway.payment_session_create(payment_request())
    owner = SessionOwner(customer_id="7", reference="CAJ-1")
    before = gateway.payment_session_result(session.session_id)
    assert (before.status, before.owner) == (REQUIRES_ACTION, owner)
    sandbox.sandbox_payment_pay(
        session.session_id, card_number="4242 4242 4242 4242", exp_month=12, exp_year=2034
    )
    after = gateway.payment_session_result(session.session_id)
    assert (after.status, after.owner) == (SUCCEEDED, owner)


def test_sandbox_reports_the_owner_of_a_charge_after_3d_secure():
    gateway = SandboxCardGateway()
    method = sandbox.sandbox_method_create(
        card_number="4000 0027 6000 3184", exp_month=12, exp_year=2034
    )
    charge = gateway.charge(charge_request(method.ref))
    sandbox.sandbox_authenticate(charge.gateway_ref, complete=True)
    assert gateway.charge_status(charge.gateway_ref).owner == SessionOwner(customer_id="7")


def test_sandbox_reports_the_reference_of_a_paypal_order():
    paypal = SandboxPayPalGateway()
    order = paypal.order_create(order_request())
    sandbox.sandbox_order_approve(order.order_id)
    result = paypal.order_capture(order_id=order.order_id, idempotency_key="capture-1")
    assert result.owner == SessionOwner(reference="2025-000123")


# ---- Stripe (real SDK, fake server) ------------------------------------------------------


@pytest.fixture
def stripe_gateway(fake_stripe):
    fake_stripe.customers["cus_known"] = {"id": "cus_known", "object": "customer"}
    gateway = card_gateway()
    assert isinstance(gateway, StripeGateway)
    return gateway


def test_stripe_reports_the_owner_of_a_setup_session(stripe_gateway, fake_stripe):
    session = stripe_gateway.setup_session_create(setup_request(kinds=("sepa_debit",)))
    fake_stripe.complete_checkout(session.session_id, "pm_sepa_debit")
    saved = stripe_gateway.setup_session_result(session.session_id)
    assert saved.owner == SessionOwner(customer_id="7", gateway_customer_ref="cus_known")


def test_stripe_reports_the_owner_of_a_payment_session(stripe_gateway, fake_stripe):
    session = stripe_gateway.payment_session_create(payment_request())
    owner = SessionOwner(customer_id="7", gateway_customer_ref="cus_known", reference="CAJ-1")
    assert stripe_gateway.payment_session_result(session.session_id).owner == owner
    fake_stripe.complete_checkout(session.session_id, "pm_card_visa")
    paid = stripe_gateway.payment_session_result(session.session_id)
    assert (paid.status, paid.owner) == (SUCCEEDED, owner)
    # The PaymentIntent Checkout made carries it too (its webhooks).
    intent = fake_stripe.payment_intents[paid.gateway_ref]
    assert (intent["customer"], intent["metadata"]["customer_id"]) == ("cus_known", "7")


def test_stripe_reports_the_owner_of_a_charge_after_3d_secure(stripe_gateway, fake_stripe):
    charge = stripe_gateway.charge(charge_request("pm_card_authenticationRequired"))
    assert charge.status == REQUIRES_ACTION
    fake_stripe.complete_authentication(charge.gateway_ref)
    result = stripe_gateway.charge_status(charge.gateway_ref)
    assert result.status == SUCCEEDED
    assert result.owner == SessionOwner(customer_id="7", gateway_customer_ref="cus_known")


# ---- PayPal (real SDK, fake server) ------------------------------------------------------


def test_paypal_reports_the_reference_of_a_captured_order(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())
    fake_paypal.approve(order.order_id)
    result = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-1")
    assert result.status == SUCCEEDED
    assert result.owner == SessionOwner(reference="2025-000123")


def test_paypal_reports_the_reference_of_a_declined_capture(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())
    fake_paypal.approve(order.order_id)
    fake_paypal.decline_next_capture()
    result = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-1")
    assert result.owner == SessionOwner(reference="2025-000123")
