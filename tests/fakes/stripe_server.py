"""A fake Stripe API on 127.0.0.1 for the gateway tests: the real SDK talks to it over HTTP.

It answers like Stripe for what billing/gateways/stripe.py uses: form-encoded POST bodies
(`a[b][0]=c`), JSON objects with an "object" field, `expand[]`, errors as
`{"error": {"type", "code", "decline_code", "message", "payment_intent"}}` (402 for card
errors, 400/404 for invalid requests, 401 for a wrong key), and Idempotency-Key (the same
key replays the stored answer; other parameters, or another endpoint, with it are a 400
idempotency_error, as at Stripe). `bodies` keeps each POST's raw form body, as sent.

Payment methods, by id: pm_card_visa succeeds; pm_card_chargeDeclined → card_declined;
pm_card_chargeDeclinedInsufficientFunds → insufficient_funds; pm_card_authenticationRequired
→ requires_action with the customer, authentication_required off-session;
pm_sepa_debit → processing; pm_card_amex and pm_card_visa_prepaid succeed (for the
brand / funding checks on our side).

Every request is first checked against Stripe's OpenAPI description for the pinned API
version (stripe_openapi.py): a refused one is answered 400 as Stripe would and recorded in
`spec_violations`, which the `fake_stripe` fixture requires empty at the end of a test.

Switches: `fail_next(n)` answers the next n requests with 500; `slow_next(n, seconds)`
handles the next n requests (stored and counted) then waits before answering, longer
than the client's timeout. `complete_checkout(session_id, payment_method)` finishes a
Checkout Session as if the customer saved or paid.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from tests.fakes import stripe_openapi

API_KEY = "sk_test_fake"

CARDS = {
    "pm_card_visa": ("visa", "4242", "credit"),
    "pm_card_chargeDeclined": ("visa", "0002", "credit"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "credit"),
    "pm_card_authenticationRequired": ("visa", "3184", "credit"),
    "pm_card_amex": ("amex", "8431", "credit"),
    "pm_card_visa_prepaid": ("visa", "5556", "prepaid"),
}
SEPA = {"pm_sepa_debit": "3000"}
DECLINES = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    params: dict
    idempotency_key: str | None


class StripeError(Exception):
    def __init__(self, status: int, error: dict):
        self.status = status
        self.error = error


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """`a[b][0]=c` pairs → {"a": {"b": ["c"]}} (Stripe's encoding, lists as [0], [1]…)."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part, following in zip(parts, parts[1:], strict=False):
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node):
        if isinstance(node, dict):
            node = {k: listify(v) for k, v in node.items()}
            if node and all(k.isdigit() for k in node):
                return [node[k] for k in sorted(node, key=int)]
        return node

    return listify(root)


def _invalid(message: str, *, param: str = "", code: str = "parameter_invalid", status=400):
    return StripeError(
        status,
        {"type": "invalid_request_error", "code": code, "message": message, "param": param},
    )


class FakeStripe:
    def __init__(self):
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.customers: dict[str, dict] = {}
        self.payment_methods: dict[str, dict] = {}
        self.payment_intents: dict[str, dict] = {}
        self.setup_intents: dict[str, dict] = {}
        self.mandates: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.idempotent: dict[str, tuple[dict, int, dict]] = {}  # key → (params, status, body)
        self.idempotent_endpoints: dict[str, tuple[str, str]] = {}  # key → (method, path)
        self.bodies: list[tuple[str, str | None, str]] = []  # (path, key, raw POST body)
        self.charges: list[dict] = []  # PaymentIntents confirmed (not replays)
        # Requests Stripe's OpenAPI description for the pinned version refuses
        # (stripe_openapi.py): (method, path, error); the fixture fails a test that made one.
        self.spec_violations: list[tuple[str, str, dict]] = []
        self._fail = 0
        self._slow = 0
        self._slow_seconds = 0.0
        self._ids = itertools.count(1)
        for pm_id in (*CARDS, *SEPA):
            self.payment_methods[pm_id] = self._payment_method(pm_id)
        self.server: ThreadingHTTPServer | None = None
        self.url = ""

    # ---- switches and helpers for tests ------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self._fail = count
            self._fail_status = status

    def slow_next(self, count: int, seconds: float) -> None:
        with self.lock:
            self._slow = count
            self._slow_seconds = seconds

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def complete_checkout(self, session_id: str, payment_method: str = "pm_card_visa") -> dict:
        """The customer finished the Checkout page with this payment method."""
        with self.lock:
            session = self.sessions[session_id]
            if session["mode"] == "setup":
                seti = {
                    "id": self._new_id("seti"),
                    "object": "setup_intent",
                    "status": "succeeded",
                    "customer": session["customer"],
                    "payment_method": payment_method,
                    "usage": "off_session",
                    "mandate": None,
                }
                if self.payment_methods[payment_method].get("type") == "sepa_debit":
                    mandate = {
                        "id": self._new_id("mandate"),
                        "object": "mandate",
                        "payment_method": payment_method,
                        "status": "active",
                        "type": "multi_use",
                        "payment_method_details": {
                            "type": "sepa_debit",
                            "sepa_debit": {
                                "reference": f"FAKEMANDATE{len(self.mandates) + 1:05d}",
                                "url": "https://stripe.com/mandate/fake",
                            },
                        },
                    }
                    self.mandates[mandate["id"]] = mandate
                    seti["mandate"] = mandate["id"]
                self.setup_intents[seti["id"]] = seti
                self.payment_methods[payment_method]["customer"] = session["customer"]
                session.update(setup_intent=seti["id"], status="complete")
            else:
                try:
                    intent = self._confirm_intent(
                        {
                            "amount": session["amount_total"],
                            "currency": session["currency"],
                            "customer": session["customer"],
                            "payment_method": payment_method,
                            "metadata": session["payment_intent_metadata"],
                            "return_url": session["success_url"],
                        }
                    )
                except StripeError as error:
                    intent = error.error["payment_intent"]
                session.update(
                    payment_intent=intent["id"],
                    status="complete" if intent["status"] != "requires_payment_method" else "open",
                    payment_status="paid" if intent["status"] == "succeeded" else "unpaid",
                )
            return session

    def expire_checkout(self, session_id: str) -> dict:
        """The customer left the Checkout page: Stripe expires the session (24 h later)."""
        with self.lock:
            session = self.sessions[session_id]
            session.update(status="expired", url=None)
            return session

    def complete_authentication(self, intent_id: str, *, succeed: bool = True) -> dict:
        """The customer finished (or failed) 3-D Secure on Stripe's page for this intent."""
        with self.lock:
            intent = self.payment_intents[intent_id]
            if intent["status"] == "requires_action":
                intent["next_action"] = None
                if succeed:
                    intent.update(
                        status="succeeded",
                        latest_charge=self._new_id("ch"),
                        amount_received=intent["amount"],
                    )
                else:
                    intent.update(
                        status="requires_payment_method",
                        last_payment_error={
                            "type": "card_error",
                            "code": "payment_intent_authentication_failure",
                            "message": "The card's authentication failed.",
                        },
                    )
            return intent

    # ---- objects ----------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}fake"

    def _payment_method(self, pm_id: str) -> dict:
        pm = {"id": pm_id, "object": "payment_method", "customer": None, "created": 1}
        if pm_id in CARDS:
            brand, last4, funding = CARDS[pm_id]
            pm.update(
                type="card",
                card={
                    "brand": brand,
                    "last4": last4,
                    "exp_month": 12,
                    "exp_year": 2034,
                    "funding": funding,
                    "country": "DE",
                },
            )
        else:
            pm.update(type="sepa_debit", sepa_debit={"last4": SEPA[pm_id], "country": "DE"})
        return pm

    def _confirm_intent(self, params: dict) -> dict:
        pm_id = params.get("payment_method", "")
        if pm_id not in self.payment_methods:
            raise _invalid(
                f"No such PaymentMethod: '{pm_id}'",
                param="payment_method",
                code="resource_missing",
            )
        try:
            amount = int(params["amount"])
        except (KeyError, ValueError):
            raise _invalid("Invalid integer: amount", param="amount") from None
        intent = {
            "id": self._new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "currency": params.get("currency", ""),
            "customer": params.get("customer"),
            "payment_method": pm_id,
            "description": params.get("description"),
            "metadata": params.get("metadata", {}),
            "status": "succeeded",
            "next_action": None,
            "last_payment_error": None,
            "latest_charge": None,
            "amount_received": 0,
            "created": int(time.time()),
        }
        self.payment_intents[intent["id"]] = intent
        self.charges.append(intent)
        off_session = params.get("off_session") == "true"
        if pm_id in DECLINES or (pm_id == "pm_card_authenticationRequired" and off_session):
            if pm_id in DECLINES:
                code, decline_code, message = DECLINES[pm_id]
            else:
                code = decline_code = "authentication_required"
                message = "Your card was declined. This transaction requires authentication."
            error = {
                "type": "card_error",
                "code": code,
                "decline_code": decline_code,
                "message": message,
                "payment_method": self.payment_methods[pm_id],
            }
            intent.update(status="requires_payment_method", last_payment_error=error)
            raise StripeError(402, {**error, "payment_intent": dict(intent)})
        if pm_id == "pm_card_authenticationRequired":
            intent["status"] = "requires_action"
            if params.get("return_url"):
                intent["next_action"] = {
                    "type": "redirect_to_url",
                    "redirect_to_url": {
                        "url": f"https://hooks.stripe.com/3d_secure_2/hosted/{intent['id']}",
                        "return_url": params["return_url"],
                    },
                }
            else:
                intent["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {}}
        elif pm_id in SEPA:
            intent["status"] = "processing"
        else:
            intent["latest_charge"] = self._new_id("ch")
            intent["amount_received"] = amount
        return intent

    def _expand(self, obj: dict, paths: list[str]) -> dict:
        obj = json.loads(json.dumps(obj))
        stores = {
            "payment_method": self.payment_methods,
            "payment_intent": self.payment_intents,
            "setup_intent": self.setup_intents,
            "customer": self.customers,
            "mandate": self.mandates,
        }
        for path in paths:
            node = obj
            for part in path.split("."):
                if not isinstance(node, dict) or part not in node:
                    raise _invalid(f"This property cannot be expanded ({path}).", param="expand")
                value = node[part]
                if value is None:  # Stripe expands an empty field to null
                    break
                if isinstance(value, str) and part in stores:
                    value = node[part] = json.loads(json.dumps(stores[part][value]))
                node = value
        return obj

    # ---- routing ----------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        expand = params.pop("expand", [])
        route = [
            ("POST", r"/v1/customers", self._customer_create),
            ("POST", r"/v1/checkout/sessions", self._session_create),
            ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", self._session_get),
            ("POST", r"/v1/payment_intents", self._intent_create),
            ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", self._intent_get),
            ("POST", r"/v1/refunds", self._refund_create),
            ("POST", r"/v1/payment_methods/(?P<id>[^/]+)/detach", self._detach),
        ]
        for verb, pattern, view in route:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                obj = view(params, **match.groupdict())
                return 200, self._expand(obj, expand)
        raise _invalid(f"Unrecognized request URL ({method}: {path}).", status=404)

    def _customer_create(self, params):
        customer = {
            "id": self._new_id("cus"),
            "object": "customer",
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata", {}),
        }
        self.customers[customer["id"]] = customer
        return customer

    def _session_create(self, params):
        mode = params.get("mode")
        if mode not in ("setup", "payment"):
            raise _invalid("Invalid mode", param="mode")
        for name in ("success_url", "cancel_url"):
            if not params.get(name):
                raise _invalid(f"Missing required param: {name}.", param=name)
        customer = params.get("customer")
        if customer and customer not in self.customers:
            raise _invalid(f"No such customer: '{customer}'", code="resource_missing")
        session_id = "cs_test_" + self._new_id("a")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": mode,
            "status": "open",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "customer": customer,
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "allowed_payment_method_types": params.get("allowed_payment_method_types", []),
            "payment_method_options": params.get("payment_method_options", {}),
            "metadata": params.get("metadata", {}),
            "client_reference_id": params.get("client_reference_id"),
            "setup_intent": None,
            "payment_intent": None,
            "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
            "amount_total": None,
            "currency": None,
        }
        if mode == "payment":
            items = params.get("line_items") or []
            if not items:
                raise _invalid("line_items is required in payment mode.", param="line_items")
            price = items[0]["price_data"]
            session["amount_total"] = sum(
                int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1)) for i in items
            )
            session["currency"] = price["currency"]
            session["payment_intent_metadata"] = params.get("payment_intent_data", {}).get(
                "metadata", {}
            )
        self.sessions[session_id] = session
        return {k: v for k, v in session.items() if k != "payment_intent_metadata"}

    def _session_get(self, params, id):
        if id not in self.sessions:
            raise _invalid(f"No such checkout.session: '{id}'", code="resource_missing", status=404)
        return {k: v for k, v in self.sessions[id].items() if k != "payment_intent_metadata"}

    def _intent_create(self, params):
        if params.get("confirm") != "true":
            raise _invalid("The fake only creates confirmed PaymentIntents.", param="confirm")
        return self._confirm_intent(params)

    def _intent_get(self, params, id):
        if id not in self.payment_intents:
            raise _invalid(f"No such payment_intent: '{id}'", code="resource_missing", status=404)
        intent = self.payment_intents[id]
        if intent["status"] == "succeeded" and not intent.get("amount_received"):
            # Succeeded (a test may set it by hand, as the bank's answer): all of it received.
            intent["amount_received"] = intent["amount"]
        return intent

    def _refund_create(self, params):
        intent = self.payment_intents.get(params.get("payment_intent", ""))
        if intent is None:
            raise _invalid(
                "No such payment_intent", param="payment_intent", code="resource_missing"
            )
        amount = int(params.get("amount", intent["amount"]))
        refunded = sum(
            r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"]
        )
        if intent["status"] != "succeeded" or amount + refunded > intent["amount"]:
            raise _invalid(
                "Refund amount is greater than the unrefunded amount.",
                param="amount",
                code="amount_too_large",
            )
        refund = {
            "id": self._new_id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "status": "pending" if intent["payment_method"] in SEPA else "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return refund

    def _detach(self, params, id):
        if id not in self.payment_methods:
            raise _invalid(f"No such PaymentMethod: '{id}'", code="resource_missing", status=404)
        self.payment_methods[id]["customer"] = None
        return self.payment_methods[id]

    # ---- one HTTP request ---------------------------------------------------------------

    def serve(self, method: str, path: str, params: dict, headers) -> tuple[int, dict, float]:
        """(status, body, seconds to wait before answering)."""
        key = headers.get("Idempotency-Key")
        with self.lock:
            self.requests.append(Recorded(method, path, json.loads(json.dumps(params)), key))
            delay = 0.0
            if self._slow:
                self._slow -= 1
                delay = self._slow_seconds
            if self._fail:
                self._fail -= 1
                return self._fail_status, _api_error("Something went wrong (fake)."), 0.0
            if headers.get("Authorization") != f"Bearer {API_KEY}":
                error = {"type": "invalid_request_error", "message": "Invalid API Key provided."}
                return 401, {"error": error}, 0.0
            violation = stripe_openapi.check(method, path, params, headers)
            if violation:
                self.spec_violations.append((method, path, violation))
                return 400, {"error": violation}, 0.0
            if method == "POST" and key and key in self.idempotent:
                if self.idempotent_endpoints.get(key, (method, path)) != (method, path):
                    return 400, _idempotency_error(key, "for the same endpoint"), 0.0
                stored_params, status, body = self.idempotent[key]
                if stored_params != params:
                    error = {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the "
                        "same parameters they were first used with.",
                    }
                    return 400, {"error": error}, 0.0
                return status, body, delay
            try:
                status, body = self.handle(method, path, dict(params))
            except StripeError as error:
                status, body = error.status, {"error": error.error}
            if method == "POST" and key:
                self.idempotent[key] = (params, status, body)
                self.idempotent_endpoints[key] = (method, path)
            return status, body, delay

    # ---- the server ---------------------------------------------------------------------

    def start(self) -> FakeStripe:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self):
                url = urlsplit(self.path)
                pairs = parse_qsl(url.query, keep_blank_values=True)
                if self.command == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length).decode()
                    pairs += parse_qsl(body, keep_blank_values=True)
                    fake.bodies.append((url.path, self.headers.get("Idempotency-Key"), body))
                status, answer, delay = fake.serve(
                    self.command, url.path, decode_form(pairs), self.headers
                )
                if delay:
                    time.sleep(delay)  # the client gave up by now
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Request-Id", "req_fake")
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, format, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def _api_error(message: str) -> dict:
    return {"error": {"type": "api_error", "message": message}}


def _idempotency_error(key: str, what: str) -> dict:
    """Stripe's answer to a key reused otherwise than it was first used (400)."""
    message = (
        f"Keys for idempotent requests can only be used {what} they were first used for. "
        f"Try using a key other than '{key}' if you meant to execute a different request."
    )
    return {"error": {"type": "idempotency_error", "message": message}}
