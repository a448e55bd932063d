"""The sandbox gateway at the gateway level: Stripe's test numbers decide the outcomes,
the same idempotency key never charges twice, SEPA debits settle later, refunds.

The stand-in pages' own steps (saving a card, 3-D Secure, approving a PayPal order) are
called as the views call them; tests/e2e/test_sandbox_pages.py drives the real pages."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from billing.gateways import card_gateway, errors, paypal_gateway, sandbox
from billing.gateways.errors import GatewayError
from billing.gateways.interface import (
    FAILED,
    PENDING,
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeRequest,
    GatewayCustomer,
    PaymentSessionRequest,
    PayPalOrderRequest,
    RefundRequest,
    SetupSessionRequest,
)
from billing.gateways.sandbox import SandboxCardGateway, SandboxPayPalGateway
from billing.models import SandboxRecord

pytestmark = pytest.mark.django_db

CUSTOMER = GatewayCustomer(customer_id=7, email="billing@acme.example", name="Acme SAS")
VISA = "4242 4242 4242 4242"
MASTERCARD = "5555 5555 5555 4444"
AMEX = "3782 822463 10005"
PREPAID = "4000 0566 5566 5556"
DECLINED = "4000 0000 0000 0002"
NO_FUNDS = "4000 0000 0000 9995"
THREE_D_SECURE = "4000 0027 6000 3184"
IBAN_OK = "DE89 3704 0044 0532 0130 00"
IBAN_FAILS = "AT86 1904 3002 3547 3202"


@pytest.fixture
def gateway():
    return SandboxCardGateway()


def setup_session(gateway, kinds=("card", "sepa_debit")):
    return gateway.setup_session_create(
        SetupSessionRequest(
            customer=CUSTOMER,
            kinds=kinds,
            success_url="https://portal.example/payment-method/?session={SESSION_ID}",
            cancel_url="https://portal.example/payment-method/",
        )
    )


def saved(gateway, **fields):
    """A method saved through a setup session, as the Checkout stand-in does it."""
    session = setup_session(gateway)
    if "card_number" in fields:
        fields = {"exp_month": 12, "exp_year": 2034, **fields}
    sandbox.sandbox_setup_complete(session.session_id, **fields)
    return gateway.setup_session_result(session.session_id)


def charge(gateway, method_ref, key="invoice:CAJ-1:1", amount="48.00", return_url=""):
    return gateway.charge(
        ChargeRequest(
            customer=CUSTOMER,
            method_ref=method_ref,
            amount=Decimal(amount),
            currency="EUR",
            idempotency_key=key,
            description="Invoice CAJ-1",
            off_session=True,
            return_url=return_url,
        )
    )


def test_the_facade_picks_the_sandbox_without_keys(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYPAL_CLIENT_ID = settings.PAYPAL_CLIENT_SECRET = ""
    assert isinstance(card_gateway(), SandboxCardGateway)
    assert isinstance(paypal_gateway(), SandboxPayPalGateway)
    assert card_gateway().name == paypal_gateway().name == "sandbox"


def test_setup_session_url_is_the_local_checkout_stand_in(gateway, settings):
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000/"
    session = setup_session(gateway)
    assert session.url == f"http://127.0.0.1:8000/sandbox/checkout/{session.session_id}/"
    assert sandbox.sandbox_success_url(sandbox.sandbox_session(session.session_id)) == (
        f"https://portal.example/payment-method/?session={session.session_id}"
    )


def test_setup_result_before_the_customer_saved_anything(gateway):
    session = setup_session(gateway)
    with pytest.raises(GatewayError) as caught:
        gateway.setup_session_result(session.session_id)
    assert caught.value.code == errors.INVALID_REQUEST


@pytest.mark.parametrize(
    "number, brand",
    [(VISA, "visa"), (MASTERCARD, "mastercard"), (THREE_D_SECURE, "visa")],
)
def test_saved_card_describes_itself(gateway, number, brand):
    method = saved(gateway, card_number=number)
    assert method.kind == "card"
    assert method.brand == brand
    assert method.last4 == number[-4:]
    assert (method.exp_month, method.exp_year) == (12, 2034)
    assert method.funding == "credit"
    assert method.gateway_ref.startswith("sb_pm_")


@pytest.mark.parametrize(
    "number, message",
    [
        (AMEX, "American Express cards are not accepted"),
        (PREPAID, "Prepaid cards are not accepted"),
    ],
)
def test_amex_and_prepaid_are_refused_on_the_stand_in(gateway, number, message):
    session = setup_session(gateway)
    with pytest.raises(GatewayError) as caught:
        sandbox.sandbox_setup_complete(
            session.session_id, card_number=number, exp_month=1, exp_year=2034
        )
    assert caught.value.code == errors.CARD_REFUSED_BY_POLICY
    assert caught.value.message == message
    with pytest.raises(GatewayError):  # nothing was saved
        gateway.setup_session_result(session.session_id)


@pytest.mark.parametrize(
    "number, brand, funding", [(AMEX, "amex", "credit"), (PREPAID, "visa", "prepaid")]
)
def test_a_refused_card_still_says_what_it_is_for_our_own_checks(number, brand, funding):
    record = sandbox.sandbox_method_create(card_number=number, exp_month=1, exp_year=2034)
    method = sandbox._saved_method(record)
    assert (method.brand, method.funding) == (brand, funding)


def test_any_other_number_asks_for_a_test_card(gateway):
    session = setup_session(gateway)
    with pytest.raises(GatewayError) as caught:
        sandbox.sandbox_setup_complete(
            session.session_id, card_number="4111 1111 1111 1111", exp_month=1, exp_year=2034
        )
    assert caught.value.message == "Use a test card: 4242 4242 4242 4242"


def test_a_session_saves_only_the_kinds_it_was_made_for(gateway):
    session = setup_session(gateway, kinds=("card",))
    with pytest.raises(GatewayError) as caught:
        sandbox.sandbox_setup_complete(session.session_id, iban=IBAN_OK, holder="Acme SAS")
    assert caught.value.code == errors.INVALID_REQUEST


def test_a_card_charge_succeeds(gateway):
    method = saved(gateway, card_number=VISA)
    result = charge(gateway, method.gateway_ref)
    assert result.status == SUCCEEDED
    assert (result.amount, result.currency) == (Decimal("48.00"), "EUR")
    assert result.gateway_ref.startswith("sb_pi_")
    assert result.method == method
    assert gateway.charge_status(result.gateway_ref).status == SUCCEEDED


@pytest.mark.parametrize(
    "number, code",
    [(DECLINED, errors.CARD_DECLINED), (NO_FUNDS, errors.INSUFFICIENT_FUNDS)],
)
def test_declines_are_failed_results_with_a_code(gateway, number, code):
    method = saved(gateway, card_number=number)
    result = charge(gateway, method.gateway_ref)
    assert result.status == FAILED
    assert result.error_code == code
    assert result.error_message
    assert gateway.charge_status(result.gateway_ref).error_code == code


def test_the_same_idempotency_key_charges_once(gateway):
    method = saved(gateway, card_number=VISA)
    first = charge(gateway, method.gateway_ref, key="invoice:CAJ-1:1")
    again = charge(gateway, method.gateway_ref, key="invoice:CAJ-1:1")
    other = charge(gateway, method.gateway_ref, key="invoice:CAJ-1:2")
    assert again == first
    assert other.gateway_ref != first.gateway_ref
    assert SandboxRecord.objects.filter(kind="charge").count() == 2


def test_a_declined_charge_is_not_retried_under_the_same_key(gateway):
    method = saved(gateway, card_number=DECLINED)
    first = charge(gateway, method.gateway_ref)
    assert charge(gateway, method.gateway_ref) == first
    assert SandboxRecord.objects.filter(kind="charge").count() == 1


def test_3d_secure_completed(gateway, settings):
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000"
    method = saved(gateway, card_number=THREE_D_SECURE)
    result = charge(gateway, method.gateway_ref, return_url="https://portal.example/paid/?x=1")
    assert result.status == REQUIRES_ACTION
    assert result.action_url == f"http://127.0.0.1:8000/sandbox/authenticate/{result.gateway_ref}/"
    back = sandbox.sandbox_authenticate(result.gateway_ref, complete=True)
    assert back == f"https://portal.example/paid/?x=1&payment_intent={result.gateway_ref}"
    settled = gateway.charge_status(result.gateway_ref)
    assert (settled.status, settled.action_url) == (SUCCEEDED, "")


def test_3d_secure_failed(gateway):
    method = saved(gateway, card_number=THREE_D_SECURE)
    result = charge(gateway, method.gateway_ref, return_url="https://portal.example/paid/")
    sandbox.sandbox_authenticate(result.gateway_ref, complete=False)
    failed = gateway.charge_status(result.gateway_ref)
    assert (failed.status, failed.error_code) == (FAILED, errors.AUTHENTICATION_REQUIRED)
    # A second click changes nothing.
    sandbox.sandbox_authenticate(result.gateway_ref, complete=True)
    assert gateway.charge_status(result.gateway_ref).status == FAILED


def test_sepa_mandate_is_saved_with_last4(gateway):
    method = saved(gateway, iban=IBAN_OK, holder="Acme SAS")
    assert (method.kind, method.last4, method.brand) == ("sepa_debit", "3000", "")


def test_an_invalid_iban_is_refused(gateway):
    session = setup_session(gateway)
    with pytest.raises(GatewayError) as caught:
        sandbox.sandbox_setup_complete(
            session.session_id, iban="DE89 3704 0044 0532 0130 01", holder="Acme SAS"
        )
    assert caught.value.code == errors.INVALID_REQUEST


def test_sepa_pending_then_settled(gateway, settings):
    settings.SANDBOX_SEPA_SETTLE_SECONDS = 60
    method = saved(gateway, iban=IBAN_OK, holder="Acme SAS")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        result = charge(gateway, method.gateway_ref)
        assert result.status == PENDING
        assert gateway.charge_status(result.gateway_ref).status == PENDING
        traveller.shift(timedelta(seconds=60))
        assert gateway.charge_status(result.gateway_ref).status == SUCCEEDED


def test_sepa_pending_then_failed_for_the_failing_iban(gateway, settings):
    settings.SANDBOX_SEPA_SETTLE_SECONDS = 0
    method = saved(gateway, iban=IBAN_FAILS, holder="Acme SAS")
    assert method.last4 == "3202"
    result = charge(gateway, method.gateway_ref)
    assert result.status == PENDING
    settled = gateway.charge_status(result.gateway_ref)
    assert (settled.status, settled.error_code) == (FAILED, errors.SEPA_DEBIT_FAILED)


def test_a_detached_method_cannot_be_charged(gateway):
    method = saved(gateway, card_number=VISA)
    gateway.method_detach(method.gateway_ref)
    gateway.method_detach(method.gateway_ref)  # twice is harmless
    with pytest.raises(GatewayError) as caught:
        charge(gateway, method.gateway_ref)
    assert caught.value.code == errors.INVALID_REQUEST


def test_unknown_refs_are_invalid_requests(gateway):
    for call in (
        lambda: charge(gateway, "sb_pm_nope"),
        lambda: gateway.charge_status("sb_pi_nope"),
        lambda: gateway.method_detach("sb_pm_nope"),
        lambda: gateway.setup_session_result("sb_cs_nope"),
    ):
        with pytest.raises(GatewayError) as caught:
            call()
        assert caught.value.code == errors.INVALID_REQUEST


def refund(gateway, payment_ref, amount, key):
    return gateway.refund(
        RefundRequest(
            payment_ref=payment_ref, amount=Decimal(amount), currency="EUR", idempotency_key=key
        )
    )


def test_refunds_partial_then_the_rest_and_never_more(gateway):
    method = saved(gateway, card_number=VISA)
    paid = charge(gateway, method.gateway_ref)
    first = refund(gateway, paid.gateway_ref, "10.00", "refund:1")
    assert first.status == SUCCEEDED
    assert refund(gateway, paid.gateway_ref, "10.00", "refund:1") == first  # same key: once
    refund(gateway, paid.gateway_ref, "38.00", "refund:2")
    with pytest.raises(GatewayError) as caught:
        refund(gateway, paid.gateway_ref, "0.01", "refund:3")
    assert caught.value.code == errors.INVALID_REQUEST
    assert SandboxRecord.objects.filter(kind="refund").count() == 2


def test_a_failed_charge_cannot_be_refunded(gateway):
    method = saved(gateway, card_number=DECLINED)
    failed = charge(gateway, method.gateway_ref)
    with pytest.raises(GatewayError):
        refund(gateway, failed.gateway_ref, "1.00", "refund:1")


def payment_session(gateway, key="invoice:CAJ-2:new-card"):
    return gateway.payment_session_create(
        PaymentSessionRequest(
            customer=CUSTOMER,
            amount=Decimal("120.00"),
            currency="eur",
            description="Invoice CAJ-2",
            reference="CAJ-2",
            idempotency_key=key,
            success_url="/?paid={SESSION_ID}",
            cancel_url="/",
        )
    )


def test_payment_session_same_key_same_session(gateway):
    assert payment_session(gateway) == payment_session(gateway)
    assert payment_session(gateway, key="other") != payment_session(gateway)


def test_payment_session_paid_by_card(gateway):
    session = payment_session(gateway)
    before = gateway.payment_session_result(session.session_id)
    assert (before.status, before.action_url) == (REQUIRES_ACTION, session.url)
    result = sandbox.sandbox_payment_pay(
        session.session_id, card_number=MASTERCARD, exp_month=1, exp_year=2034
    )
    assert result.status == SUCCEEDED
    after = gateway.payment_session_result(session.session_id)
    assert (after.status, after.amount, after.currency) == (SUCCEEDED, Decimal("120.00"), "EUR")
    assert after.method.brand == "mastercard"
    with pytest.raises(GatewayError):  # never paid twice
        sandbox.sandbox_payment_pay(
            session.session_id, card_number=VISA, exp_month=1, exp_year=2034
        )


def test_payment_session_declined_then_paid_by_another_card(gateway):
    session = payment_session(gateway)
    declined = sandbox.sandbox_payment_pay(
        session.session_id, card_number=DECLINED, exp_month=1, exp_year=2034
    )
    assert declined.error_code == errors.CARD_DECLINED
    paid = sandbox.sandbox_payment_pay(
        session.session_id, card_number=VISA, exp_month=1, exp_year=2034
    )
    assert gateway.payment_session_result(session.session_id) == paid


def test_payment_session_refuses_amex(gateway):
    session = payment_session(gateway)
    with pytest.raises(GatewayError) as caught:
        sandbox.sandbox_payment_pay(
            session.session_id, card_number=AMEX, exp_month=1, exp_year=2034
        )
    assert caught.value.code == errors.CARD_REFUSED_BY_POLICY


def test_webhooks_are_refused_there_are_none(gateway):
    with pytest.raises(GatewayError) as caught:
        gateway.webhook_event(payload=b"{}", signature="t=1,v1=x")
    assert caught.value.code == errors.BAD_SIGNATURE
    with pytest.raises(GatewayError) as caught:
        SandboxPayPalGateway().webhook_event(headers={}, body=b"{}")
    assert caught.value.code == errors.BAD_SIGNATURE


# ---- PayPal ----------------------------------------------------------------------------


@pytest.fixture
def paypal():
    return SandboxPayPalGateway()


def order(paypal, key="invoice:CAJ-3:paypal"):
    return paypal.order_create(
        PayPalOrderRequest(
            amount=Decimal("30.00"),
            currency="EUR",
            reference="CAJ-3",
            description="Invoice CAJ-3",
            idempotency_key=key,
            return_url="https://portal.example/paypal/return/?invoice=CAJ-3",
            cancel_url="https://portal.example/invoices/CAJ-3/",
        )
    )


def test_paypal_order_created_approved_captured(paypal, settings):
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8000"
    created = order(paypal)
    assert created.status == "CREATED"
    assert created.approve_url == f"http://127.0.0.1:8000/sandbox/paypal/{created.order_id}/"
    assert order(paypal) == created  # same PayPal-Request-Id, same order
    back = sandbox.sandbox_order_approve(created.order_id)
    assert back == f"https://portal.example/paypal/return/?invoice=CAJ-3&token={created.order_id}"
    result = paypal.order_capture(order_id=created.order_id, idempotency_key="capture:1")
    assert (result.status, result.gateway_ref, result.amount) == (
        SUCCEEDED,
        created.order_id,
        Decimal("30.00"),
    )
    # Captured once: the same key, or another, returns the same capture.
    assert paypal.order_capture(order_id=created.order_id, idempotency_key="capture:1") == result
    assert paypal.order_capture(order_id=created.order_id, idempotency_key="capture:2") == result


def test_paypal_capture_before_approval_is_refused(paypal):
    created = order(paypal)
    with pytest.raises(GatewayError) as caught:
        paypal.order_capture(order_id=created.order_id, idempotency_key="capture:1")
    assert caught.value.code == errors.INVALID_REQUEST


def test_paypal_declined_funding_source(paypal):
    created = order(paypal)
    sandbox.sandbox_order_approve(created.order_id, decline_funding=True)
    result = paypal.order_capture(order_id=created.order_id, idempotency_key="capture:1")
    assert (result.status, result.error_code) == (FAILED, errors.INSTRUMENT_DECLINED)
    # The customer approves again, with a funding source that works.
    sandbox.sandbox_order_approve(created.order_id)
    retried = paypal.order_capture(order_id=created.order_id, idempotency_key="capture:2")
    assert retried.status == SUCCEEDED


def test_paypal_cancel_goes_back_with_the_token(paypal):
    created = order(paypal)
    assert sandbox.sandbox_order_cancel_url(created.order_id) == (
        f"https://portal.example/invoices/CAJ-3/?token={created.order_id}"
    )


def test_paypal_refund(paypal):
    created = order(paypal)
    sandbox.sandbox_order_approve(created.order_id)
    paypal.order_capture(order_id=created.order_id, idempotency_key="capture:1")
    refund_request = RefundRequest(
        payment_ref=created.order_id, amount=Decimal("30.00"), currency="EUR", idempotency_key="r1"
    )
    result = paypal.refund(refund_request)
    assert result.status == SUCCEEDED
    assert paypal.refund(refund_request) == result
    with pytest.raises(GatewayError):
        paypal.refund(
            RefundRequest(
                payment_ref=created.order_id,
                amount=Decimal("1.00"),
                currency="EUR",
                idempotency_key="r2",
            )
        )
