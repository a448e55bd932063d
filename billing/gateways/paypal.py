"""PayPal checkout through Orders v2, with PayPal's server SDK (paypal-server-sdk). This is
the only module that imports `paypalserversdk`; everything it returns is a dataclass from
billing/gateways/interface.py and every failure is a GatewayError mapped in `_gateway_error`.

Decisions:

- A client is built per call from settings (read at call time), with an explicit timeout
  (PAYMENT_GATEWAY_TIMEOUT) and retries (PAYMENT_GATEWAY_MAX_NETWORK_RETRIES) on connection
  errors, timeouts, 429 and 5xx, for GET and POST alike: every POST that moves money carries a
  PayPal-Request-Id (our idempotency key), so PayPal answers a repeat with the stored result
  instead of a second order, capture or refund.
- The base URI is PAYPAL_API_BASE when set (tests point it at tests/fakes/paypal_server.py),
  else PayPal's sandbox or live host from PAYPAL_ENVIRONMENT.
- The OAuth token comes from the SDK's own client-credentials flow, through a token provider
  so that a refused or failed token request raises (the SDK's default flow swallows it and
  reports only "token undefined", which would hide a 5xx behind NOT_CONFIGURED).
- `ChargeResult.gateway_ref` is always the PayPal ORDER id (what Payment.gateway_ref stores,
  unique per gateway, and what PayPal's webhooks carry in related_ids.order_id); the capture
  id is not returned (only a FAILED capture names it in error_message). A refund is
  asked with that order id: `refund` reads the order to find its capture id (one purchase
  unit, intent CAPTURE: one capture) and refunds that capture. A capture id is accepted too
  when the order lookup answers 404, so a capture id from a webhook also works.
- PayPal has no webhook call in the SDK: `webhook_event` posts to
  /v1/notifications/verify-webhook-signature itself, on the same base URI, with the SDK's
  HTTP session (same timeout and retries) and an access token from the SDK's OAuth. The raw
  body is spliced into that request unchanged: re-serialising the event can change it and
  make PayPal answer FAILURE.
"""

import json
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal

import requests
from apimatic_core.exceptions.auth_validation_exception import AuthValidationException
from django.conf import settings
from paypalserversdk.configuration import Configuration, Environment, Server
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.checkout_payment_intent import CheckoutPaymentIntent
from paypalserversdk.models.money import Money
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.payment_source import PaymentSource
from paypalserversdk.models.paypal_wallet import PaypalWallet
from paypalserversdk.models.paypal_wallet_experience_context import (
    PaypalWalletExperienceContext,
)
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.models.refund_request import RefundRequest as PayPalRefundRequest
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

from billing.gateways import errors
from billing.gateways.errors import GatewayError
from billing.gateways.interface import (
    FAILED,
    PENDING,
    SUCCEEDED,
    ChargeResult,
    GatewayEvent,
    PayPalOrder,
    PayPalOrderRequest,
    RefundRequest,
    RefundResult,
    SessionOwner,
)

RETRY_STATUSES = [429, 500, 502, 503, 504]
BACKOFF_FACTOR = 0.5  # urllib3: no pause before the first retry, then 1 s, 2 s, …
WEBHOOK_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}


class _Configuration(Configuration):
    """The SDK's configuration, its base URI from settings."""

    def __init__(self, *, api_base: str, **kwargs):
        self._api_base = api_base.rstrip("/")
        super().__init__(**kwargs)

    def get_base_uri(self, server=Server.DEFAULT):
        if self._api_base:
            return self._api_base
        return super().get_base_uri(server)


def _fetch_token(_last_token, auth_manager):
    # Raises the SDK's OAuthProviderException / ApiException, or a requests error.
    return auth_manager.fetch_token()


def _client() -> PaypalServersdkClient:
    if not (settings.PAYPAL_CLIENT_ID and settings.PAYPAL_CLIENT_SECRET):
        raise GatewayError("PayPal is not configured.", code=errors.NOT_CONFIGURED)
    production = settings.PAYPAL_ENVIRONMENT.lower() in ("production", "live")
    config = _Configuration(
        api_base=settings.PAYPAL_API_BASE,
        environment=Environment.PRODUCTION if production else Environment.SANDBOX,
        timeout=settings.PAYMENT_GATEWAY_TIMEOUT,
        max_retries=settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES,
        backoff_factor=BACKOFF_FACTOR,
        retry_statuses=RETRY_STATUSES,
        retry_methods=["GET", "POST"],
        client_credentials_auth_credentials=ClientCredentialsAuthCredentials(
            o_auth_client_id=settings.PAYPAL_CLIENT_ID,
            o_auth_client_secret=settings.PAYPAL_CLIENT_SECRET,
            o_auth_token_provider=_fetch_token,
        ),
    )
    return PaypalServersdkClient(config=config)


def _issues(error: ApiException) -> list[str]:
    return [getattr(d, "issue", "") or "" for d in (getattr(error, "details", None) or [])]


def _gateway_error(error: Exception) -> GatewayError:
    """The one place where SDK and HTTP failures become GatewayErrors."""
    if isinstance(error, GatewayError):
        return error
    if isinstance(error, requests.RequestException):
        # Connection refused, DNS, timeouts, and retries exhausted on them.
        return GatewayError(
            "PayPal cannot be reached at the moment. Please try again later.",
            code=errors.UNAVAILABLE,
            may_retry=True,
        )
    if isinstance(error, AuthValidationException):
        return GatewayError("PayPal refused our credentials.", code=errors.NOT_CONFIGURED)
    if isinstance(error, ApiException):
        status = error.response_code or 0
        name = getattr(error, "name", None) or getattr(error, "error", None) or ""
        issues = _issues(error)
        detail = " ".join(filter(None, [str(status), name, *issues]))
        if status >= 500:
            return GatewayError(
                "PayPal is not available at the moment. Please try again later.",
                code=errors.UNAVAILABLE,
                may_retry=True,
            )
        if status == 401:
            return GatewayError(
                f"PayPal refused our credentials ({detail}).", code=errors.NOT_CONFIGURED
            )
        if status == 429:
            return GatewayError(
                "PayPal is busy. Please try again in a moment.",
                code=errors.RATE_LIMITED,
                may_retry=True,
            )
        if status == 422 and "INSTRUMENT_DECLINED" in issues:
            return GatewayError(
                "PayPal declined the chosen funding source. Please choose another one.",
                code=errors.INSTRUMENT_DECLINED,
            )
        return GatewayError(f"PayPal refused the request ({detail}).", code=errors.INVALID_REQUEST)
    raise error


@contextmanager
def _mapped():
    try:
        yield
    except (GatewayError, requests.RequestException, AuthValidationException, ApiException) as e:
        raise _gateway_error(e) from e


def _link(links, *rels: str) -> str:
    for rel in rels:
        for link in links or []:
            if getattr(link, "rel", None) == rel:
                return link.href
    return ""


def _capture_of(order):
    for unit in order.purchase_units or []:
        payments = getattr(unit, "payments", None)
        for capture in getattr(payments, "captures", None) or []:
            return capture
    return None


def _status(value) -> str:
    return getattr(value, "value", value) or ""


class PayPalOrdersGateway:
    """PayPal checkout, Orders v2: create, the customer approves on PayPal, capture.

    `order_capture` answers with gateway_ref = the PayPal order id (see the module's
    docstring); `refund` takes that order id as payment_ref and refunds its capture.
    """

    name = "paypal"

    def order_create(self, request: PayPalOrderRequest) -> PayPalOrder:
        body = OrderRequest(
            intent=CheckoutPaymentIntent.CAPTURE,
            purchase_units=[
                PurchaseUnitRequest(
                    amount=AmountWithBreakdown(
                        currency_code=request.currency.upper(),
                        value=_money(request.amount),
                    ),
                    reference_id=request.reference,
                    invoice_id=request.reference,
                    description=request.description[:127],
                )
            ],
            payment_source=PaymentSource(
                paypal=PaypalWallet(
                    experience_context=PaypalWalletExperienceContext(
                        return_url=request.return_url,
                        cancel_url=request.cancel_url,
                        shipping_preference="NO_SHIPPING",
                        user_action="PAY_NOW",
                    )
                )
            ),
        )
        with _mapped():
            order = (
                _client()
                .orders.create_order(
                    {
                        "body": body,
                        "paypal_request_id": request.idempotency_key,
                        "prefer": "return=representation",
                    }
                )
                .body
            )
        return PayPalOrder(
            order_id=order.id,
            approve_url=_link(order.links, "payer-action", "approve"),
            status=_status(order.status),
        )

    def order_capture(self, *, order_id: str, idempotency_key: str) -> ChargeResult:
        client = None
        try:
            with _mapped():
                client = _client()
                order = client.orders.capture_order(
                    {
                        "id": order_id,
                        "paypal_request_id": idempotency_key,
                        "prefer": "return=representation",
                    }
                ).body
        except GatewayError as error:
            error.gateway_ref = error.gateway_ref or order_id
            if error.code != errors.INSTRUMENT_DECLINED:
                raise
            # The customer chooses another funding source on PayPal, then we capture again.
            with _mapped():
                again = client.orders.get_order({"id": order_id}).body
            return ChargeResult(
                status=FAILED,
                gateway_ref=order_id,
                amount=_order_amount(again),
                currency=_order_currency(again),
                action_url=_link(again.links, "payer-action", "approve"),
                error_code=errors.INSTRUMENT_DECLINED,
                error_message=error.message,
                owner=_order_owner(again),
            )
        capture = _capture_of(order)
        if capture is None:
            raise GatewayError(
                f"PayPal answered the capture of {order_id} without a capture.",
                code=errors.INVALID_REQUEST,
                gateway_ref=order_id,
            )
        capture_status = _status(capture.status)
        if capture_status == "COMPLETED":
            status = SUCCEEDED
        elif capture_status == "PENDING":
            status = PENDING
        else:  # DECLINED, FAILED
            status = FAILED
        return ChargeResult(
            status=status,
            gateway_ref=order.id or order_id,
            amount=Decimal(capture.amount.value),
            currency=capture.amount.currency_code,
            error_code=errors.INSTRUMENT_DECLINED if status == FAILED else "",
            error_message=f"PayPal capture {capture.id}: {capture_status}"
            if status == FAILED
            else "",
            owner=_order_owner(order),
        )

    def refund(self, request: RefundRequest) -> RefundResult:
        with _mapped():
            client = _client()
            capture_id = self._capture_id(client, request.payment_ref)
            refund = client.payments.refund_captured_payment(
                {
                    "capture_id": capture_id,
                    "paypal_request_id": request.idempotency_key,
                    "prefer": "return=representation",
                    "body": PayPalRefundRequest(
                        amount=Money(
                            currency_code=request.currency.upper(),
                            value=_money(request.amount),
                        )
                    ),
                }
            ).body
        status = _status(refund.status)
        if status == "COMPLETED":
            return RefundResult(gateway_ref=refund.id, status=SUCCEEDED)
        if status == "PENDING":
            return RefundResult(gateway_ref=refund.id, status=PENDING)
        raise GatewayError(
            f"PayPal answered the refund {refund.id} with {status}.",
            code=errors.INVALID_REQUEST,
            gateway_ref=refund.id or "",
        )

    @staticmethod
    def _capture_id(client, payment_ref: str) -> str:
        """The order's capture id; payment_ref itself when it is no order (a capture id)."""
        try:
            order = client.orders.get_order({"id": payment_ref}).body
        except ApiException as error:
            if error.response_code == 404:
                return payment_ref
            raise
        capture = _capture_of(order)
        if capture is None:
            raise GatewayError(
                f"PayPal order {payment_ref} has no capture to refund.",
                code=errors.INVALID_REQUEST,
                gateway_ref=payment_ref,
            )
        return capture.id

    def webhook_event(self, *, headers: dict, body: bytes) -> GatewayEvent:
        header = {_header_name(k): v for k, v in (headers or {}).items()}
        transmission = {field: header.get(name, "") for field, name in WEBHOOK_HEADERS.items()}
        if not all(transmission.values()):
            raise GatewayError(
                "PayPal webhook without its signature headers.", code=errors.BAD_SIGNATURE
            )
        if isinstance(body, str):
            body = body.encode()
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise GatewayError(
                "PayPal webhook body is no JSON.", code=errors.BAD_SIGNATURE
            ) from error
        if not isinstance(event, dict) or not event.get("id") or not event.get("event_type"):
            raise GatewayError("PayPal webhook body is no event.", code=errors.BAD_SIGNATURE)
        if not settings.PAYPAL_WEBHOOK_ID:
            raise GatewayError("PAYPAL_WEBHOOK_ID is not set.", code=errors.NOT_CONFIGURED)
        fields = {**transmission, "webhook_id": settings.PAYPAL_WEBHOOK_ID}
        # The event goes back byte for byte: see the module's docstring.
        payload = json.dumps(fields)[:-1].encode() + b', "webhook_event": ' + body.strip() + b"}"
        with _mapped():
            client = _client()
            token = client.oauth_2.fetch_token()
            http = client.config.http_client
            response = http.session.post(
                client.config.get_base_uri() + "/v1/notifications/verify-webhook-signature",
                data=payload,
                headers={
                    "Authorization": f"Bearer {token.access_token}",
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                },
                timeout=http.timeout,
            )
            if response.status_code >= 300:
                raise ApiException("verify-webhook-signature failed", response)
        try:
            verification = response.json().get("verification_status")
        except ValueError:
            verification = None
        if verification != "SUCCESS":
            raise GatewayError(
                "PayPal did not confirm the webhook's signature.", code=errors.BAD_SIGNATURE
            )
        resource = event.get("resource")
        return GatewayEvent(
            provider="paypal",
            event_id=event["id"],
            type=event["event_type"],
            created=_unix(event.get("create_time")),
            data=resource if isinstance(resource, dict) else {},
            payload=event,
        )


def _money(amount: Decimal) -> str:
    return str(Decimal(amount).quantize(Decimal("0.01")))


def _order_amount(order) -> Decimal:
    for unit in order.purchase_units or []:
        if getattr(unit, "amount", None) is not None:
            return Decimal(unit.amount.value)
    return Decimal("0")


def _order_owner(order) -> SessionOwner:
    """Whose order: PayPal knows no customer of ours, but the purchase unit carries the
    reference_id we sent (the invoice number), which the payer cannot change."""
    for unit in order.purchase_units or []:
        if getattr(unit, "reference_id", None):
            return SessionOwner(reference=unit.reference_id)
    return SessionOwner()


def _order_currency(order) -> str:
    for unit in order.purchase_units or []:
        if getattr(unit, "amount", None) is not None:
            return unit.amount.currency_code
    return ""


def _header_name(name: str) -> str:
    """ "PayPal-Transmission-Id", "HTTP_PAYPAL_TRANSMISSION_ID" → "paypal-transmission-id"."""
    name = name.lower().replace("_", "-")
    return name.removeprefix("http-")


def _unix(timestamp) -> int:
    if not timestamp:
        return 0
    try:
        return int(datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
