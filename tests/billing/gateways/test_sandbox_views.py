"""The stand-in pages through Django's test client: payment mode (amount, reference, a
decline stays on the page, 3-D Secure goes back to Checkout, then to the success URL),
CSRF, and no stand-in once real gateway keys are set."""

from decimal import Decimal

import pytest
from django.test import Client

from billing.gateways.interface import (
    SUCCEEDED,
    GatewayCustomer,
    PaymentSessionRequest,
    PayPalOrderRequest,
    SetupSessionRequest,
)
from billing.gateways.sandbox import SandboxCardGateway, SandboxPayPalGateway

pytestmark = pytest.mark.django_db

CUSTOMER = GatewayCustomer(customer_id=7, email="billing@acme.example", name="Acme SAS")


@pytest.fixture(autouse=True)
def _local(settings):
    settings.PORTAL_BASE_URL = "http://testserver"


def payment_session():
    return SandboxCardGateway().payment_session_create(
        PaymentSessionRequest(
            customer=CUSTOMER,
            amount=Decimal("120.00"),
            currency="EUR",
            description="Invoice CAJ-2026-000002",
            reference="CAJ-2026-000002",
            idempotency_key="invoice:CAJ-2026-000002:card",
            success_url="/invoices/CAJ-2026-000002/?paid={SESSION_ID}",
            cancel_url="/invoices/CAJ-2026-000002/",
        )
    )


def pay(client, url, number):
    return client.post(
        url,
        {"pay_with": "card", "card-number": number, "card-expiry": "12/34", "card-cvc": "123"},
    )


def test_payment_mode_shows_the_amount_and_the_reference(client):
    session = payment_session()
    page = client.get(session.url).content.decode()
    assert "120.00 EUR" in page
    assert "CAJ-2026-000002" in page
    assert "Sandbox: no money moves" in page
    assert "IBAN" not in page.split("Test numbers")[0]  # payment mode takes a card


def test_payment_mode_paid_by_card(client):
    session = payment_session()
    response = pay(client, session.url, "4242424242424242")
    assert response.status_code == 302
    assert response["Location"] == f"/invoices/CAJ-2026-000002/?paid={session.session_id}"
    result = SandboxCardGateway().payment_session_result(session.session_id)
    assert (result.status, result.method.last4) == (SUCCEEDED, "4242")


def test_payment_mode_decline_stays_on_the_page(client):
    session = payment_session()
    response = pay(client, session.url, "4000 0000 0000 9995")
    assert response.status_code == 200
    assert "Your card has insufficient funds." in response.content.decode()


def test_payment_mode_3d_secure_comes_back_through_checkout(client):
    session = payment_session()
    response = pay(client, session.url, "4000 0027 6000 3184")
    authenticate_url = response["Location"]
    assert "/sandbox/authenticate/" in authenticate_url
    back = client.post(authenticate_url, {"action": "complete"})
    assert back["Location"].startswith(f"/sandbox/checkout/{session.session_id}/?payment_intent=")
    done = client.get(back["Location"])
    assert done["Location"] == f"/invoices/CAJ-2026-000002/?paid={session.session_id}"


def test_expired_card_and_bad_cvc_are_field_errors(client):
    session = payment_session()
    response = client.post(
        session.url,
        {
            "pay_with": "card",
            "card-number": "4242424242424242",
            "card-expiry": "01/20",
            "card-cvc": "1",
        },
    )
    page = response.content.decode()
    assert "This card has expired" in page
    assert "Enter the 3 or 4 digits on the card." in page


def test_forms_need_the_csrf_token():
    session = payment_session()
    strict = Client(enforce_csrf_checks=True)
    assert pay(strict, session.url, "4242424242424242").status_code == 403


def test_unknown_ids_are_not_found(client):
    assert client.get("/sandbox/checkout/sb_cs_nope/").status_code == 404
    assert client.get("/sandbox/authenticate/sb_pi_nope/").status_code == 404
    assert client.get("/sandbox/paypal/SBNOPE/").status_code == 404


def test_no_stand_ins_once_real_keys_are_set(client, settings):
    session = SandboxCardGateway().setup_session_create(
        SetupSessionRequest(customer=CUSTOMER, kinds=("card",), success_url="/", cancel_url="/")
    )
    order = SandboxPayPalGateway().order_create(
        PayPalOrderRequest(
            amount=Decimal("1.00"),
            currency="EUR",
            reference="CAJ-1",
            description="",
            idempotency_key="k",
            return_url="/",
            cancel_url="/",
        )
    )
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    settings.PAYPAL_CLIENT_ID = settings.PAYPAL_CLIENT_SECRET = "x"
    assert client.get(session.url).status_code == 404
    assert client.get(order.approve_url).status_code == 404
