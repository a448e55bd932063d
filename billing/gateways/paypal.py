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
  reports only "token undefined", which would hide a 5xx behind NOT_CONFIGURED). The token
  is kept per process until a minute before it expires (PayPal's last ~9 hours, and asks
  not to fetch one per call); a 401 forgets it.
- PayPal's raw errors ("422 UNPROCESSABLE_ENTITY ORDER_NOT_APPROVED") never reach a
  customer: `_gateway_error` turns them into our sentences and logs the raw detail.
- A capture whose answer is lost (5xx, 429, timeout) or that PayPal refuses as
  ORDER_ALREADY_CAPTURED may have taken the money: `order_capture` then GETs the order and
  answers its capture if there is one.
- `ChargeResult.gateway_ref` is always the PayPal ORDER id (what Payment.gateway_ref stores,
  unique per gateway, and what PayPal's webhooks carry in related_ids.order_id); the capture
  id comes in `capture_ref` (Payment.gateway_capture_ref: PayPal's capture webhooks, refunds
  and reversals name the capture, not the order). A refund is
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
import logging
import threading
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal

import requests
from apimatic_core.exceptions.auth_validation_exception import AuthValidationException
from django.conf import settings
from paypalserversdk.api_helper import APIHelper
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
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeResult,
    GatewayEvent,
    PayPalOrder,
    PayPalOrderRequest,
    PayPalOrderStatus,
    RefundRequest,
    RefundResult,
    SessionOwner,
)

log = logging.getLogger("billing.gateways")

RETRY_STATUSES = [429, 500, 502, 503, 504]
TOKEN_CLOCK_SKEW = 60  # seconds: a token this close to its expiry is fetched again
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


# OAuth tokens by (base URI, environment, client id, secret): one per process until it
# expires, instead of one per call.
_tokens: dict[tuple, object] = {}
_tokens_lock = threading.Lock()


def _token_key() -> tuple:
    return (
        settings.PAYPAL_API_BASE,
        settings.PAYPAL_ENVIRONMENT,
        settings.PAYPAL_CLIENT_ID,
        settings.PAYPAL_CLIENT_SECRET,
    )


def _token_forget() -> None:
    with _tokens_lock:
        _tokens.clear()


def _token_provider(key: tuple):
    def provide(_last_token, auth_manager):
        with _tokens_lock:
            cached = _tokens.get(key)
        if cached is not None and not auth_manager.is_token_expired(cached):
            return cached
        # Raises the SDK's OAuthProviderException / ApiException, or a requests error.
        token = auth_manager.fetch_token()
        with _tokens_lock:
            _tokens[key] = token
        return token

    return provide


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
            o_auth_token_provider=_token_provider(_token_key()),
            o_auth_clock_skew=TOKEN_CLOCK_SKEW,
        ),
    )
    return PaypalServersdkClient(config=config)


def _issues(error: ApiException) -> list[str]:
    return [getattr(d, "issue", "") or "" for d in (getattr(error, "details", None) or [])]


# PayPal's issues as our own sentences (customers never read PayPal's names).
ISSUE_MESSAGES = {
    "ORDER_NOT_APPROVED": "The payment has not been approved on PayPal yet. Please approve "
    "it on PayPal, or choose another way to pay.",
    "PAYER_ACTION_REQUIRED": "PayPal needs you to finish the payment on PayPal first.",
    "ORDER_EXPIRED": "This PayPal payment has expired. Please start the payment again.",
    "ORDER_ALREADY_CAPTURED": "PayPal has already taken this payment.",
    "DUPLICATE_INVOICE_ID": "PayPal refused this payment as a duplicate. Please start the "
    "payment again.",
    "PAYER_CANNOT_PAY": "PayPal cannot take this payment from your PayPal account. Please "
    "choose another way to pay.",
    "PAYEE_ACCOUNT_RESTRICTED": "PayPal payments are not available at the moment. Please "
    "choose another way to pay.",
    "INVALID_RESOURCE_ID": "This PayPal payment was not found at PayPal.",
    "REFUND_AMOUNT_EXCEEDED": "PayPal refuses to refund more than this payment took.",
    "CAPTURE_FULLY_REFUNDED": "PayPal has already refunded this payment in full.",
}
GENERIC_REFUSAL = (
    "PayPal could not process this payment. Please try again, or choose another way to pay."
)


def _gateway_error(error: Exception) -> GatewayError:
    """The one place where SDK and HTTP failures become GatewayErrors. Messages are ours,
    for customers; PayPal's status, name and issues are logged (and kept as __cause__)."""
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
        log.error("PayPal refused our credentials: %s", error)
        return GatewayError(
            "PayPal payments are not available at the moment.", code=errors.NOT_CONFIGURED
        )
    if isinstance(error, ApiException):
        status = error.response_code or 0
        name = getattr(error, "name", None) or getattr(error, "error", None) or ""
        issues = _issues(error)
        detail = " ".join(filter(None, [str(status), name, *issues]))
        log.warning("PayPal answered %s (debug id %s)", detail, getattr(error, "debug_id", ""))
        if status >= 500:
            return GatewayError(
                "PayPal is not available at the moment. Please try again later.",
                code=errors.UNAVAILABLE,
                may_retry=True,
            )
        if status == 401:
            _token_forget()
            log.error("PayPal refused our credentials (%s)", detail)
            return GatewayError(
                "PayPal payments are not available at the moment.", code=errors.NOT_CONFIGURED
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
        message = next((ISSUE_MESSAGES[i] for i in issues if i in ISSUE_MESSAGES), None)
        if message is None and status == 404:
            message = ISSUE_MESSAGES["INVALID_RESOURCE_ID"]
        return GatewayError(message or GENERIC_REFUSAL, code=errors.INVALID_REQUEST)
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
                    # PayPal refuses an invoice_id it has seen: one per attempt.
                    invoice_id=request.invoice_id or request.reference,
                    custom_id=request.reference,
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
                        # The SDK sends NO_CONTACT_INFO by default, a field PayPal's
                        # published Orders v2 description does not define (the fake
                        # refuses it: tests/fakes/specs/paypal/README.md).
                        contact_preference=APIHelper.SKIP,
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
            cause = error.__cause__
            already = isinstance(cause, ApiException) and "ORDER_ALREADY_CAPTURED" in _issues(cause)
            if error.may_retry or already:
                # The capture may have happened (a lost answer) or did (already captured):
                # PayPal's order says which. Its GET failing too leaves the first error.
                try:
                    state = self.order_get(order_id)
                except GatewayError:
                    raise error from cause
                if state.captured:
                    return state.result
                raise
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
        if _capture_of(order) is None:
            raise GatewayError(
                "PayPal could not process this payment. Please try again later.",
                code=errors.INVALID_REQUEST,
                gateway_ref=order_id,
            )
        return _order_status(order, order_id).result

    def order_get(self, order_id: str) -> PayPalOrderStatus:
        """The order and its capture as PayPal has them now (the status poll, a lost
        capture answer, a new attempt checking the previous one)."""
        with _mapped():
            order = _client().orders.get_order({"id": order_id}).body
        return _order_status(order, order_id)

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
            token = _token_provider(_token_key())(None, client.oauth_2)
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


def _order_status(order, order_id: str) -> PayPalOrderStatus:
    """What an order (with or without its capture) means for the attempt."""
    order_status = _status(order.status)
    capture = _capture_of(order)
    if capture is not None:
        capture_status = _status(capture.status)
        if capture_status == "PENDING":
            status = PENDING
        elif capture_status in ("DECLINED", "FAILED"):
            status = FAILED
        else:  # COMPLETED; PARTIALLY_REFUNDED, REFUNDED, REVERSED were completed first
            status = SUCCEEDED
        result = ChargeResult(
            status=status,
            gateway_ref=order.id or order_id,
            amount=Decimal(capture.amount.value),
            currency=capture.amount.currency_code,
            error_code=errors.INSTRUMENT_DECLINED if status == FAILED else "",
            error_message="PayPal declined the payment. Please choose another way to pay."
            if status == FAILED
            else "",
            owner=_order_owner(order),
            capture_ref=capture.id or "",
        )
    else:
        if order_status == "APPROVED":
            status = PENDING  # approved, not captured yet: capture it
        elif order_status == "VOIDED":
            status = FAILED
        else:  # CREATED, PAYER_ACTION_REQUIRED, SAVED: the buyer has not approved
            status = REQUIRES_ACTION
        result = ChargeResult(
            status=status,
            gateway_ref=order.id or order_id,
            amount=_order_amount(order),
            currency=_order_currency(order),
            action_url=_link(order.links, "payer-action", "approve"),
            error_code=errors.INVALID_REQUEST if status == FAILED else "",
            error_message="This PayPal payment was cancelled at PayPal."
            if status == FAILED
            else "",
            owner=_order_owner(order),
        )
    return PayPalOrderStatus(order_id=order.id or order_id, status=order_status, result=result)


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
