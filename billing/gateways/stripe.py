"""Stripe, through the official SDK (stripe-python's `StripeClient`): Checkout for saving a
card or a SEPA mandate and for paying once, PaymentIntents for charging a saved method,
Refunds, and signed webhooks. This and the tests are the only modules importing `stripe`.

Every call builds a client from the settings read at that moment (the facade's rule): the
secret key, the pinned API version (settings.STRIPE_API_VERSION, sent as Stripe-Version; every
request below is written for that version and the tests' fake checks it against that
version's OpenAPI description, tests/fakes/specs/), an explicit timeout, the SDK's network
retries (it retries connection errors, timeouts, 409 and 5xx with the same Idempotency-Key,
so a retry never charges twice) and, in tests, STRIPE_API_BASE pointing at the local fake
(tests/fakes/stripe_server.py).

Errors: `_stripe_errors()` is the one place mapping SDK exceptions to GatewayError (like
Zulip's `catch_stripe_errors`). Stripe's own text stays in GatewayError.message and the log,
for staff: customers see errors.customer_message(code). A card refusal becomes a
`_CardRefused` (a GatewayError with may_retry False and the PaymentIntent's id); `charge`
turns it into a FAILED result, everything else (network, 5xx, rate limit, bad request, bad
key) is raised.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings

from billing.gateways import errors
from billing.gateways.errors import GatewayError
from billing.gateways.interface import (
    FAILED,
    PENDING,
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeRequest,
    ChargeResult,
    GatewayCustomer,
    GatewayEvent,
    HostedSession,
    PaymentSessionRequest,
    RefundRequest,
    RefundResult,
    SavedMethod,
    SessionOwner,
    SetupSessionRequest,
)

# The SDK logs every request's URL at INFO ("Request to Stripe api ... url=…"), and a
# retrieve's URL holds the Checkout Session or PaymentIntent id; the portal's root logger
# is at INFO. Its warnings and errors still show.
logging.getLogger("stripe").setLevel(logging.WARNING)
logger = logging.getLogger(__name__)

WEBHOOK_TOLERANCE = 300  # seconds: Stripe's default, refuses replays of old events

# Our placeholder in success URLs, and Stripe's (Checkout substitutes the session id).
OUR_SESSION_PLACEHOLDER = "{SESSION_ID}"
STRIPE_SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"

# Not accepted (docs/RULES.md): American Express and prepaid cards. Checkout blocks them
# before the customer can submit (payment_method_options.card.restrictions: brands_blocked
# since API 2025-02-24, funding_types_blocked since 2026-08-26; the SDK pins a newer
# version). PaymentIntents have no such option and Radar rules are account-wide, not per
# request: the services re-check SavedMethod.brand / funding after every save anyway.
CARD_RESTRICTIONS = {
    "brands_blocked": ["american_express"],
    "funding_types_blocked": ["prepaid"],
}

# PaymentIntent.status → ChargeResult.status. requires_payment_method after a confirm
# means the attempt was refused; canceled is final.
_INTENT_STATUS = {
    "succeeded": SUCCEEDED,
    "processing": PENDING,  # SEPA debit: the bank answers days later (webhook)
    "requires_action": REQUIRES_ACTION,
    "requires_confirmation": PENDING,
    "requires_capture": PENDING,
    "requires_payment_method": FAILED,
    "canceled": FAILED,
}


class _CardRefused(GatewayError):
    """The card or the bank said no: final for this attempt, a result rather than an
    error for `charge`."""


def _refusal_code(code: str | None, decline_code: str | None) -> str:
    if "authentication_required" in (code, decline_code):
        return errors.AUTHENTICATION_REQUIRED
    if decline_code == "insufficient_funds":
        return errors.INSUFFICIENT_FUNDS
    return errors.CARD_DECLINED


@contextmanager
def _stripe_errors() -> Iterator[None]:
    """Every SDK failure as a GatewayError: the one mapping."""
    try:
        yield
    except stripe.CardError as error:
        body = error.error
        intent = getattr(body, "payment_intent", None) if body else None
        raise _CardRefused(
            error.user_message or "The card was declined.",
            code=_refusal_code(error.code, getattr(body, "decline_code", None) if body else None),
            may_retry=False,
            gateway_ref=_id(intent),
        ) from error
    except stripe.RateLimitError as error:
        raise GatewayError(
            "Stripe is busy; try again shortly.", code=errors.RATE_LIMITED, may_retry=True
        ) from error
    except stripe.APIConnectionError as error:  # connection refused, timeouts
        raise GatewayError(
            "Stripe could not be reached.", code=errors.UNAVAILABLE, may_retry=True
        ) from error
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        raise GatewayError(
            "The Stripe key is missing or not allowed.", code=errors.NOT_CONFIGURED
        ) from error
    except (stripe.InvalidRequestError, stripe.IdempotencyError) as error:
        # A bug on our side (a parameter this API version refuses; IdempotencyError: a key
        # reused with other parameters): logged with Stripe's words for us to fix.
        logger.warning(
            "Stripe refused a request: %s (code %s, param %s)",
            error.user_message,
            error.code,
            getattr(error, "param", None),
        )
        raise GatewayError(
            error.user_message or "Stripe refused the request.",
            code=errors.INVALID_REQUEST,
            may_retry=False,
        ) from error
    except stripe.SignatureVerificationError as error:
        raise GatewayError(
            "The webhook signature is not valid.", code=errors.BAD_SIGNATURE
        ) from error
    except stripe.StripeError as error:  # APIError: 5xx, 409, unreadable answers
        raise GatewayError(
            "Stripe had a problem; try again later.",
            code=errors.UNAVAILABLE,
            may_retry=error.http_status is None
            or error.http_status >= 500
            or error.http_status == 409,
        ) from error


def _field(obj: Any, name: str) -> Any:
    """A StripeObject's field, or None when absent (StripeObject is not a dict)."""
    return getattr(obj, name, None) if obj is not None else None


def _id(value: Any) -> str:
    """The id of an expandable field (an object or its id), or ""."""
    if not value:
        return ""
    if isinstance(value, str):
        return value
    return getattr(value, "id", "") or ""


def to_minor(amount: Decimal) -> int:
    """12.50 → 1250, exactly (all our currencies have two decimals); a fraction of a cent
    is refused rather than rounded."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise GatewayError(f"{amount} has more than two decimals.", code=errors.INVALID_REQUEST)
    return int(cents)


def from_minor(cents: int | None) -> Decimal:
    return Decimal(cents or 0).scaleb(-2)


def _stripe_success_url(url: str) -> str:
    return url.replace(OUR_SESSION_PLACEHOLDER, STRIPE_SESSION_PLACEHOLDER)


def _mandate_ref(mandate: Any) -> str:
    """An expanded Mandate's SEPA reference ("" when there is none)."""
    details = _field(mandate, "payment_method_details") if mandate else None
    sepa = _field(details, "sepa_debit") if details else None
    return str(_field(sepa, "reference") or "") if sepa else ""


def _saved_method(payment_method: Any) -> SavedMethod | None:
    """An expanded PaymentMethod as a SavedMethod (None when it was not expanded)."""
    if not payment_method or isinstance(payment_method, str):
        return None
    kind = payment_method.type
    if kind == "card":
        card = payment_method.card
        return SavedMethod(
            gateway_ref=payment_method.id,
            kind="card",
            brand=card.brand or "",
            last4=card.last4 or "",
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            funding=card.funding or "",
        )
    if kind == "sepa_debit":
        return SavedMethod(
            gateway_ref=payment_method.id,
            kind="sepa_debit",
            last4=payment_method.sepa_debit.last4 or "",
        )
    return SavedMethod(gateway_ref=payment_method.id, kind=kind)


def _owner(obj: Any) -> SessionOwner:
    """Whose Checkout Session or PaymentIntent: its `customer` and the metadata we set
    when we made it (customer_id, reference), which the customer cannot change."""
    metadata = _field(obj, "metadata")
    return SessionOwner(
        customer_id=str(_field(metadata, "customer_id") or ""),
        gateway_customer_ref=_id(_field(obj, "customer")),
        reference=str(_field(metadata, "reference") or _field(obj, "client_reference_id") or ""),
    )


def _charge_result(intent: Any) -> ChargeResult:
    """A PaymentIntent as a ChargeResult. REQUIRES_ACTION: action_url is Stripe's 3-D Secure
    page (next_action.redirect_to_url, given when a return_url was sent); it comes back to
    our return_url, where charge_status() reads the outcome."""
    status = _INTENT_STATUS.get(intent.status, PENDING)
    action_url = ""
    error_code = error_message = ""
    if status == REQUIRES_ACTION:
        next_action = _field(intent, "next_action")
        redirect = _field(next_action, "redirect_to_url") if next_action else None
        action_url = (_field(redirect, "url") if redirect else "") or ""
    elif status == FAILED:
        last_error = _field(intent, "last_payment_error")
        if last_error:
            error_code = _refusal_code(
                _field(last_error, "code"), _field(last_error, "decline_code")
            )
            error_message = _field(last_error, "message") or ""
        elif intent.status == "canceled":
            error_code, error_message = errors.CARD_DECLINED, "The payment was canceled."
        else:
            error_code, error_message = errors.CARD_DECLINED, "The payment was not completed."
    # What Stripe received once it succeeded (amount_received), never what we asked for.
    received = _field(intent, "amount_received") if status == SUCCEEDED else None
    return ChargeResult(
        status=status,
        gateway_ref=intent.id,
        amount=from_minor(received if received is not None else intent.amount),
        currency=(intent.currency or "").upper(),
        action_url=action_url,
        error_code=error_code,
        error_message=error_message[:300],
        method=_saved_method(_field(intent, "payment_method")),
        owner=_owner(intent),
    )


class StripeGateway:
    """CardGateway on Stripe (see interface.CardGateway)."""

    name = "stripe"

    # ---- the client -------------------------------------------------------------------

    @contextmanager
    def _client(self) -> Iterator[stripe.StripeClient]:
        """A client for one call, from the settings now; its HTTP session closed after."""
        if not settings.STRIPE_SECRET_KEY:
            raise GatewayError("STRIPE_SECRET_KEY is not set.", code=errors.NOT_CONFIGURED)
        base_addresses = {}
        if settings.STRIPE_API_BASE:
            base_addresses["api"] = settings.STRIPE_API_BASE.rstrip("/")
        http_client = stripe.RequestsClient(timeout=settings.PAYMENT_GATEWAY_TIMEOUT)
        try:
            yield stripe.StripeClient(
                settings.STRIPE_SECRET_KEY,
                stripe_version=settings.STRIPE_API_VERSION,
                http_client=http_client,
                max_network_retries=settings.PAYMENT_GATEWAY_MAX_NETWORK_RETRIES,
                base_addresses=base_addresses,
            )
        finally:
            http_client.close()

    def _ensure_customer(self, client: stripe.StripeClient, customer: GatewayCustomer) -> str:
        """Our customer's Stripe customer, made once: the key comes from our customer (so a
        retry within Stripe's 24 h replays the same one) and the new id is handed to
        `customer.ref_created` at once, before any session that may fail (so a later try
        reuses it instead of leaving an orphan)."""
        if customer.gateway_customer_ref:
            return customer.gateway_customer_ref
        created = client.v1.customers.create(
            params={
                "email": customer.email,
                "name": customer.name,
                "metadata": {"customer_id": str(customer.customer_id)},
            },
            options={"idempotency_key": customer.create_key} if customer.create_key else None,
        )
        if customer.ref_created is not None:
            customer.ref_created(created.id)
        return created.id

    # ---- saving a method ----------------------------------------------------------------

    def setup_session_create(self, request: SetupSessionRequest) -> HostedSession:
        with self._client() as client, _stripe_errors():
            customer_ref = self._ensure_customer(client, request.customer)
            params: dict[str, Any] = {
                "mode": "setup",
                "customer": customer_ref,
                # Since 2026-09-30.endive Checkout has no payment_method_types: this filters
                # the eligible methods (and, set, makes `currency` optional in setup mode).
                "allowed_payment_method_types": list(request.kinds),
                "success_url": _stripe_success_url(request.success_url),
                "cancel_url": request.cancel_url,
                "metadata": {"customer_id": str(request.customer.customer_id)},
            }
            if "card" in request.kinds:
                params["payment_method_options"] = {"card": {"restrictions": CARD_RESTRICTIONS}}
            session = client.v1.checkout.sessions.create(params=params)
        return HostedSession(
            session_id=session.id, url=session.url or "", gateway_customer_ref=customer_ref
        )

    def setup_session_result(self, session_id: str) -> SavedMethod:
        with self._client() as client, _stripe_errors():
            session = client.v1.checkout.sessions.retrieve(
                session_id,
                # The mandate (SEPA debit) carries the reference its debits quote.
                params={"expand": ["setup_intent.payment_method", "setup_intent.mandate"]},
            )
        setup_intent = _field(session, "setup_intent")
        method = _saved_method(_field(setup_intent, "payment_method")) if setup_intent else None
        if session.status != "complete" or method is None:
            raise GatewayError(
                "No payment method was saved in this session.", code=errors.INVALID_REQUEST
            )
        if method.kind == "sepa_debit":
            method = replace(method, mandate_ref=_mandate_ref(_field(setup_intent, "mandate")))
        return replace(method, owner=_owner(session))

    # ---- paying once on Checkout ----------------------------------------------------------

    def payment_session_create(self, request: PaymentSessionRequest) -> HostedSession:
        metadata = {k: str(v) for k, v in request.metadata.items()}
        metadata["reference"] = request.reference
        # Whose session: read back on the return page and checked (SessionOwner).
        metadata["customer_id"] = str(request.customer.customer_id)
        with self._client() as client, _stripe_errors():
            customer_ref = self._ensure_customer(client, request.customer)
            session = client.v1.checkout.sessions.create(
                params={
                    "mode": "payment",
                    "customer": customer_ref,
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": request.currency.lower(),
                                "unit_amount": to_minor(request.amount),
                                "product_data": {"name": request.description},
                            },
                        }
                    ],
                    "allowed_payment_method_types": ["card"],
                    "payment_method_options": {"card": {"restrictions": CARD_RESTRICTIONS}},
                    "client_reference_id": request.reference,
                    "metadata": metadata,
                    # The PaymentIntent carries the reference too (its webhooks).
                    "payment_intent_data": {
                        "description": request.description,
                        "metadata": metadata,
                    },
                    "success_url": _stripe_success_url(request.success_url),
                    "cancel_url": request.cancel_url,
                },
                options={"idempotency_key": request.idempotency_key},
            )
        return HostedSession(
            session_id=session.id, url=session.url or "", gateway_customer_ref=customer_ref
        )

    def payment_session_result(self, session_id: str) -> ChargeResult:
        with self._client() as client, _stripe_errors():
            session = client.v1.checkout.sessions.retrieve(
                session_id, params={"expand": ["payment_intent.payment_method"]}
            )
        intent = _field(session, "payment_intent")
        # The session's owner (the one we opened), not the intent's: the same customer and
        # metadata, plus the reference the session carries.
        owner = _owner(session)
        if intent and not isinstance(intent, str):
            return replace(_charge_result(intent), owner=owner)
        # No PaymentIntent yet (Checkout makes it when the customer confirms): still open
        # means the customer has not paid; expired is final.
        amount = from_minor(_field(session, "amount_total"))
        currency = (_field(session, "currency") or "").upper()
        if session.status == "open":
            return ChargeResult(
                status=REQUIRES_ACTION,
                gateway_ref="",
                amount=amount,
                currency=currency,
                action_url=session.url or "",
                owner=owner,
            )
        return ChargeResult(
            status=FAILED,
            gateway_ref="",
            amount=amount,
            currency=currency,
            error_code=errors.CARD_DECLINED,
            error_message="The payment page expired without a payment.",
            owner=owner,
        )

    # ---- charging a saved method ----------------------------------------------------------

    def charge(self, request: ChargeRequest) -> ChargeResult:
        params: dict[str, Any] = {
            "amount": to_minor(request.amount),
            "currency": request.currency.lower(),
            "customer": request.customer.gateway_customer_ref or None,
            "payment_method": request.method_ref,
            "confirm": True,
            "off_session": request.off_session,
            "description": request.description,
            # customer_id: whose charge, read back by charge_status after 3-D Secure.
            "metadata": {
                **{k: str(v) for k, v in request.metadata.items()},
                "customer_id": str(request.customer.customer_id),
            },
            "expand": ["payment_method"],
        }
        if request.return_url:
            # 3-D Secure with the customer: Stripe answers requires_action with a
            # next_action.redirect_to_url page that comes back here.
            params["return_url"] = request.return_url
        else:
            # Off-session: no page to come back to, so no redirect-based methods (cards
            # and SEPA debit need none); Stripe otherwise demands a return_url.
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
        try:
            with self._client() as client, _stripe_errors():
                intent = client.v1.payment_intents.create(
                    params=params, options={"idempotency_key": request.idempotency_key}
                )
        except _CardRefused as refused:
            return ChargeResult(
                status=FAILED,
                gateway_ref=refused.gateway_ref,
                amount=request.amount,
                currency=request.currency,
                error_code=refused.code,
                error_message=refused.message[:300],
            )
        return _charge_result(intent)

    def charge_status(self, gateway_ref: str) -> ChargeResult:
        with self._client() as client, _stripe_errors():
            intent = client.v1.payment_intents.retrieve(
                gateway_ref, params={"expand": ["payment_method"]}
            )
        return _charge_result(intent)

    def refund(self, request: RefundRequest) -> RefundResult:
        with self._client() as client, _stripe_errors():
            refund = client.v1.refunds.create(
                params={"payment_intent": request.payment_ref, "amount": to_minor(request.amount)},
                options={"idempotency_key": request.idempotency_key},
            )
        if refund.status == "succeeded":
            status = SUCCEEDED
        elif refund.status in ("pending", "requires_action"):
            status = PENDING  # SEPA refunds take days
        else:
            raise GatewayError(
                f"The refund {refund.id} is {refund.status}.",
                code=errors.INVALID_REQUEST,
                gateway_ref=refund.id,
            )
        return RefundResult(gateway_ref=refund.id, status=status)

    def method_detach(self, method_ref: str) -> None:
        with self._client() as client, _stripe_errors():
            client.v1.payment_methods.detach(method_ref)

    # ---- webhooks ----------------------------------------------------------------------

    def webhook_event(self, *, payload: bytes, signature: str) -> GatewayEvent:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise GatewayError("STRIPE_WEBHOOK_SECRET is not set.", code=errors.NOT_CONFIGURED)
        try:
            with _stripe_errors():
                event = stripe.Webhook.construct_event(
                    payload, signature, secret, tolerance=WEBHOOK_TOLERANCE
                )
        except ValueError as error:  # not UTF-8, not JSON, not an event
            raise GatewayError(
                "The webhook body is not a Stripe event.", code=errors.BAD_SIGNATURE
            ) from error
        whole = event.to_dict()
        data = whole.get("data") or {}
        obj = data.get("object")
        return GatewayEvent(
            provider=self.name,
            event_id=whole.get("id") or "",
            type=whole.get("type") or "",
            created=int(whole.get("created") or 0),
            data=json.loads(json.dumps(obj, default=str)) if isinstance(obj, dict) else {},
            payload=json.loads(json.dumps(whole, default=str)),
        )
