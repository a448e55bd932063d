"""The sandbox gateway's stand-in pages in a real browser: Checkout in setup mode (a card
saved, an American Express card refused), PayPal's approval page, the 3-D Secure check,
and the pages on a phone. The customer is logged in to the portal, as when the portal
sends them there; success and return URLs are the portal's Payment Method page."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing.gateways import errors
from billing.gateways.interface import (
    FAILED,
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeRequest,
    GatewayCustomer,
    PayPalOrderRequest,
    SetupSessionRequest,
)
from billing.gateways.sandbox import SandboxCardGateway, SandboxPayPalGateway, sandbox_method_create

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def shopper(page, log_in, customer, live_server, settings):
    """The browser page of the customer's billing contact; the gateway's absolute URLs
    point at the live server."""
    settings.PORTAL_BASE_URL = live_server.url
    log_in(page, customer.contact)
    page.gateway_customer = GatewayCustomer(
        customer_id=customer.pk, email=customer.contact.email, name=customer.name
    )
    return page


def setup_session(page, kinds=("card",)):
    return SandboxCardGateway().setup_session_create(
        SetupSessionRequest(
            customer=page.gateway_customer,
            kinds=kinds,
            success_url="/payment-method/?session={SESSION_ID}",
            cancel_url="/payment-method/?cancelled=1",
        )
    )


def fill_card(page, number):
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Save card").click()


def test_save_a_visa_card_and_land_on_the_success_url(shopper):
    session = setup_session(shopper)
    shopper.goto(session.url)
    expect(shopper.get_by_text("Sandbox: no money moves")).to_be_visible()
    expect(shopper.get_by_text("4242 4242 4242 4242")).to_be_visible()
    fill_card(shopper, "4242 4242 4242 4242")
    shopper.wait_for_url(f"**/payment-method/?session={session.session_id}")
    method = SandboxCardGateway().setup_session_result(session.session_id)
    assert (method.kind, method.brand, method.last4, method.funding) == (
        "card",
        "visa",
        "4242",
        "credit",
    )
    assert (method.exp_month, method.exp_year) == (12, 2034)


def test_american_express_is_refused_and_nothing_redirects(shopper):
    session = setup_session(shopper)
    shopper.goto(session.url)
    fill_card(shopper, "3782 822463 10005")
    expect(shopper.get_by_role("alert")).to_have_text("American Express cards are not accepted")
    assert shopper.url.endswith(f"/sandbox/checkout/{session.session_id}/")
    shopper.goto(session.url)  # still open: nothing was saved
    expect(shopper.get_by_role("button", name="Save card")).to_be_visible()


def test_an_unknown_number_asks_for_a_test_card(shopper):
    session = setup_session(shopper)
    shopper.goto(session.url)
    fill_card(shopper, "4111 1111 1111 1111")
    expect(shopper.get_by_role("alert")).to_have_text("Use a test card: 4242 4242 4242 4242")


def test_save_a_sepa_mandate(shopper):
    session = setup_session(shopper, kinds=("card", "sepa_debit"))
    shopper.goto(session.url)
    shopper.get_by_label("Account holder").fill("Acme SAS")
    shopper.get_by_label("IBAN").fill("DE89 3704 0044 0532 0130 00")
    shopper.get_by_role("button", name="Save SEPA mandate").click()
    shopper.wait_for_url(f"**/payment-method/?session={session.session_id}")
    method = SandboxCardGateway().setup_session_result(session.session_id)
    assert (method.kind, method.last4) == ("sepa_debit", "3000")


def test_cancel_goes_to_the_cancel_url(shopper):
    session = setup_session(shopper)
    shopper.goto(session.url)
    shopper.get_by_role("link", name="Cancel").click()
    shopper.wait_for_url("**/payment-method/?cancelled=1")


def paypal_order(key):
    return SandboxPayPalGateway().order_create(
        PayPalOrderRequest(
            amount=Decimal("30.00"),
            currency="EUR",
            reference="CAJ-2026-000003",
            description="Invoice CAJ-2026-000003",
            idempotency_key=key,
            return_url="/payment-method/?paypal=back",
            cancel_url="/payment-method/?paypal=cancelled",
        )
    )


def test_paypal_order_approved_on_the_stand_in_then_captured(shopper):
    order = paypal_order("paypal:1")
    shopper.goto(order.approve_url)
    expect(shopper.get_by_text("CAJ-2026-000003").first).to_be_visible()
    shopper.get_by_role("button", name="Pay with PayPal").click()
    shopper.wait_for_url(f"**/payment-method/?paypal=back&token={order.order_id}")
    result = SandboxPayPalGateway().order_capture(order_id=order.order_id, idempotency_key="c1")
    assert (result.status, result.amount, result.currency) == (SUCCEEDED, Decimal("30.00"), "EUR")


def test_paypal_declined_funding_source(shopper):
    order = paypal_order("paypal:2")
    shopper.goto(order.approve_url)
    shopper.get_by_label("Simulate a declined funding source").check()
    shopper.get_by_role("button", name="Pay with PayPal").click()
    shopper.wait_for_url(re.compile(rf"token={order.order_id}$"))
    result = SandboxPayPalGateway().order_capture(order_id=order.order_id, idempotency_key="c1")
    assert (result.status, result.error_code) == (FAILED, errors.INSTRUMENT_DECLINED)


def test_3d_secure_completed(shopper):
    method = sandbox_method_create(card_number="4000 0027 6000 3184", exp_month=12, exp_year=2034)
    gateway = SandboxCardGateway()
    result = gateway.charge(
        ChargeRequest(
            customer=shopper.gateway_customer,
            method_ref=method.ref,
            amount=Decimal("48.00"),
            currency="EUR",
            idempotency_key="invoice:CAJ-1:1",
            description="Invoice CAJ-1",
            off_session=False,
            return_url="/payment-method/?authenticated=1",
        )
    )
    assert result.status == REQUIRES_ACTION
    shopper.goto(result.action_url)
    expect(shopper.get_by_text("48.00 EUR")).to_be_visible()
    shopper.get_by_role("button", name="Complete").click()
    shopper.wait_for_url(f"**/payment-method/?authenticated=1&payment_intent={result.gateway_ref}")
    assert gateway.charge_status(result.gateway_ref).status == SUCCEEDED


def test_the_stand_ins_fit_a_phone(shopper):
    shopper.set_viewport_size(PHONE)
    session = setup_session(shopper, kinds=("card", "sepa_debit"))
    order = paypal_order("paypal:3")
    for url in (session.url, order.approve_url):
        shopper.goto(url)
        expect(shopper.get_by_text("Sandbox: no money moves")).to_be_visible()
        assert shopper.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], url
    shopper.goto(session.url)
    fill_card(shopper, "3782 822463 10005")  # the error shown still fits
    expect(shopper.get_by_role("alert")).to_be_visible()
    assert shopper.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
