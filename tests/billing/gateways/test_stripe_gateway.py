"""StripeGateway through the real SDK (stripe-python) against the local fake Stripe API
(tests/fakes/stripe_server.py): what is sent (amounts in cents, idempotency keys), how
answers and failures map, retries, timeouts, and signed webhooks."""

import json
import time
from decimal import Decimal

import pytest
import stripe

from billing.gateways import card_gateway, errors
from billing.gateways.errors import GatewayError
from billing.gateways.interface import (
    FAILED,
    PENDING,
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeRequest,
    GatewayCustomer,
    PaymentSessionRequest,
    RefundRequest,
    SetupSessionRequest,
)
from billing.gateways.stripe import StripeGateway, to_minor

CUSTOMER = GatewayCustomer(
    customer_id=7, email="anna@example.com", name="Anna Beispiel", create_key="test:customer-7"
)
KNOWN = GatewayCustomer(
    customer_id=7, email="anna@example.com", name="Anna", gateway_customer_ref="cus_known"
)


@pytest.fixture
def gateway(fake_stripe):
    gateway = card_gateway()
    assert isinstance(gateway, StripeGateway)  # the facade picks Stripe when keyed
    return gateway


def charge_request(method="pm_card_visa", amount="3816.96", key="pay-1-attempt-1", **kwargs):
    defaults = {
        "customer": GatewayCustomer(7, "anna@example.com", "Anna", "cus_known"),
        "method_ref": method,
        "amount": Decimal(amount),
        "currency": "EUR",
        "idempotency_key": key,
        "description": "Invoice 2025-0042",
        "off_session": True,
        "metadata": {"invoice": "2025-0042", "payment_id": 12},
    }
    return ChargeRequest(**{**defaults, **kwargs})


def intent_posts(fake):
    return fake.requests_to("POST", "/v1/payment_intents")


# ---- amounts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "cents"),
    [("3816.96", 381696), ("0.01", 1), ("12.5", 1250), ("100", 10000), ("19.99", 1999)],
)
def test_amounts_convert_to_cents_exactly(amount, cents):
    assert to_minor(Decimal(amount)) == cents


def test_a_fraction_of_a_cent_is_refused_not_rounded():
    with pytest.raises(GatewayError) as caught:
        to_minor(Decimal("10.005"))
    assert caught.value.code == errors.INVALID_REQUEST


# ---- charge -------------------------------------------------------------------------


def test_charge_succeeds_and_sends_cents_key_and_metadata(gateway, fake_stripe):
    result = gateway.charge(charge_request())

    assert result.status == SUCCEEDED
    assert result.gateway_ref.startswith("pi_")
    assert result.amount == Decimal("3816.96")
    assert result.currency == "EUR"
    assert result.method.brand == "visa" and result.method.last4 == "4242"
    [sent] = intent_posts(fake_stripe)
    assert sent.idempotency_key == "pay-1-attempt-1"
    assert sent.params["amount"] == "381696"
    assert sent.params["currency"] == "eur"
    assert sent.params["customer"] == "cus_known"
    assert sent.params["payment_method"] == "pm_card_visa"
    assert sent.params["confirm"] == "true"
    assert sent.params["off_session"] == "true"
    # customer_id: whose charge, read back after 3-D Secure (SessionOwner).
    assert sent.params["metadata"] == {
        "invoice": "2025-0042",
        "payment_id": "12",
        "customer_id": "7",
    }
    assert len(fake_stripe.charges) == 1


def test_the_same_idempotency_key_twice_charges_once(gateway, fake_stripe):
    first = gateway.charge(charge_request())
    second = gateway.charge(charge_request())

    assert second == first
    assert len(intent_posts(fake_stripe)) == 2
    assert len(fake_stripe.charges) == 1


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("pm_card_chargeDeclined", errors.CARD_DECLINED),
        ("pm_card_chargeDeclinedInsufficientFunds", errors.INSUFFICIENT_FUNDS),
        ("pm_card_authenticationRequired", errors.AUTHENTICATION_REQUIRED),
    ],
)
def test_declines_are_failed_results_with_the_payment_intent(gateway, fake_stripe, method, code):
    result = gateway.charge(charge_request(method=method, off_session=True))

    assert result.status == FAILED
    assert result.error_code == code
    assert result.error_message
    [intent] = fake_stripe.charges
    assert result.gateway_ref == intent["id"]
    assert result.amount == Decimal("3816.96")


def test_3d_secure_with_the_customer_returns_the_redirect_page(gateway, fake_stripe):
    result = gateway.charge(
        charge_request(
            method="pm_card_authenticationRequired",
            off_session=False,
            return_url="https://portal.example/payments/12/return",
        )
    )

    assert result.status == REQUIRES_ACTION
    assert result.action_url.startswith("https://hooks.stripe.com/3d_secure_2/")
    [sent] = intent_posts(fake_stripe)
    assert sent.params["off_session"] == "false"
    assert sent.params["return_url"] == "https://portal.example/payments/12/return"


def test_off_session_charges_refuse_redirect_methods_instead_of_a_return_url(gateway, fake_stripe):
    gateway.charge(charge_request())

    [sent] = intent_posts(fake_stripe)
    assert "return_url" not in sent.params
    assert sent.params["automatic_payment_methods"] == {
        "enabled": "true",
        "allow_redirects": "never",
    }


def test_sepa_debit_is_pending(gateway):
    result = gateway.charge(charge_request(method="pm_sepa_debit"))

    assert result.status == PENDING
    assert result.method.kind == "sepa_debit" and result.method.last4 == "3000"


def test_an_unknown_method_is_an_invalid_request_error(gateway):
    with pytest.raises(GatewayError) as caught:
        gateway.charge(charge_request(method="pm_nope"))

    assert caught.value.code == errors.INVALID_REQUEST
    assert caught.value.may_retry is False


def test_a_wrong_key_is_not_configured(gateway, settings):
    settings.STRIPE_SECRET_KEY = "sk_test_wrong"

    with pytest.raises(GatewayError) as caught:
        gateway.charge(charge_request())

    assert caught.value.code == errors.NOT_CONFIGURED
    assert caught.value.may_retry is False


# ---- outages, retries, timeouts ---------------------------------------------------------


def test_500_then_success_is_retried_with_the_same_key_and_charges_once(
    gateway, fake_stripe, settings
):
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 2
    fake_stripe.fail_next(2)

    result = gateway.charge(charge_request())

    assert result.status == SUCCEEDED
    sent = intent_posts(fake_stripe)
    assert len(sent) == 3
    assert {r.idempotency_key for r in sent} == {"pay-1-attempt-1"}
    assert len(fake_stripe.charges) == 1


def test_500_without_retries_left_raises_a_retryable_error(gateway, fake_stripe, settings):
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    fake_stripe.fail_next(1)

    with pytest.raises(GatewayError) as caught:
        gateway.charge(charge_request())

    assert caught.value.code == errors.UNAVAILABLE
    assert caught.value.may_retry is True
    assert fake_stripe.charges == []


def test_rate_limit_is_retryable(gateway, fake_stripe, settings):
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    fake_stripe.fail_next(1, status=429)

    with pytest.raises(GatewayError) as caught:
        gateway.charge(charge_request())

    assert caught.value.code == errors.RATE_LIMITED
    assert caught.value.may_retry is True


def test_a_timeout_raises_unavailable_and_may_retry(gateway, fake_stripe, settings):
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.3
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    fake_stripe.slow_next(1, seconds=1.5)

    with pytest.raises(GatewayError) as caught:
        gateway.charge_status("pi_whatever")

    assert caught.value.code == errors.UNAVAILABLE
    assert caught.value.may_retry is True


def test_nothing_listening_raises_unavailable(gateway, settings, fake_stripe):
    fake_stripe.stop()
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0

    with pytest.raises(GatewayError) as caught:
        gateway.charge(charge_request())

    assert caught.value.code == errors.UNAVAILABLE
    assert caught.value.may_retry is True


def test_timeout_after_charging_then_a_retry_with_the_same_key_does_not_charge_twice(
    gateway, fake_stripe, settings
):
    """Stripe charged, the answer was lost to our timeout: our caller retries the attempt
    with its key and gets the stored answer."""
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.3
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    fake_stripe.slow_next(1, seconds=1.5)

    with pytest.raises(GatewayError) as caught:
        gateway.charge(charge_request())
    assert caught.value.code == errors.UNAVAILABLE and caught.value.may_retry
    assert len(fake_stripe.charges) == 1  # the fake did charge

    result = gateway.charge(charge_request())

    assert result.status == SUCCEEDED
    assert result.gateway_ref == fake_stripe.charges[0]["id"]
    assert len(fake_stripe.charges) == 1
    assert [r.idempotency_key for r in intent_posts(fake_stripe)] == ["pay-1-attempt-1"] * 2


def test_the_sdk_retries_a_timeout_with_the_same_key_and_charges_once(
    gateway, fake_stripe, settings
):
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.3
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 1
    fake_stripe.slow_next(1, seconds=1.5)

    result = gateway.charge(charge_request())

    assert result.status == SUCCEEDED
    assert len(fake_stripe.charges) == 1
    assert [r.idempotency_key for r in intent_posts(fake_stripe)] == ["pay-1-attempt-1"] * 2


def test_no_key_is_not_configured(settings):
    settings.STRIPE_SECRET_KEY = ""

    with pytest.raises(GatewayError) as caught:
        StripeGateway().charge(charge_request())

    assert caught.value.code == errors.NOT_CONFIGURED


# ---- charge_status, refund, detach --------------------------------------------------------


def test_charge_status_reads_the_payment_intent(gateway, fake_stripe):
    charged = gateway.charge(charge_request(method="pm_sepa_debit"))
    fake_stripe.payment_intents[charged.gateway_ref]["status"] = "succeeded"

    result = gateway.charge_status(charged.gateway_ref)

    assert result.status == SUCCEEDED
    assert result.amount == Decimal("3816.96")
    assert result.method.kind == "sepa_debit"


def test_charge_status_of_a_declined_intent_is_failed_with_its_code(gateway):
    declined = gateway.charge(charge_request(method="pm_card_chargeDeclinedInsufficientFunds"))

    result = gateway.charge_status(declined.gateway_ref)

    assert result.status == FAILED
    assert result.error_code == errors.INSUFFICIENT_FUNDS


def test_refund_sends_cents_and_its_key(gateway, fake_stripe):
    charged = gateway.charge(charge_request())

    refund = gateway.refund(
        RefundRequest(
            payment_ref=charged.gateway_ref,
            amount=Decimal("1000.48"),
            currency="EUR",
            idempotency_key="refund-3",
        )
    )

    assert refund.status == SUCCEEDED
    assert refund.gateway_ref.startswith("re_")
    [sent] = fake_stripe.requests_to("POST", "/v1/refunds")
    assert sent.params == {"payment_intent": charged.gateway_ref, "amount": "100048"}
    assert sent.idempotency_key == "refund-3"


def test_refunding_more_than_was_paid_is_an_invalid_request(gateway):
    charged = gateway.charge(charge_request(amount="10.00"))

    with pytest.raises(GatewayError) as caught:
        gateway.refund(RefundRequest(charged.gateway_ref, Decimal("10.01"), "EUR", "refund-4"))

    assert caught.value.code == errors.INVALID_REQUEST


def test_method_detach(gateway, fake_stripe):
    fake_stripe.payment_methods["pm_card_visa"]["customer"] = "cus_known"

    gateway.method_detach("pm_card_visa")

    assert fake_stripe.payment_methods["pm_card_visa"]["customer"] is None
    assert fake_stripe.requests_to("POST", "/v1/payment_methods/pm_card_visa/detach")


# ---- Checkout: saving a method -------------------------------------------------------------


def setup_request(customer=CUSTOMER, kinds=("card", "sepa_debit")):
    return SetupSessionRequest(
        customer=customer,
        kinds=kinds,
        success_url="https://portal.example/methods/saved?session={SESSION_ID}",
        cancel_url="https://portal.example/methods",
    )


def test_setup_session_creates_the_customer_and_a_setup_checkout(gateway, fake_stripe):
    session = gateway.setup_session_create(setup_request())

    assert session.session_id.startswith("cs_test_")
    assert session.url.startswith("https://checkout.stripe.com/")
    [customer] = fake_stripe.requests_to("POST", "/v1/customers")
    assert customer.params["email"] == "anna@example.com"
    assert customer.params["metadata"] == {"customer_id": "7"}
    assert session.gateway_customer_ref == fake_stripe.sessions[session.session_id]["customer"]
    assert session.gateway_customer_ref.startswith("cus_")
    [sent] = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert sent.params["mode"] == "setup"
    assert sent.params["allowed_payment_method_types"] == ["card", "sepa_debit"]
    assert sent.params["success_url"] == (
        "https://portal.example/methods/saved?session={CHECKOUT_SESSION_ID}"
    )
    assert sent.params["cancel_url"] == "https://portal.example/methods"
    assert sent.params["payment_method_options"]["card"]["restrictions"] == {
        "brands_blocked": ["american_express"],
        "funding_types_blocked": ["prepaid"],
    }


def test_setup_session_reuses_a_known_customer(gateway, fake_stripe):
    fake_stripe.customers["cus_known"] = {"id": "cus_known", "object": "customer"}

    session = gateway.setup_session_create(setup_request(KNOWN, kinds=("sepa_debit",)))

    assert session.gateway_customer_ref == "cus_known"
    assert fake_stripe.requests_to("POST", "/v1/customers") == []
    [sent] = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert "payment_method_options" not in sent.params  # no card, no card restrictions


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("pm_card_visa", ("card", "visa", "4242", 12, 2034, "credit")),
        ("pm_card_amex", ("card", "amex", "8431", 12, 2034, "credit")),
        ("pm_card_visa_prepaid", ("card", "visa", "5556", 12, 2034, "prepaid")),
        ("pm_sepa_debit", ("sepa_debit", "", "3000", None, None, "")),
    ],
)
def test_setup_session_result_describes_the_saved_method(gateway, fake_stripe, method, expected):
    session = gateway.setup_session_create(setup_request())
    fake_stripe.complete_checkout(session.session_id, method)

    saved = gateway.setup_session_result(session.session_id)

    assert saved.gateway_ref == method
    assert (
        saved.kind,
        saved.brand,
        saved.last4,
        saved.exp_month,
        saved.exp_year,
        saved.funding,
    ) == expected
    [get] = fake_stripe.requests_to("GET", f"/v1/checkout/sessions/{session.session_id}")
    assert get.params["expand"] == ["setup_intent.payment_method", "setup_intent.mandate"]
    # A card has no mandate; a SEPA debit's comes from the expanded Mandate (next test).
    assert saved.mandate_ref == ("FAKEMANDATE00001" if method == "pm_sepa_debit" else "")


def test_a_saved_sepa_debit_carries_its_mandate_reference(gateway, fake_stripe):
    session = gateway.setup_session_create(setup_request(kinds=("sepa_debit",)))
    fake_stripe.complete_checkout(session.session_id, "pm_sepa_debit")

    saved = gateway.setup_session_result(session.session_id)

    # The Mandate's payment_method_details.sepa_debit.reference, read through the expand.
    (mandate,) = fake_stripe.mandates.values()
    assert mandate["payment_method_details"]["sepa_debit"]["reference"] == "FAKEMANDATE00001"
    assert (saved.kind, saved.mandate_ref) == ("sepa_debit", "FAKEMANDATE00001")


def test_setup_session_result_before_completion_is_an_error(gateway):
    session = gateway.setup_session_create(setup_request())

    with pytest.raises(GatewayError) as caught:
        gateway.setup_session_result(session.session_id)

    assert caught.value.code == errors.INVALID_REQUEST


def test_an_unknown_session_is_an_invalid_request(gateway):
    with pytest.raises(GatewayError) as caught:
        gateway.setup_session_result("cs_test_nope")

    assert caught.value.code == errors.INVALID_REQUEST


# ---- Checkout: paying once ---------------------------------------------------------------


def payment_request(**kwargs):
    defaults = {
        "customer": CUSTOMER,
        "amount": Decimal("3816.96"),
        "currency": "EUR",
        "description": "Invoice 2025-0042",
        "reference": "2025-0042",
        "idempotency_key": "invoice-42-checkout-1",
        "success_url": "https://portal.example/pay/done?session={SESSION_ID}",
        "cancel_url": "https://portal.example/invoices/42",
        "metadata": {"invoice_id": 42},
    }
    return PaymentSessionRequest(**{**defaults, **kwargs})


def test_payment_session_sends_one_line_in_cents_with_the_reference_and_key(gateway, fake_stripe):
    session = gateway.payment_session_create(payment_request())

    assert session.session_id.startswith("cs_test_")
    assert session.gateway_customer_ref.startswith("cus_")
    [customer] = fake_stripe.requests_to("POST", "/v1/customers")
    assert customer.idempotency_key == "test:customer-7"
    [sent] = fake_stripe.requests_to("POST", "/v1/checkout/sessions")
    assert sent.idempotency_key == "invoice-42-checkout-1"
    assert sent.params["mode"] == "payment"
    [line] = sent.params["line_items"]
    assert line["quantity"] == "1"
    assert line["price_data"]["unit_amount"] == "381696"
    assert line["price_data"]["currency"] == "eur"
    assert sent.params["metadata"] == {
        "invoice_id": "42",
        "reference": "2025-0042",
        "customer_id": "7",
    }
    assert sent.params["payment_intent_data"]["metadata"]["reference"] == "2025-0042"
    assert (
        sent.params["success_url"]
        == "https://portal.example/pay/done?session={CHECKOUT_SESSION_ID}"
    )


def test_payment_session_result_paid(gateway, fake_stripe):
    session = gateway.payment_session_create(payment_request())
    fake_stripe.complete_checkout(session.session_id, "pm_card_visa")

    result = gateway.payment_session_result(session.session_id)

    assert result.status == SUCCEEDED
    assert result.amount == Decimal("3816.96")
    assert result.currency == "EUR"
    assert result.gateway_ref.startswith("pi_")
    assert result.method.brand == "visa"
    assert fake_stripe.payment_intents[result.gateway_ref]["metadata"]["reference"] == "2025-0042"


def test_payment_session_result_declined(gateway, fake_stripe):
    session = gateway.payment_session_create(payment_request())
    fake_stripe.complete_checkout(session.session_id, "pm_card_chargeDeclined")

    result = gateway.payment_session_result(session.session_id)

    assert result.status == FAILED
    assert result.error_code == errors.CARD_DECLINED


def test_payment_session_result_not_paid_yet(gateway):
    session = gateway.payment_session_create(payment_request())

    result = gateway.payment_session_result(session.session_id)

    assert result.status == REQUIRES_ACTION
    assert result.action_url == session.url
    assert result.amount == Decimal("3816.96")


# ---- webhooks ----------------------------------------------------------------------------


def event_body(**overrides):
    event = {
        "id": "evt_1",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": 1767225600,
        "type": "payment_intent.succeeded",
        "livemode": False,
        "data": {
            "object": {
                "id": "pi_1",
                "object": "payment_intent",
                "amount": 381696,
                "currency": "eur",
                "status": "succeeded",
                "metadata": {"reference": "2025-0042"},
            }
        },
        **overrides,
    }
    return json.dumps(event).encode()


def sign(payload: bytes, secret="whsec_test", timestamp=None) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=timestamp
    )


def test_a_signed_event_is_parsed(gateway):
    payload = event_body()

    event = gateway.webhook_event(payload=payload, signature=sign(payload))

    assert event.provider == "stripe"
    assert event.event_id == "evt_1"
    assert event.type == "payment_intent.succeeded"
    assert event.created == 1767225600
    assert event.data["id"] == "pi_1"
    assert event.data["metadata"] == {"reference": "2025-0042"}
    assert type(event.data) is dict
    assert event.payload == json.loads(payload)


@pytest.mark.parametrize(
    "case", ["other secret", "changed body", "no header", "garbage header", "old timestamp"]
)
def test_bad_signatures_are_refused(gateway, case):
    payload = event_body()
    signature = sign(payload)
    if case == "other secret":
        signature = sign(payload, secret="whsec_other")
    elif case == "changed body":
        payload = event_body(type="charge.refunded")
    elif case == "no header":
        signature = ""
    elif case == "garbage header":
        signature = "nonsense"
    elif case == "old timestamp":
        signature = sign(payload, timestamp=int(time.time()) - 600)

    with pytest.raises(GatewayError) as caught:
        gateway.webhook_event(payload=payload, signature=signature)

    assert caught.value.code == errors.BAD_SIGNATURE


@pytest.mark.parametrize("payload", [b"not json at all", b"\xff\xfe binary"])
def test_a_body_that_is_not_json_is_refused(gateway, payload):
    signature = "t=1,v1=00"
    if payload.isascii():
        signature = sign(payload)  # correctly signed, still not an event

    with pytest.raises(GatewayError) as caught:
        gateway.webhook_event(payload=payload, signature=signature)

    assert caught.value.code == errors.BAD_SIGNATURE


def test_no_webhook_secret_is_not_configured(gateway, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    payload = event_body()

    with pytest.raises(GatewayError) as caught:
        gateway.webhook_event(payload=payload, signature=sign(payload))

    assert caught.value.code == errors.NOT_CONFIGURED


def test_tests_never_use_a_real_stripe_key_unless_faked(settings):
    assert settings.STRIPE_SECRET_KEY == ""
    assert settings.STRIPE_API_BASE == ""
