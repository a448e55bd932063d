"""The sandbox: a full gateway that moves no money and never leaves this machine.

The facade (billing/gateways/__init__.py) picks it when no Stripe or PayPal keys are set:
the demo and the tests. The hosted pages (Checkout, PayPal approval, 3-D Secure) are local
stand-ins under /sandbox/ (sandbox_views.py); their state is in the database
(billing.models.SandboxRecord) so the web server and the Celery worker share it.

Outcomes follow Stripe's test numbers (TEST_CARDS):
- 4242 4242 4242 4242 (Visa credit), 5555 5555 5555 4444 (Mastercard) succeed;
- 3782 822463 10005 (American Express) and 4000 0566 5566 5556 (Visa prepaid) are refused
  on the stand-in page ("… cards are not accepted"); a SavedMethod still says brand "amex"
  or funding "prepaid" (`sandbox_method_create`), so our services can check on our side;
- 4000 0000 0000 0002 is declined when charged (card_declined), 4000 0000 0000 9995 has
  insufficient funds (insufficient_funds): a FAILED ChargeResult, not an exception;
- 4000 0027 6000 3184 needs 3-D Secure: REQUIRES_ACTION with action_url to the stand-in,
  whose Complete / Fail buttons settle the charge and go back to return_url;
- SEPA debit: any valid IBAN (python-stdnum). A SEPA charge is PENDING; charge_status()
  says SUCCEEDED once settings.SANDBOX_SEPA_SETTLE_SECONDS have passed, or FAILED
  (sepa_debit_failed) for an IBAN ending in 3202 (Stripe's failing AT86 1904 3002 3547 3202).

Declines are results (ChargeResult FAILED with a GatewayError code): an attempt was made
and has a ref. GatewayError is raised for requests the sandbox cannot serve (an unknown or
detached method, an unfinished session, a refund larger than what is left) and for every
webhook: the sandbox sends none.

Idempotency: a charge, payment session, PayPal order, capture or refund with a key seen
before returns the stored result, never a second one.
"""

import dataclasses
import secrets
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from hashlib import sha256
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from stdnum import iban as stdnum_iban

from billing.gateways import errors
from billing.gateways.errors import GatewayError
from billing.gateways.interface import (
    FAILED,
    PENDING,
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeRequest,
    ChargeResult,
    GatewayEvent,
    HostedSession,
    PaymentSessionRequest,
    PayPalOrder,
    PayPalOrderRequest,
    PayPalOrderStatus,
    RefundRequest,
    RefundResult,
    SavedMethod,
    SessionOwner,
    SetupSessionRequest,
)
from billing.models import SandboxKind, SandboxRecord

NAME = "sandbox"

# Card outcomes when charged
OK = "ok"
DECLINED = "declined"
NO_FUNDS = "insufficient_funds"
AUTHENTICATE = "authenticate"

# SEPA outcomes
SEPA_FAILING_SUFFIX = "3202"


@dataclass(frozen=True)
class SandboxCard:
    number: str  # as printed, grouped
    brand: str
    funding: str
    outcome: str
    label: str  # what the stand-in page lists


TEST_CARDS = {
    card.number.replace(" ", ""): card
    for card in (
        SandboxCard("4242 4242 4242 4242", "visa", "credit", OK, "Visa: succeeds"),
        SandboxCard("5555 5555 5555 4444", "mastercard", "credit", OK, "Mastercard: succeeds"),
        SandboxCard("4000 0027 6000 3184", "visa", "credit", AUTHENTICATE, "Asks for 3-D Secure"),
        SandboxCard("4000 0000 0000 0002", "visa", "credit", DECLINED, "Declined when charged"),
        SandboxCard("4000 0000 0000 9995", "visa", "credit", NO_FUNDS, "Insufficient funds"),
        SandboxCard("3782 822463 10005", "amex", "credit", OK, "American Express: refused"),
        SandboxCard("4000 0566 5566 5556", "visa", "prepaid", OK, "Prepaid: refused"),
    )
}
TEST_IBANS = (
    ("DE89 3704 0044 0532 0130 00", "Succeeds once settled"),
    ("AT86 1904 3002 3547 3202", "Fails once settled"),
)
USE_A_TEST_CARD = "Use a test card: 4242 4242 4242 4242"

DECLINE_MESSAGES = {
    DECLINED: (errors.CARD_DECLINED, "Your card was declined."),
    NO_FUNDS: (errors.INSUFFICIENT_FUNDS, "Your card has insufficient funds."),
}


def card_refusal(brand: str, funding: str) -> str:
    """Why the stand-in page refuses a card, or "" (our acceptance policy, as a Radar
    rule would apply it at Stripe)."""
    if brand == "amex":
        return "American Express cards are not accepted"
    if funding == "prepaid":
        return "Prepaid cards are not accepted"
    return ""


def card_for_number(number: str) -> SandboxCard:
    """The test card for a typed number; GatewayError(INVALID_REQUEST) for any other."""
    card = TEST_CARDS.get("".join(number.split()))
    if card is None:
        raise GatewayError(USE_A_TEST_CARD, code=errors.INVALID_REQUEST)
    return card


# ---- records --------------------------------------------------------------------------


def _new_ref(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _absolute(path: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + path


def _record(ref: str, *kinds: str, lock: bool = False) -> SandboxRecord:
    rows = SandboxRecord.objects.filter(ref=ref, kind__in=kinds)
    if lock:
        rows = rows.select_for_update()
    record = rows.first()
    if record is None:
        raise GatewayError(f"No such sandbox object: {ref}", code=errors.INVALID_REQUEST)
    return record


def _idempotent(kind: str, key: str, create) -> SandboxRecord:
    """The record `create()` makes, or the one an earlier call with this key made."""
    if not key:
        raise GatewayError("An idempotency key is required.", code=errors.INVALID_REQUEST)
    idem_ref = "idem_" + sha256(f"{kind}:{key}".encode()).hexdigest()
    seen = SandboxRecord.objects.filter(ref=idem_ref).first()
    if seen is None:
        try:
            with transaction.atomic():
                record = create()
                SandboxRecord.objects.create(
                    kind=SandboxKind.IDEMPOTENCY, ref=idem_ref, payload={"ref": record.ref}
                )
                return record
        except IntegrityError:  # the same key at the same time: the other call won
            seen = SandboxRecord.objects.get(ref=idem_ref)
    return SandboxRecord.objects.get(ref=seen.payload["ref"])


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def _saved_method(record: SandboxRecord) -> SavedMethod:
    p = record.payload
    return SavedMethod(
        gateway_ref=record.ref,
        kind=p["kind"],
        brand=p.get("brand", ""),
        last4=p.get("last4", ""),
        exp_month=p.get("exp_month"),
        exp_year=p.get("exp_year"),
        funding=p.get("funding", ""),
        mandate_ref=p.get("mandate_ref", ""),
    )


def _owner(payload: dict) -> SessionOwner | None:
    """Whose session or charge, from what we stored when it was opened; None for a record
    made before the sandbox stored it (ownership then refuses it: fail closed)."""
    if not payload.get("customer_id"):
        return None
    return SessionOwner(
        customer_id=str(payload["customer_id"]), reference=payload.get("reference", "")
    )


def _charge_result(record: SandboxRecord) -> ChargeResult:
    p = record.payload
    method = None
    if p.get("method_ref"):
        method_record = SandboxRecord.objects.filter(ref=p["method_ref"]).first()
        method = _saved_method(method_record) if method_record else None
    return ChargeResult(
        status=p["status"],
        gateway_ref=record.ref,
        amount=Decimal(p["amount"]),
        currency=p["currency"],
        action_url=_absolute(reverse("sandbox:authenticate", args=[record.ref]))
        if p["status"] == REQUIRES_ACTION
        else "",
        error_code=p.get("error_code", ""),
        error_message=p.get("error_message", ""),
        method=method,
        owner=_owner(p),
    )


# ---- what the stand-in pages do ---------------------------------------------------------


def sandbox_method_create(
    *,
    card_number: str = "",
    exp_month: int | None = None,
    exp_year: int | None = None,
    iban: str = "",
    holder: str = "",
) -> SandboxRecord:
    """Save a test card or an IBAN as a method, with no acceptance policy: the stand-in
    page refuses American Express and prepaid cards before calling this; tests call it
    directly to check that our services refuse them too."""
    if iban:
        if not stdnum_iban.is_valid(iban):
            raise GatewayError("Enter a valid IBAN.", code=errors.INVALID_REQUEST)
        compact = stdnum_iban.compact(iban)
        payload = {
            "kind": "sepa_debit",
            "last4": compact[-4:],
            "country": compact[:2],
            "holder": holder,
            # Like Stripe's: 16 upper-case letters and digits, unique per mandate.
            "mandate_ref": secrets.token_hex(8).upper(),
            "outcome": FAILED if compact.endswith(SEPA_FAILING_SUFFIX) else SUCCEEDED,
        }
    else:
        card = card_for_number(card_number)
        payload = {
            "kind": "card",
            "brand": card.brand,
            "funding": card.funding,
            "last4": card.number[-4:],
            "exp_month": exp_month,
            "exp_year": exp_year,
            "outcome": card.outcome,
        }
    return SandboxRecord.objects.create(
        kind=SandboxKind.METHOD, ref=_new_ref("sb_pm"), payload=payload
    )


def sandbox_session(session_id: str) -> SandboxRecord:
    return _record(session_id, SandboxKind.SETUP_SESSION, SandboxKind.PAYMENT_SESSION)


def sandbox_success_url(session: SandboxRecord) -> str:
    return session.payload["success_url"].replace("{SESSION_ID}", session.ref)


def sandbox_setup_complete(session_id: str, **method_fields) -> SavedMethod:
    """The customer saved a card (card_number, exp_month, exp_year) or an IBAN (iban,
    holder) on the Checkout stand-in. Refused cards raise CARD_REFUSED_BY_POLICY."""
    with transaction.atomic():
        session = _record(session_id, SandboxKind.SETUP_SESSION, lock=True)
        if session.payload.get("method_ref"):
            raise GatewayError("This session is complete.", code=errors.INVALID_REQUEST)
        kind = "sepa_debit" if method_fields.get("iban") else "card"
        if kind not in session.payload["kinds"]:
            raise GatewayError(f"This session does not take {kind}.", code=errors.INVALID_REQUEST)
        if kind == "card":
            card = card_for_number(method_fields["card_number"])
            refusal = card_refusal(card.brand, card.funding)
            if refusal:
                raise GatewayError(refusal, code=errors.CARD_REFUSED_BY_POLICY)
        method = sandbox_method_create(**method_fields)
        session.payload["method_ref"] = method.ref
        session.save(update_fields=["payload"])
    return _saved_method(method)


def sandbox_payment_pay(session_id: str, *, card_number: str, exp_month: int, exp_year: int):
    """The customer paid a payment session by card on the Checkout stand-in. Returns the
    ChargeResult: FAILED stays on the page, REQUIRES_ACTION goes to 3-D Secure, which
    comes back to the Checkout stand-in."""
    with transaction.atomic():
        session = _record(session_id, SandboxKind.PAYMENT_SESSION, lock=True)
        p = session.payload
        if p.get("charge_ref"):
            current = _record(p["charge_ref"], SandboxKind.CHARGE)
            if current.payload["status"] in (SUCCEEDED, REQUIRES_ACTION):
                raise GatewayError("This session is already paid.", code=errors.INVALID_REQUEST)
        card = card_for_number(card_number)
        refusal = card_refusal(card.brand, card.funding)
        if refusal:
            raise GatewayError(refusal, code=errors.CARD_REFUSED_BY_POLICY)
        method = sandbox_method_create(
            card_number=card_number, exp_month=exp_month, exp_year=exp_year
        )
        charge = _charge_create(
            method=method,
            amount=Decimal(p["amount"]),
            currency=p["currency"],
            return_url=reverse("sandbox:checkout", args=[session.ref]),
            customer_id=p["customer_id"],
        )
        p["charge_ref"] = charge.ref
        session.save(update_fields=["payload"])
    return _charge_result(charge)


def sandbox_authenticate(charge_ref: str, *, complete: bool) -> str:
    """The customer completed (or failed) 3-D Secure for a charge. Returns where to go."""
    with transaction.atomic():
        charge = _record(charge_ref, SandboxKind.CHARGE, lock=True)
        p = charge.payload
        if p["status"] == REQUIRES_ACTION:
            if complete:
                p["status"] = SUCCEEDED
            else:
                p["status"] = FAILED
                p["error_code"] = errors.AUTHENTICATION_REQUIRED
                p["error_message"] = "The card's authentication failed."
            charge.save(update_fields=["payload"])
    return _with_query(p["return_url"], payment_intent=charge.ref) if p["return_url"] else ""


def sandbox_charge(charge_ref: str) -> SandboxRecord:
    return _record(charge_ref, SandboxKind.CHARGE)


def sandbox_order(order_id: str) -> SandboxRecord:
    return _record(order_id, SandboxKind.ORDER)


def sandbox_order_approve(order_id: str, *, decline_funding: bool = False) -> str:
    """The customer approved the order on the PayPal stand-in (with the switch, its
    funding source will be declined at capture). Returns where to go: the return_url."""
    with transaction.atomic():
        order = _record(order_id, SandboxKind.ORDER, lock=True)
        p = order.payload
        if p["status"] == "COMPLETED":
            raise GatewayError("This order is already paid.", code=errors.INVALID_REQUEST)
        p["status"] = "APPROVED"
        p["decline_funding"] = decline_funding
        order.save(update_fields=["payload"])
    return _with_query(p["return_url"], token=order.ref)


def sandbox_order_cancel_url(order_id: str) -> str:
    order = sandbox_order(order_id)
    return _with_query(order.payload["cancel_url"], token=order.ref)


# ---- charges ----------------------------------------------------------------------------


def _charge_create(
    *, method: SandboxRecord, amount: Decimal, currency: str, return_url: str, customer_id: int
) -> SandboxRecord:
    m = method.payload
    payload = {
        "customer_id": customer_id,  # whose charge: charge_status reports it (SessionOwner)
        "method_ref": method.ref,
        "kind": m["kind"],
        "amount": str(amount),
        "currency": currency.upper(),
        "return_url": return_url,
        "refunded": "0",
        "error_code": "",
        "error_message": "",
    }
    if m["kind"] == "sepa_debit":
        payload["status"] = PENDING
        payload["settles_to"] = m["outcome"]
    elif m["outcome"] == AUTHENTICATE:
        payload["status"] = REQUIRES_ACTION
    elif m["outcome"] in DECLINE_MESSAGES:
        payload["status"] = FAILED
        payload["error_code"], payload["error_message"] = DECLINE_MESSAGES[m["outcome"]]
    else:
        payload["status"] = SUCCEEDED
    return SandboxRecord.objects.create(
        kind=SandboxKind.CHARGE, ref=_new_ref("sb_pi"), payload=payload
    )


def _refund(request: RefundRequest, *kinds: str) -> RefundResult:
    def create() -> SandboxRecord:
        paid = _record(request.payment_ref, *kinds, lock=True)
        p = paid.payload
        if p["status"] not in (SUCCEEDED, "COMPLETED"):
            raise GatewayError(
                "Only a succeeded payment can be refunded.", code=errors.INVALID_REQUEST
            )
        if request.currency.upper() != p["currency"]:
            raise GatewayError(
                "The refund's currency is not the payment's.", code=errors.INVALID_REQUEST
            )
        left = Decimal(p["amount"]) - Decimal(p.get("refunded", "0"))
        if request.amount <= 0 or request.amount > left:
            raise GatewayError(
                f"The refund must be more than 0 and at most {left}.", code=errors.INVALID_REQUEST
            )
        p["refunded"] = str(Decimal(p.get("refunded", "0")) + request.amount)
        paid.save(update_fields=["payload"])
        return SandboxRecord.objects.create(
            kind=SandboxKind.REFUND,
            ref=_new_ref("sb_re"),
            payload={
                "payment_ref": paid.ref,
                "amount": str(request.amount),
                "currency": p["currency"],
                "status": SUCCEEDED,
            },
        )

    refund = _idempotent(SandboxKind.REFUND, request.idempotency_key, create)
    return RefundResult(gateway_ref=refund.ref, status=refund.payload["status"])


class SandboxCardGateway:
    """Cards and SEPA debit, like Stripe, on local stand-in pages."""

    name = NAME

    def setup_session_create(self, request: SetupSessionRequest) -> HostedSession:
        kinds = [kind for kind in request.kinds if kind in ("card", "sepa_debit")]
        if not kinds:
            raise GatewayError(
                "The sandbox saves cards and SEPA debit.", code=errors.INVALID_REQUEST
            )
        session = SandboxRecord.objects.create(
            kind=SandboxKind.SETUP_SESSION,
            ref=_new_ref("sb_cs"),
            payload={
                "kinds": kinds,
                "customer_id": request.customer.customer_id,
                "email": request.customer.email,
                "success_url": request.success_url,
                "cancel_url": request.cancel_url,
            },
        )
        return self._hosted(session, request.customer.customer_id)

    def setup_session_result(self, session_id: str) -> SavedMethod:
        session = _record(session_id, SandboxKind.SETUP_SESSION)
        if not session.payload.get("method_ref"):
            raise GatewayError(
                "The customer has not saved a method in this session.", code=errors.INVALID_REQUEST
            )
        method = _saved_method(_record(session.payload["method_ref"], SandboxKind.METHOD))
        return replace(method, owner=_owner(session.payload))

    def payment_session_create(self, request: PaymentSessionRequest) -> HostedSession:
        def create() -> SandboxRecord:
            return SandboxRecord.objects.create(
                kind=SandboxKind.PAYMENT_SESSION,
                ref=_new_ref("sb_cs"),
                payload={
                    "customer_id": request.customer.customer_id,
                    "email": request.customer.email,
                    "amount": str(request.amount),
                    "currency": request.currency.upper(),
                    "description": request.description,
                    "reference": request.reference,
                    "success_url": request.success_url,
                    "cancel_url": request.cancel_url,
                    "metadata": request.metadata,
                },
            )

        session = _idempotent(SandboxKind.PAYMENT_SESSION, request.idempotency_key, create)
        return self._hosted(session, request.customer.customer_id)

    def payment_session_result(self, session_id: str) -> ChargeResult:
        """The session's charge; before the customer paid: REQUIRES_ACTION, action_url the
        Checkout stand-in, gateway_ref the session's id."""
        session = _record(session_id, SandboxKind.PAYMENT_SESSION)
        p = session.payload
        if p.get("charge_ref"):
            # The session's owner, with our reference: the session is what was opened.
            charge = _charge_result(_record(p["charge_ref"], SandboxKind.CHARGE))
            return replace(charge, owner=_owner(p))
        return ChargeResult(
            status=REQUIRES_ACTION,
            gateway_ref=session.ref,
            amount=Decimal(p["amount"]),
            currency=p["currency"],
            action_url=_absolute(reverse("sandbox:checkout", args=[session.ref])),
            owner=_owner(p),
        )

    def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge a saved method. 3-D Secure cards answer REQUIRES_ACTION even off-session:
        the customer is then sent the action_url."""

        def create() -> SandboxRecord:
            method = _record(request.method_ref, SandboxKind.METHOD)
            if method.payload.get("detached"):
                raise GatewayError("This payment method was removed.", code=errors.INVALID_REQUEST)
            if request.amount <= 0:
                raise GatewayError("The amount must be positive.", code=errors.INVALID_REQUEST)
            return _charge_create(
                method=method,
                amount=request.amount,
                currency=request.currency,
                return_url=request.return_url,
                customer_id=request.customer.customer_id,
            )

        return _charge_result(_idempotent(SandboxKind.CHARGE, request.idempotency_key, create))

    def charge_status(self, gateway_ref: str) -> ChargeResult:
        """A SEPA charge settles once SANDBOX_SEPA_SETTLE_SECONDS have passed since it
        was made: SUCCEEDED, or FAILED (sepa_debit_failed) for the failing IBAN."""
        with transaction.atomic():
            charge = _record(gateway_ref, SandboxKind.CHARGE, lock=True)
            p = charge.payload
            settle_at = charge.created_at + timedelta(seconds=settings.SANDBOX_SEPA_SETTLE_SECONDS)
            if p["status"] == PENDING and timezone.now() >= settle_at:
                p["status"] = p["settles_to"]
                if p["status"] == FAILED:
                    p["error_code"] = errors.SEPA_DEBIT_FAILED
                    p["error_message"] = "The bank refused the SEPA direct debit."
                charge.save(update_fields=["payload"])
        return _charge_result(charge)

    def refund(self, request: RefundRequest) -> RefundResult:
        return _refund(request, SandboxKind.CHARGE)

    def method_detach(self, method_ref: str) -> None:
        """Detaching twice is harmless; an unknown method raises INVALID_REQUEST."""
        with transaction.atomic():
            method = _record(method_ref, SandboxKind.METHOD, lock=True)
            method.payload["detached"] = True
            method.save(update_fields=["payload"])

    def webhook_event(self, *, payload: bytes, signature: str) -> GatewayEvent:
        """The sandbox sends no webhooks (charge_status is how a sandbox SEPA debit
        settles): anything posted as one is refused as badly signed."""
        raise GatewayError("The sandbox sends no webhooks.", code=errors.BAD_SIGNATURE)

    @staticmethod
    def _hosted(session: SandboxRecord, customer_id: int) -> HostedSession:
        return HostedSession(
            session_id=session.ref,
            url=_absolute(reverse("sandbox:checkout", args=[session.ref])),
            gateway_customer_ref=f"sb_cus_{customer_id}",
        )


class SandboxPayPalGateway:
    """PayPal Orders v2 (create, approve on the stand-in, capture), locally."""

    name = NAME

    def order_create(self, request: PayPalOrderRequest) -> PayPalOrder:
        def create() -> SandboxRecord:
            if request.amount <= 0:
                raise GatewayError("The amount must be positive.", code=errors.INVALID_REQUEST)
            return SandboxRecord.objects.create(
                kind=SandboxKind.ORDER,
                ref="SB" + secrets.token_hex(8).upper(),
                payload={
                    "status": "CREATED",
                    "amount": str(request.amount),
                    "currency": request.currency.upper(),
                    "reference": request.reference,
                    "description": request.description,
                    "return_url": request.return_url,
                    "cancel_url": request.cancel_url,
                    "decline_funding": False,
                    "refunded": "0",
                    "captures": {},
                },
            )

        order = _idempotent(SandboxKind.ORDER, request.idempotency_key, create)
        return PayPalOrder(
            order_id=order.ref,
            approve_url=_absolute(reverse("sandbox:paypal", args=[order.ref])),
            status=order.payload["status"],
        )

    def order_capture(self, *, order_id: str, idempotency_key: str) -> ChargeResult:
        """COMPLETED once captured: any later capture returns that, never a second one. An
        order not approved raises INVALID_REQUEST; a declined funding source (the stand-in's
        switch) is FAILED instrument_declined, and the customer may approve again."""
        with transaction.atomic():
            order = _record(order_id, SandboxKind.ORDER, lock=True)
            p = order.payload
            if p["status"] == "COMPLETED" or idempotency_key in p["captures"]:
                return self._result(order, p["captures"].get(idempotency_key))
            if p["status"] != "APPROVED":
                raise GatewayError(
                    "The customer has not approved this order.", code=errors.INVALID_REQUEST
                )
            if p["decline_funding"]:
                outcome = {
                    "status": FAILED,
                    "error_code": errors.INSTRUMENT_DECLINED,
                    "error_message": "PayPal declined the funding source.",
                }
                p["status"] = "CREATED"  # back to the customer, to approve again
            else:
                outcome = {"status": SUCCEEDED}
                p["status"] = "COMPLETED"
            p["captures"][idempotency_key] = outcome
            order.save(update_fields=["payload"])
        return self._result(order, outcome)

    def order_get(self, order_id: str) -> PayPalOrderStatus:
        """The stand-in's order: captured (SUCCEEDED, its capture id is the order's), or
        waiting for the customer."""
        order = _record(order_id, SandboxKind.ORDER)
        p = order.payload
        if p["status"] == "COMPLETED":
            result = dataclasses.replace(self._result(order, None), capture_ref=order.ref)
        else:
            result = ChargeResult(
                status=PENDING if p["status"] == "APPROVED" else REQUIRES_ACTION,
                gateway_ref=order.ref,
                amount=Decimal(p["amount"]),
                currency=p["currency"],
                action_url=_absolute(reverse("sandbox:paypal", args=[order.ref])),
                owner=SessionOwner(reference=p["reference"]),
            )
        return PayPalOrderStatus(order_id=order.ref, status=p["status"], result=result)

    def refund(self, request: RefundRequest) -> RefundResult:
        return _refund(request, SandboxKind.ORDER)

    def webhook_event(self, *, headers: dict, body: bytes) -> GatewayEvent:
        """The sandbox sends no webhooks: anything posted as one is refused."""
        raise GatewayError("The sandbox sends no webhooks.", code=errors.BAD_SIGNATURE)

    @staticmethod
    def _result(order: SandboxRecord, outcome: dict | None) -> ChargeResult:
        p = order.payload
        if outcome is None or p["status"] == "COMPLETED":
            outcome = {"status": SUCCEEDED}
        return ChargeResult(
            status=outcome["status"],
            gateway_ref=order.ref,
            amount=Decimal(p["amount"]),
            currency=p["currency"],
            error_code=outcome.get("error_code", ""),
            error_message=outcome.get("error_message", ""),
            # PayPal knows no customer of ours: the order carries the reference we sent.
            owner=SessionOwner(reference=p["reference"]),
        )


def card_expiry_valid(month: int, year: int, today: date | None = None) -> bool:
    """A card is good through the last day of its expiry month."""
    today = today or timezone.now().date()
    return 1 <= month <= 12 and (year, month) >= (today.year, today.month)
