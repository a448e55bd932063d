"""billing/gateways/paypal.py through the real paypal-server-sdk against the fake PayPal API
(tests/fakes/paypal_server.py) on 127.0.0.1: nothing here leaves this machine."""

import json
import socket
from decimal import Decimal

import pytest

from billing.gateways import errors, paypal_gateway
from billing.gateways.errors import GatewayError
from billing.gateways.interface import (
    FAILED,
    PENDING,
    SUCCEEDED,
    PayPalOrderRequest,
    RefundRequest,
)
from billing.gateways.paypal import PayPalOrdersGateway
from tests.fakes.paypal_server import WEBHOOK_ID


def order_request(key="order-key-1", amount="3816.96", currency="EUR", invoice_id=""):
    return PayPalOrderRequest(
        invoice_id=invoice_id,
        amount=Decimal(amount),
        currency=currency,
        reference="2025-000123",
        description="Invoice 2025-000123",
        idempotency_key=key,
        return_url="http://127.0.0.1:8000/billing/paypal/return",
        cancel_url="http://127.0.0.1:8000/billing/paypal/cancel",
    )


def paid_order(fake, gateway, key="order-key-1", amount="3816.96"):
    order = gateway.order_create(order_request(key=key, amount=amount, invoice_id=key))
    fake.approve(order.order_id)
    result = gateway.order_capture(order_id=order.order_id, idempotency_key=f"capture-{key}")
    assert result.status == SUCCEEDED
    return order


# ---- create, approve, capture ----------------------------------------------------------


def test_the_facade_picks_the_paypal_gateway_when_keys_are_set(fake_paypal):
    assert isinstance(paypal_gateway(), PayPalOrdersGateway)


def test_create_approve_capture_succeeds(fake_paypal):
    gateway = PayPalOrdersGateway()

    order = gateway.order_create(order_request())

    assert order.status == "PAYER_ACTION_REQUIRED"
    assert order.approve_url == f"{fake_paypal.url}/checkoutnow?token={order.order_id}"
    (create,) = fake_paypal.calls("/v2/checkout/orders", "POST")
    assert create.headers["paypal-request-id"] == "order-key-1"
    assert create.headers["authorization"].startswith("Bearer A21AA")
    body = create.body
    assert body["intent"] == "CAPTURE"
    (unit,) = body["purchase_units"]
    assert unit["amount"] == {"currency_code": "EUR", "value": "3816.96"}
    assert unit["reference_id"] == unit["invoice_id"] == unit["custom_id"] == "2025-000123"
    assert "contact_preference" not in body["payment_source"]["paypal"]["experience_context"]
    assert unit["description"] == "Invoice 2025-000123"
    context = body["payment_source"]["paypal"]["experience_context"]
    assert context["return_url"] == "http://127.0.0.1:8000/billing/paypal/return"
    assert context["cancel_url"] == "http://127.0.0.1:8000/billing/paypal/cancel"
    # The OAuth client-credentials flow ran against the fake, with Basic auth.
    (token,) = fake_paypal.calls("/v1/oauth2/token")
    assert token.headers["authorization"].startswith("Basic ")
    assert token.body == {"grant_type": "client_credentials"}

    fake_paypal.approve(order.order_id)
    result = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-key-1")

    assert result.status == SUCCEEDED
    assert result.gateway_ref == order.order_id
    assert result.amount == Decimal("3816.96")
    assert result.currency == "EUR"
    assert result.error_code == ""
    (capture,) = fake_paypal.calls("/capture", "POST")
    assert capture.path == f"/v2/checkout/orders/{order.order_id}/capture"
    assert capture.headers["paypal-request-id"] == "capture-key-1"


def test_amounts_are_strings_with_two_decimals(fake_paypal):
    PayPalOrdersGateway().order_create(order_request(amount="12.5", currency="usd"))

    (create,) = fake_paypal.calls("/v2/checkout/orders", "POST")
    assert create.body["purchase_units"][0]["amount"] == {"currency_code": "USD", "value": "12.50"}


def test_the_buyer_can_approve_through_the_approve_link(fake_paypal):
    import requests

    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())

    assert requests.get(order.approve_url, timeout=5).status_code == 200

    result = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-key-1")
    assert result.status == SUCCEEDED


def test_a_repeated_create_with_the_same_request_id_makes_no_second_order(fake_paypal):
    gateway = PayPalOrdersGateway()

    first = gateway.order_create(order_request(key="same"))
    second = gateway.order_create(order_request(key="same"))

    assert second.order_id == first.order_id
    assert len(fake_paypal.orders) == 1
    creates = fake_paypal.calls("/v2/checkout/orders", "POST")
    assert [c.headers["paypal-request-id"] for c in creates] == ["same", "same"]

    third = gateway.order_create(order_request(key="other", invoice_id="2025-000123-2"))
    assert third.order_id != first.order_id
    assert len(fake_paypal.orders) == 2


def test_a_repeated_capture_with_the_same_request_id_makes_no_second_capture(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())
    fake_paypal.approve(order.order_id)

    first = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-same")
    second = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-same")

    assert first == second
    assert second.status == SUCCEEDED
    assert len(fake_paypal.captures) == 1
    assert len(fake_paypal.calls("/capture", "POST")) == 2


def test_capture_pending_when_paypal_holds_the_payment(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())
    fake_paypal.approve(order.order_id)
    fake_paypal.pend_next_capture()

    result = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-key-1")

    assert result.status == PENDING
    assert result.gateway_ref == order.order_id
    assert result.amount == Decimal("3816.96")


def test_instrument_declined_asks_for_another_funding_source(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())
    fake_paypal.approve(order.order_id)
    fake_paypal.decline_next_capture()

    result = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-key-1")

    assert result.status == FAILED
    assert result.error_code == errors.INSTRUMENT_DECLINED
    assert result.action_url == order.approve_url
    assert result.gateway_ref == order.order_id
    assert result.amount == Decimal("3816.96")
    assert result.currency == "EUR"
    assert fake_paypal.captures == {}

    # The customer picks another funding source on PayPal; a new attempt captures.
    fake_paypal.approve(order.order_id)
    again = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-key-2")
    assert again.status == SUCCEEDED


def test_capture_before_approval_is_an_invalid_request(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())

    with pytest.raises(GatewayError) as caught:
        gateway.order_capture(order_id=order.order_id, idempotency_key="capture-key-1")

    assert caught.value.code == errors.INVALID_REQUEST
    # Our sentence for the customer; PayPal's own words stay in the cause (and the log).
    assert caught.value.message == (
        "The payment has not been approved on PayPal yet. Please approve it on PayPal, "
        "or choose another way to pay."
    )
    assert "ORDER_NOT_APPROVED" not in caught.value.message
    assert "422" not in caught.value.message
    assert "ORDER_NOT_APPROVED" in str(caught.value.__cause__.details[0].issue)
    assert caught.value.gateway_ref == order.order_id
    assert caught.value.may_retry is False


# ---- 5xx, retries, connection errors, credentials --------------------------------------


def test_a_500_then_success_is_retried_with_the_same_request_id(fake_paypal, settings):
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 2
    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())
    fake_paypal.approve(order.order_id)
    fake_paypal.fail_next("/capture", status=500)

    result = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-key-1")

    assert result.status == SUCCEEDED
    attempts = fake_paypal.calls("/capture", "POST")
    assert [a.headers["paypal-request-id"] for a in attempts] == ["capture-key-1"] * 2
    assert len(fake_paypal.captures) == 1


def test_a_500_without_retries_is_unavailable_and_the_next_try_succeeds(fake_paypal, settings):
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())
    fake_paypal.approve(order.order_id)
    fake_paypal.fail_next("/capture", status=500)

    with pytest.raises(GatewayError) as caught:
        gateway.order_capture(order_id=order.order_id, idempotency_key="capture-key-1")
    assert caught.value.code == errors.UNAVAILABLE
    assert caught.value.may_retry is True
    assert fake_paypal.captures == {}

    result = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-key-1")
    assert result.status == SUCCEEDED
    assert len(fake_paypal.captures) == 1


def test_500s_until_retries_run_out_are_unavailable(fake_paypal, settings):
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 1
    fake_paypal.fail_next("/v2/checkout/orders", status=503, times=2)

    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().order_create(order_request())

    assert caught.value.code == errors.UNAVAILABLE
    assert caught.value.may_retry is True
    assert len(fake_paypal.calls("/v2/checkout/orders", "POST")) == 2
    assert fake_paypal.orders == {}


def test_a_500_on_the_token_is_unavailable_not_a_configuration_error(fake_paypal, settings):
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    fake_paypal.fail_next("/v1/oauth2/token", status=500)

    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().order_create(order_request())

    assert caught.value.code == errors.UNAVAILABLE
    assert caught.value.may_retry is True


def test_connection_refused_is_unavailable(fake_paypal, settings):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    settings.PAYPAL_API_BASE = f"http://127.0.0.1:{port}"
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 1  # urllib3 waits before a second retry

    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().order_create(order_request())

    assert caught.value.code == errors.UNAVAILABLE
    assert caught.value.may_retry is True


def test_a_timeout_is_unavailable(fake_paypal, settings):
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.2
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    fake_paypal.stall_next("/v2/checkout/orders", seconds=5)

    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().order_create(order_request())

    assert caught.value.code == errors.UNAVAILABLE
    assert caught.value.may_retry is True


def test_wrong_credentials_are_not_configured(fake_paypal, settings):
    settings.PAYPAL_CLIENT_SECRET = "wrong"

    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().order_create(order_request())

    assert caught.value.code == errors.NOT_CONFIGURED
    assert caught.value.may_retry is False
    assert fake_paypal.calls("/v2/checkout/orders") == []


def test_an_unknown_order_is_an_invalid_request(fake_paypal):
    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().order_capture(order_id="NOSUCHORDER000000", idempotency_key="k")

    assert caught.value.code == errors.INVALID_REQUEST
    assert caught.value.may_retry is False


# ---- refunds -----------------------------------------------------------------------------


def test_refund_of_the_orders_capture(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = paid_order(fake_paypal, gateway)
    (capture_id,) = fake_paypal.captures

    result = gateway.refund(
        RefundRequest(
            payment_ref=order.order_id,
            amount=Decimal("1000"),
            currency="EUR",
            idempotency_key="refund-key-1",
        )
    )

    assert result.status == SUCCEEDED
    (refund_call,) = fake_paypal.calls("/refund", "POST")
    assert refund_call.path == f"/v2/payments/captures/{capture_id}/refund"
    assert refund_call.headers["paypal-request-id"] == "refund-key-1"
    assert refund_call.body == {"amount": {"currency_code": "EUR", "value": "1000.00"}}
    (refund,) = fake_paypal.captures[capture_id]["refunds"]
    assert result.gateway_ref == refund["id"]
    assert fake_paypal.captures[capture_id]["capture"]["status"] == "PARTIALLY_REFUNDED"


def test_a_repeated_refund_with_the_same_request_id_refunds_once(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = paid_order(fake_paypal, gateway)
    request = RefundRequest(
        payment_ref=order.order_id,
        amount=Decimal("3816.96"),
        currency="EUR",
        idempotency_key="refund-same",
    )

    first = gateway.refund(request)
    second = gateway.refund(request)

    assert first == second
    (capture_id,) = fake_paypal.captures
    assert len(fake_paypal.captures[capture_id]["refunds"]) == 1
    assert fake_paypal.captures[capture_id]["capture"]["status"] == "REFUNDED"


def test_refund_by_capture_id(fake_paypal):
    gateway = PayPalOrdersGateway()
    paid_order(fake_paypal, gateway)
    (capture_id,) = fake_paypal.captures

    result = gateway.refund(
        RefundRequest(
            payment_ref=capture_id, amount=Decimal("1.00"), currency="EUR", idempotency_key="r"
        )
    )

    assert result.status == SUCCEEDED
    assert fake_paypal.calls("/refund")[0].path == f"/v2/payments/captures/{capture_id}/refund"


def test_refund_of_more_than_was_captured_is_an_invalid_request(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = paid_order(fake_paypal, gateway, amount="10.00")

    with pytest.raises(GatewayError) as caught:
        gateway.refund(
            RefundRequest(
                payment_ref=order.order_id,
                amount=Decimal("10.01"),
                currency="EUR",
                idempotency_key="refund-key-1",
            )
        )

    assert caught.value.code == errors.INVALID_REQUEST
    assert caught.value.message == "PayPal refuses to refund more than this payment took."


# ---- webhooks ----------------------------------------------------------------------------

EVENT = {
    "id": "WH-2WR32451HC0233532-67976317FL4543714",
    "event_version": "1.0",
    "create_time": "2025-03-01T10:20:30.123Z",
    "resource_type": "capture",
    "resource_version": "2.0",
    "event_type": "PAYMENT.CAPTURE.COMPLETED",
    "summary": "Payment completed for EUR 3816.96 EUR",
    "resource": {
        "id": "42311647XV020574X",
        "status": "COMPLETED",
        "amount": {"currency_code": "EUR", "value": "3816.96"},
        "invoice_id": "2025-000123",
        "supplementary_data": {"related_ids": {"order_id": "5O190127TN364715T"}},
    },
}
HEADERS = {
    "PAYPAL-TRANSMISSION-ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
    "PAYPAL-TRANSMISSION-TIME": "2025-03-01T10:20:31Z",
    "PAYPAL-TRANSMISSION-SIG": "lmI95Jx3Y9nhR5SJWlHVIWpg4AgFk7n9bCHSRxbrd8A9zrhdu2rMyFrmz+Zjh3s3",
    "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42",
    "PAYPAL-AUTH-ALGO": "SHA256withRSA",
}
# As PayPal sends it: compact, with a non-ASCII character that json.dumps would escape.
BODY = json.dumps({**EVENT, "summary": "Zahlung über EUR 3816.96"}, separators=(",", ":"))


def test_a_verified_webhook_becomes_a_gateway_event(fake_paypal):
    event = PayPalOrdersGateway().webhook_event(headers=HEADERS, body=BODY.encode())

    assert event.provider == "paypal"
    assert event.event_id == EVENT["id"]
    assert event.type == "PAYMENT.CAPTURE.COMPLETED"
    assert event.created == 1740824430  # 2025-03-01T10:20:30Z
    assert event.data == EVENT["resource"]
    assert event.payload == json.loads(BODY)
    (verify,) = fake_paypal.calls("/v1/notifications/verify-webhook-signature", "POST")
    assert verify.headers["authorization"].startswith("Bearer A21AA")
    assert verify.body == {
        "auth_algo": "SHA256withRSA",
        "cert_url": HEADERS["PAYPAL-CERT-URL"],
        "transmission_id": HEADERS["PAYPAL-TRANSMISSION-ID"],
        "transmission_sig": HEADERS["PAYPAL-TRANSMISSION-SIG"],
        "transmission_time": HEADERS["PAYPAL-TRANSMISSION-TIME"],
        "webhook_id": WEBHOOK_ID,
        "webhook_event": json.loads(BODY),
    }


def test_webhook_headers_in_any_spelling(fake_paypal):
    meta = {"HTTP_" + k.replace("-", "_"): v for k, v in HEADERS.items()}
    lower = {k.lower(): v for k, v in HEADERS.items()}

    for headers in (meta, lower):
        event = PayPalOrdersGateway().webhook_event(headers=headers, body=BODY.encode())
        assert event.event_id == EVENT["id"]


def test_a_webhook_paypal_does_not_verify_is_a_bad_signature(fake_paypal):
    fake_paypal.webhook_verification = "FAILURE"

    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().webhook_event(headers=HEADERS, body=BODY.encode())

    assert caught.value.code == errors.BAD_SIGNATURE


def test_a_webhook_for_another_webhook_id_is_a_bad_signature(fake_paypal, settings):
    settings.PAYPAL_WEBHOOK_ID = "SOMEONE-ELSES-WEBHOOK"

    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().webhook_event(headers=HEADERS, body=BODY.encode())

    assert caught.value.code == errors.BAD_SIGNATURE


@pytest.mark.parametrize("missing", sorted(HEADERS))
def test_a_webhook_without_a_transmission_header_is_a_bad_signature(fake_paypal, missing):
    headers = {k: v for k, v in HEADERS.items() if k != missing}

    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().webhook_event(headers=headers, body=BODY.encode())

    assert caught.value.code == errors.BAD_SIGNATURE
    assert fake_paypal.calls() == []


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'{"id": "WH-1"}', b"\xff\xfe"])
def test_a_webhook_body_that_is_no_event_is_a_bad_signature(fake_paypal, body):
    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().webhook_event(headers=HEADERS, body=body)

    assert caught.value.code == errors.BAD_SIGNATURE
    assert fake_paypal.calls() == []


def test_webhook_verification_unavailable_is_retryable(fake_paypal, settings):
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    fake_paypal.fail_next("/v1/notifications/verify-webhook-signature", status=502)

    with pytest.raises(GatewayError) as caught:
        PayPalOrdersGateway().webhook_event(headers=HEADERS, body=BODY.encode())

    assert caught.value.code == errors.UNAVAILABLE
    assert caught.value.may_retry is True


# ---- PayPal's published request schemas, the token, lost capture answers ---------------


def test_the_fake_refuses_a_field_paypals_spec_does_not_define(fake_paypal):
    """What we send is checked against PayPal's OpenAPI description (tests/fakes/specs)."""
    import requests

    token = requests.post(
        f"{fake_paypal.url}/v1/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("fake-client-id", "fake-client-secret"),
        timeout=5,
    ).json()["access_token"]
    body = {
        "intent": "CAPTURE",
        "purchase_units": [
            {"amount": {"currency_code": "EUR", "value": "1.00"}, "invoce_id": "typo"}
        ],
    }
    response = requests.post(
        f"{fake_paypal.url}/v2/checkout/orders",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )

    assert response.status_code == 400
    answer = response.json()
    assert answer["name"] == "INVALID_REQUEST"
    assert answer["details"][0]["issue"] == "UNKNOWN_FIELD"
    assert answer["details"][0]["field"] == "/purchase_units/0/invoce_id"
    assert fake_paypal.orders == {}

    missing = requests.post(
        f"{fake_paypal.url}/v2/checkout/orders",
        json={"purchase_units": body["purchase_units"][:0] + [{"reference_id": "x"}]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).json()
    issues = {(d["issue"], d["field"]) for d in missing["details"]}
    assert ("MISSING_REQUIRED_PARAMETER", "/intent") in issues
    assert ("MISSING_REQUIRED_PARAMETER", "/purchase_units/0/amount") in issues
    assert fake_paypal.orders == {}


def test_everything_the_gateway_sends_is_in_paypals_spec(fake_paypal):
    from tests.fakes import paypal_spec

    gateway = PayPalOrdersGateway()
    order = paid_order(fake_paypal, gateway)
    gateway.refund(
        RefundRequest(
            payment_ref=order.order_id, amount=Decimal("1"), currency="EUR", idempotency_key="r"
        )
    )
    gateway.webhook_event(headers=HEADERS, body=BODY.encode())

    posts = [c for c in fake_paypal.calls(method="POST") if c.path != "/v1/oauth2/token"]
    assert {c.path.split("/")[2] for c in posts} == {"checkout", "payments", "notifications"}
    for call in posts:
        assert paypal_spec.problems("POST", call.path, call.body) == []


def test_one_oauth_token_serves_many_calls(fake_paypal):
    gateway = PayPalOrdersGateway()
    for n in range(3):
        order = gateway.order_create(order_request(key=f"k{n}", invoice_id=f"inv-{n}"))
        gateway.order_get(order.order_id)
    gateway.webhook_event(headers=HEADERS, body=BODY.encode())

    assert fake_paypal.token_requests == 1
    assert len(fake_paypal.calls("/v2/checkout/orders")) == 6


def test_a_refused_token_is_forgotten(fake_paypal):
    gateway = PayPalOrdersGateway()
    gateway.order_create(order_request(key="k1", invoice_id="i1"))
    fake_paypal.tokens.clear()  # PayPal revoked it

    with pytest.raises(GatewayError):
        gateway.order_create(order_request(key="k2", invoice_id="i2"))
    gateway.order_create(order_request(key="k3", invoice_id="i3"))

    assert fake_paypal.token_requests == 2


def test_a_lost_capture_answer_is_read_back_from_the_order(fake_paypal, settings):
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.3
    settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES = 0
    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())
    fake_paypal.approve(order.order_id)
    fake_paypal.answer_late("/capture", seconds=1)  # PayPal captures; the answer is lost

    result = gateway.order_capture(order_id=order.order_id, idempotency_key="capture-key-1")

    (capture_id,) = fake_paypal.captures
    assert result.status == SUCCEEDED
    assert result.capture_ref == capture_id
    assert result.gateway_ref == order.order_id
    assert len(fake_paypal.captures) == 1


def test_an_order_already_captured_answers_its_capture(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = paid_order(fake_paypal, gateway)

    again = gateway.order_capture(order_id=order.order_id, idempotency_key="another-key")

    (capture_id,) = fake_paypal.captures
    assert again.status == SUCCEEDED
    assert again.capture_ref == capture_id
    assert len(fake_paypal.captures) == 1


def test_order_get_says_where_the_order_stands(fake_paypal):
    gateway = PayPalOrdersGateway()
    order = gateway.order_create(order_request())

    waiting = gateway.order_get(order.order_id)
    assert (waiting.status, waiting.result.status, waiting.captured) == (
        "PAYER_ACTION_REQUIRED",
        "requires_action",
        False,
    )
    fake_paypal.approve(order.order_id)
    assert gateway.order_get(order.order_id).result.status == PENDING
    gateway.order_capture(order_id=order.order_id, idempotency_key="c")
    done = gateway.order_get(order.order_id)
    assert done.captured and done.result.status == SUCCEEDED
    assert done.result.amount == Decimal("3816.96")
