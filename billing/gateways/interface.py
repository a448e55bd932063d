"""What a payment gateway is asked and answers, as dataclasses (Saleor's
payment/interface.py is the model). Implementations: stripe.py (cards, SEPA debit,
Checkout), paypal.py (Orders v2), sandbox.py (the offline default, with local stand-ins for
the hosted pages). Services never see an SDK object: only these.

Amounts are Decimal in currency units (12.50 EUR), never cents; each implementation
converts at its edge. Failures raise billing.gateways.errors.GatewayError.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

# ChargeResult.status
SUCCEEDED = "succeeded"
PENDING = "pending"  # SEPA debit: the bank answers days later (webhook)
REQUIRES_ACTION = "requires_action"  # 3-D Secure or PayPal approval: see action_url
FAILED = "failed"


@dataclass(frozen=True)
class GatewayCustomer:
    customer_id: int
    email: str
    name: str
    gateway_customer_ref: str = ""  # "" until the gateway made one
    # Called with the gateway's new customer id as soon as it is made (before the hosted
    # session that may still fail), so the service remembers it and no try leaves an orphan.
    ref_created: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
    # The idempotency key that makes this customer on the gateway: one per customer of
    # ours (and installation), so a retry never makes a second one.
    create_key: str = ""


@dataclass(frozen=True)
class HostedSession:
    """A page on the gateway's side (Checkout) the customer is sent to."""

    session_id: str
    url: str
    gateway_customer_ref: str = ""


@dataclass(frozen=True)
class SetupSessionRequest:
    """Save a card or a SEPA mandate for later (Checkout in setup mode)."""

    customer: GatewayCustomer
    kinds: tuple[str, ...]  # PaymentMethodKind values: "card", "sepa_debit"
    success_url: str  # "{SESSION_ID}" in it is replaced by the session's id
    cancel_url: str


@dataclass(frozen=True)
class SessionOwner:
    """Whose hosted session, order or charge this is, as the gateway recorded it when we
    opened it (the customer cannot change it on the way back). Services compare it with
    the logged-in customer in one place (billing/services/ownership.py): a session id in
    a return URL is only a claim.

    Each field is "" when the gateway does not know it: Stripe gives the Customer and our
    metadata, the sandbox its stored customer_id, PayPal only the reference we sent."""

    customer_id: str = ""  # our Customer pk, from the metadata we sent
    gateway_customer_ref: str = ""  # the gateway's customer (Stripe "cus_…")
    reference: str = ""  # our reference: the invoice number, "TOP-UP-<payment id>"


@dataclass(frozen=True)
class SavedMethod:
    """A method the customer saved, as the gateway describes it."""

    gateway_ref: str
    kind: str  # "card" or "sepa_debit"
    brand: str = ""  # visa, mastercard, amex
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    funding: str = ""  # credit, debit, prepaid
    mandate_ref: str = ""  # sepa_debit: the mandate's reference (pre-notifications quote it)
    # setup_session_result: whose session saved it. Not part of equality: it describes
    # the session the method came back from, not the method.
    owner: SessionOwner | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PaymentSessionRequest:
    """Pay once on a hosted page (an invoice by a new card, a balance top-up)."""

    customer: GatewayCustomer
    amount: Decimal
    currency: str
    description: str
    reference: str  # our reference: the invoice number, the top-up id
    idempotency_key: str
    success_url: str  # "{SESSION_ID}" replaced as above
    cancel_url: str
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeRequest:
    """Charge a saved method: off-session (automatic collection) or with the customer."""

    customer: GatewayCustomer
    method_ref: str
    amount: Decimal
    currency: str
    idempotency_key: str  # the same key twice never charges twice
    description: str
    off_session: bool
    return_url: str = ""  # where 3-D Secure comes back to
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeResult:
    status: str  # SUCCEEDED, PENDING, REQUIRES_ACTION, FAILED
    gateway_ref: str  # e.g. the PaymentIntent or PayPal order id
    amount: Decimal
    currency: str
    action_url: str = ""  # REQUIRES_ACTION: where the customer completes it
    error_code: str = ""  # FAILED: a GatewayError code
    error_message: str = ""
    method: SavedMethod | None = None  # the method used, when the gateway says
    # Whose session, order or charge (payment_session_result, charge_status,
    # order_capture); None when the gateway does not say, which ownership refuses. Not
    # part of equality: the same charge read through its session or directly is equal.
    owner: SessionOwner | None = field(default=None, compare=False)
    # PayPal: the capture's id (what PayPal's capture webhooks name), "" before a capture.
    capture_ref: str = ""


@dataclass(frozen=True)
class RefundRequest:
    payment_ref: str
    amount: Decimal
    currency: str
    idempotency_key: str


@dataclass(frozen=True)
class RefundResult:
    gateway_ref: str
    status: str  # SUCCEEDED or PENDING


@dataclass(frozen=True)
class GatewayEvent:
    """A webhook event, verified. `data` is the event's object as plain JSON."""

    provider: str  # "stripe", "paypal", "sandbox"
    event_id: str
    type: str  # e.g. "payment_intent.succeeded", "PAYMENT.CAPTURE.COMPLETED"
    created: int  # Unix seconds, for ordering
    data: dict
    payload: dict  # the whole event, stored as received


@dataclass(frozen=True)
class PayPalOrderRequest:
    amount: Decimal
    currency: str
    reference: str  # the invoice number: reference_id and custom_id
    description: str
    idempotency_key: str  # sent as PayPal-Request-Id
    return_url: str
    cancel_url: str
    # PayPal's invoice_id, which PayPal refuses twice for one merchant: one per attempt
    # ("CAJ-2026-000001-2"); "" sends the reference.
    invoice_id: str = ""


@dataclass(frozen=True)
class PayPalOrder:
    order_id: str
    approve_url: str
    status: str  # CREATED, APPROVED, COMPLETED


@dataclass(frozen=True)
class PayPalOrderStatus:
    """Where an order stands at PayPal (GET /v2/checkout/orders/{id})."""

    order_id: str
    status: str  # CREATED, PAYER_ACTION_REQUIRED, APPROVED, COMPLETED, VOIDED
    # What it means for the attempt: SUCCEEDED, PENDING or FAILED once captured (with
    # capture_ref); REQUIRES_ACTION while the buyer has not approved; PENDING when
    # approved and not captured yet (capture it, with the attempt's key).
    result: ChargeResult

    @property
    def captured(self) -> bool:
        return bool(self.result.capture_ref)


class CardGateway(Protocol):
    """Cards and SEPA debit (Stripe, or the sandbox)."""

    name: str

    def setup_session_create(self, request: SetupSessionRequest) -> HostedSession: ...
    def setup_session_result(self, session_id: str) -> SavedMethod: ...
    def payment_session_create(self, request: PaymentSessionRequest) -> HostedSession: ...
    def payment_session_result(self, session_id: str) -> ChargeResult: ...
    def charge(self, request: ChargeRequest) -> ChargeResult: ...
    def charge_status(self, gateway_ref: str) -> ChargeResult: ...
    def refund(self, request: RefundRequest) -> RefundResult: ...
    def method_detach(self, method_ref: str) -> None: ...
    def webhook_event(self, *, payload: bytes, signature: str) -> GatewayEvent: ...


class PayPalGateway(Protocol):
    """PayPal checkout, Orders v2: create, the customer approves, capture."""

    name: str

    def order_create(self, request: PayPalOrderRequest) -> PayPalOrder: ...
    def order_capture(self, *, order_id: str, idempotency_key: str) -> ChargeResult: ...
    def order_get(self, order_id: str) -> PayPalOrderStatus: ...
    def refund(self, request: RefundRequest) -> RefundResult: ...
    def webhook_event(self, *, headers: dict, body: bytes) -> GatewayEvent: ...
