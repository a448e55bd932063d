"""The pinned Stripe API version (settings.STRIPE_API_VERSION): the fake Stripe checks every
request against that version's OpenAPI description (tests/fakes/stripe_openapi.py and
tests/fakes/specs/), so a parameter the version refuses fails the tests instead of reaching
customers as Stripe's 400. Here: the fake refuses what Stripe would, and accepts what the
gateway sends."""

from decimal import Decimal

import pytest
import stripe
from django.conf import settings

from billing.gateways import card_gateway
from billing.gateways.interface import ChargeRequest, GatewayCustomer, RefundRequest
from tests.billing.gateways.test_stripe_gateway import payment_request, setup_request
from tests.fakes import stripe_openapi
from tests.fakes.stripe_server import API_KEY


def raw_client(fake, version=None):
    """The real SDK, not our gateway: to send what the gateway never would."""
    return stripe.StripeClient(
        API_KEY,
        stripe_version=version or settings.STRIPE_API_VERSION,
        base_addresses={"api": fake.url},
        max_network_retries=0,
    )


SETUP = {
    "mode": "setup",
    "success_url": "https://portal.example/ok",
    "cancel_url": "https://portal.example/no",
    "allowed_payment_method_types": ["card"],
}


def refused(fake, call) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        call()
    [(_, _, error)] = fake.spec_violations
    fake.spec_violations.clear()  # refused on purpose: the fixture must not fail the test
    assert fake.sessions == {} and fake.customers == {}  # nothing was made
    return caught.value


def test_the_pinned_version_is_a_constant_with_its_trimmed_spec():
    assert settings.STRIPE_API_VERSION == "2026-10-28.endive"
    document = stripe_openapi.spec(settings.STRIPE_API_VERSION)
    assert document["info"]["version"] == settings.STRIPE_API_VERSION
    assert (stripe_openapi.SPECS / f"stripe-{settings.STRIPE_API_VERSION}.json").stat().st_size < (
        1_000_000
    )


def test_payment_method_types_removed_in_endive_is_refused(fake_stripe):
    error = refused(
        fake_stripe,
        lambda: raw_client(fake_stripe).v1.checkout.sessions.create(
            params={**SETUP, "payment_method_types": ["card"]}
        ),
    )
    assert error.http_status == 400
    assert error.code == "parameter_unknown"
    assert error.param == "payment_method_types"


def test_an_unknown_nested_parameter_is_refused(fake_stripe):
    options = {"card": {"restrictions": {"brands_blocked": ["american_express"], "nope": "1"}}}
    error = refused(
        fake_stripe,
        lambda: raw_client(fake_stripe).v1.checkout.sessions.create(
            params={**SETUP, "payment_method_options": options}
        ),
    )
    assert error.code == "parameter_unknown"
    assert error.param == "payment_method_options[card][restrictions][nope]"


def test_a_wrong_enum_value_is_refused(fake_stripe):
    error = refused(
        fake_stripe,
        lambda: raw_client(fake_stripe).v1.checkout.sessions.create(
            params={**SETUP, "mode": "subscribe"}
        ),
    )
    assert error.code == "parameter_invalid"
    assert error.param == "mode"


def test_a_missing_required_parameter_is_refused(fake_stripe):
    error = refused(
        fake_stripe,
        lambda: raw_client(fake_stripe).v1.payment_intents.create(params={"amount": 1000}),
    )
    assert error.code == "parameter_missing"
    assert error.param == "currency"


def test_an_unknown_query_parameter_of_a_get_is_refused(fake_stripe):
    error = refused(
        fake_stripe,
        lambda: raw_client(fake_stripe).v1.checkout.sessions.retrieve(
            "cs_test_x", params={"expand": ["setup_intent"], "include": "all"}
        ),
    )
    assert error.code == "parameter_unknown"
    assert error.param == "include"


def test_another_stripe_version_is_refused(fake_stripe):
    error = refused(
        fake_stripe,
        lambda: raw_client(fake_stripe, version="2026-09-30.endive").v1.customers.create(
            params={"email": "anna@example.com"}
        ),
    )
    assert error.code == "api_version_invalid"


def test_everything_the_gateway_sends_is_accepted(fake_stripe):
    gateway = card_gateway()
    setup = gateway.setup_session_create(setup_request())
    fake_stripe.complete_checkout(setup.session_id)
    gateway.setup_session_result(setup.session_id)
    paid = gateway.payment_session_create(payment_request())
    fake_stripe.complete_checkout(paid.session_id)
    gateway.payment_session_result(paid.session_id)
    charge = gateway.charge(
        ChargeRequest(
            customer=GatewayCustomer(7, "anna@example.com", "Anna", setup.gateway_customer_ref),
            method_ref="pm_card_visa",
            amount=Decimal("12.00"),
            currency="EUR",
            idempotency_key="k-1",
            description="Invoice 1",
            off_session=True,
            metadata={"invoice": "1"},
        )
    )
    gateway.charge_status(charge.gateway_ref)
    gateway.refund(
        RefundRequest(
            payment_ref=charge.gateway_ref,
            amount=Decimal("2.00"),
            currency="EUR",
            idempotency_key="r",
        )
    )
    gateway.method_detach("pm_card_visa")

    assert fake_stripe.spec_violations == []
    sessions = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert [s.params["allowed_payment_method_types"] for s in sessions] == [
        ["card", "sepa_debit"],
        ["card"],
    ]
    assert all("payment_method_types" not in s.params for s in sessions)
