"""A fake PayPal REST API on 127.0.0.1, for the gateway tests (billing/gateways/paypal.py
talks to it through the real paypal-server-sdk).

It answers the calls the gateway makes the way PayPal documents them (JSON shapes, status
codes, HATEOAS `links`, error bodies with `name`/`details[].issue`), honours
PayPal-Request-Id (the same id on the same path gets the stored answer back, no second
order, capture or refund), and records every request. Switches:

- `approve(order_id)`: the buyer approves on PayPal (also: GET the approve link);
- `decline_next_capture()`: 422 UNPROCESSABLE_ENTITY, issue INSTRUMENT_DECLINED;
- `pend_next_capture()`: the capture is PENDING (e.g. PENDING_REVIEW);
- `fail_next(path_part, status=500, times=1)`: answer an error before handling;
- `stall_next(path_part, seconds=…)`: answer late (the client's timeout fires first);
- `answer_late(path_part, seconds=…)`: do it at once, answer late (a lost answer: the
  capture is made, the client times out);
- `webhook_verification = "SUCCESS"` or `"FAILURE"`;
- `capture_amount = "1.00"`: the next captures take that amount (a mismatch);
- `token_requests`: how many OAuth tokens were asked for.

Every POST body is checked against PayPal's published request schemas
(tests/fakes/paypal_spec.py, tests/fakes/specs/paypal/): a field PayPal does not define or
a required one missing is answered 400 INVALID_REQUEST with its details, as PayPal does.
PayPal refuses an invoice_id it has seen before (422 DUPLICATE_INVOICE_ID); so does this.

Approve links point at the fake itself: nothing here names or reaches paypal.com.
"""

import base64
import itertools
import json
import re
import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.fakes import paypal_spec

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"
WEBHOOK_ID = "8PT597110X687430LKGECATA"
AMOUNT = re.compile(r"^\d{1,10}(\.\d{2})?$")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict  # lower-cased names
    body: object  # parsed JSON, a form dict, or the raw text
    query: dict = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id(length=17) -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(length))


class FakePayPal:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[Recorded] = []
        self.orders: dict[str, dict] = {}
        self.captures: dict[str, dict] = {}  # capture id -> {"order_id", "capture", "refunds"}
        self.tokens: set[str] = set()
        self.idempotent: dict[tuple[str, str], tuple[int, dict]] = {}
        self.forced: list[dict] = []
        self.stalls: list[dict] = []
        self.lates: list[dict] = []
        self.closing = threading.Event()
        self.decline_captures = 0
        self.pend_captures = 0
        self.webhook_verification = "SUCCESS"
        self.capture_amount: str | None = None
        self.token_requests = 0
        self.invoice_ids: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ---- life -------------------------------------------------------------------------

    def start(self) -> "FakePayPal":
        self.thread.start()
        return self

    def stop(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    # ---- switches ---------------------------------------------------------------------

    def approve(self, order_id: str):
        """What the buyer does on PayPal's page."""
        with self.lock:
            self._approve(order_id)

    def _approve(self, order_id: str):
        order = self.orders[order_id]
        if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
            order["status"] = "APPROVED"
            order["payer"] = {
                "name": {"given_name": "John", "surname": "Doe"},
                "email_address": "buyer@example.com",
                "payer_id": "QYR5Z8XDVJNXQ",
                "address": {"country_code": "DE"},
            }
            order["update_time"] = _now()

    def decline_next_capture(self, times=1):
        with self.lock:
            self.decline_captures += times

    def pend_next_capture(self, times=1):
        with self.lock:
            self.pend_captures += times

    def stall_next(self, path_part: str, *, seconds: float, method="POST"):
        """The next request whose path contains `path_part` is answered `seconds` late."""
        with self.lock:
            self.stalls.append({"path": path_part, "seconds": seconds, "method": method})

    def answer_late(self, path_part: str, *, seconds: float, method="POST"):
        """The next request whose path contains `path_part` is handled, then answered late."""
        with self.lock:
            self.lates.append({"path": path_part, "seconds": seconds, "method": method})

    def fail_next(self, path_part: str, *, status=500, times=1, method="POST"):
        """The next `times` requests whose path contains `path_part` get `status`."""
        with self.lock:
            for _ in range(times):
                self.forced.append({"path": path_part, "status": status, "method": method})

    # ---- what happened ----------------------------------------------------------------

    def calls(self, path_part: str = "", method: str | None = None) -> list[Recorded]:
        with self.lock:
            return [
                r
                for r in self.requests
                if path_part in r.path and (method is None or r.method == method)
            ]

    # ---- the API ----------------------------------------------------------------------

    def handle(self, method, path, query, headers, body) -> tuple[int, dict | None]:
        answer = self._handle(method, path, query, headers, body)
        with self.lock:
            late = next(
                (s for s in self.lates if s["path"] in path and s["method"] == method), None
            )
            if late:
                self.lates.remove(late)
        if late:
            self.closing.wait(late["seconds"])
        return answer

    def _handle(self, method, path, query, headers, body) -> tuple[int, dict | None]:
        with self.lock:
            stall = next(
                (s for s in self.stalls if s["path"] in path and s["method"] == method), None
            )
            if stall:
                self.stalls.remove(stall)
        if stall:
            self.closing.wait(stall["seconds"])
        with self.lock:
            for forced in self.forced:
                if forced["path"] in path and forced["method"] == method:
                    self.forced.remove(forced)
                    return forced["status"], _error(
                        "INTERNAL_SERVER_ERROR", "An internal server error has occurred."
                    )
            if path == "/checkoutnow" and method == "GET":
                # The buyer's browser on the approve link: approve at once.
                token = (query.get("token") or [""])[0]
                if token not in self.orders:
                    return 404, _error("RESOURCE_NOT_FOUND", "No such order.")
                self._approve(token)
                return 200, {"approved": token}
            if path == "/v1/oauth2/token" and method == "POST":
                return self._token(headers, body)
            elif not self._authorized(headers):
                return 401, {
                    "name": "AUTHENTICATION_FAILURE",
                    "message": "Authentication failed due to invalid authentication "
                    "credentials or a missing Authorization header.",
                    "links": [_info_link("AUTHENTICATION_FAILURE")],
                }
            if method == "POST" and (problems := paypal_spec.problems(method, path, body)):
                return 400, _invalid(problems)
            request_id = headers.get("paypal-request-id", "")
            key = (path, request_id)
            if method == "POST" and request_id and key in self.idempotent:
                status, answer = self.idempotent[key]
                return (200 if status == 201 else status), json.loads(json.dumps(answer))
            status, answer = self._route(method, path, query, body)
            if method == "POST" and request_id and 200 <= status < 300:
                self.idempotent[key] = (status, json.loads(json.dumps(answer)))
            return status, answer

    def _route(self, method, path, query, body):
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v2/checkout/orders":
            return self._order_create(body)
        if parts[:3] == ["v2", "checkout", "orders"] and len(parts) == 4 and method == "GET":
            order = self.orders.get(parts[3])
            if order is None:
                return 404, _not_found(parts[3])
            return 200, self._order_view(order)
        if (
            method == "POST"
            and parts[:3] == ["v2", "checkout", "orders"]
            and parts[4:] == ["capture"]
        ):
            return self._capture(parts[3])
        if (
            method == "POST"
            and parts[:3] == ["v2", "payments", "captures"]
            and parts[4:] == ["refund"]
        ):
            return self._refund(parts[3], body)
        if path == "/v1/notifications/verify-webhook-signature" and method == "POST":
            return self._verify_webhook(body)
        return 404, _error("NOT_FOUND", f"No route for {method} {path}.")

    def _token(self, headers, body):
        self.token_requests += 1
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        grant = (body or {}).get("grant_type") if isinstance(body, dict) else None
        if headers.get("authorization", "") != f"Basic {expected}":
            return 401, {
                "error": "invalid_client",
                "error_description": "Client Authentication failed",
            }
        if grant != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "Grant type"}
        token = "A21AA" + secrets.token_urlsafe(32)
        self.tokens.add(token)
        return 200, {
            "scope": "https://uri.paypal.com/services/payments/payment/authcapture openid",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": 32400,
            "nonce": _now() + secrets.token_hex(8),
        }

    def _authorized(self, headers) -> bool:
        auth = headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self.tokens

    def _order_create(self, body):
        problems = []
        if not isinstance(body, dict):
            return 400, _invalid([("MALFORMED_REQUEST_JSON", "", "The request JSON is invalid.")])
        if body.get("intent") not in ("CAPTURE", "AUTHORIZE"):
            problems.append(("INVALID_PARAMETER_VALUE", "/intent", "intent"))
        units = body.get("purchase_units")
        if not isinstance(units, list) or not units:
            problems.append(("MISSING_REQUIRED_PARAMETER", "/purchase_units", "purchase_units"))
        else:
            for index, unit in enumerate(units):
                amount = unit.get("amount") or {}
                value = amount.get("value")
                if not isinstance(value, str) or not AMOUNT.match(value):
                    problems.append(
                        (
                            "DECIMAL_PRECISION" if isinstance(value, str) else "INVALID_STRING",
                            f"/purchase_units/@reference_id=='{unit.get('reference_id', index)}'"
                            "/amount/value",
                            "value",
                        )
                    )
                currency = amount.get("currency_code")
                if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
                    problems.append(("INVALID_CURRENCY_CODE", "/amount/currency_code", "currency"))
        if problems:
            return 400, _invalid(problems)
        for unit in units:
            if unit.get("invoice_id") in self.invoice_ids:
                return 422, _unprocessable("DUPLICATE_INVOICE_ID", "Duplicate Invoice ID detected.")
        self.invoice_ids.update(u["invoice_id"] for u in units if u.get("invoice_id"))
        order_id = _new_id()
        wallet = (body.get("payment_source") or {}).get("paypal")
        units_out = []
        for unit in units:
            out = {
                "reference_id": unit.get("reference_id", "default"),
                "amount": unit["amount"],
                "payee": {"email_address": "merchant@example.com", "merchant_id": "7KNGBPH2U58GQ"},
            }
            for name in ("description", "invoice_id", "custom_id"):
                if name in unit:
                    out[name] = unit[name]
            units_out.append(out)
        order = {
            "id": order_id,
            "intent": body["intent"],
            "status": "PAYER_ACTION_REQUIRED" if wallet is not None else "CREATED",
            "purchase_units": units_out,
            "create_time": _now(),
            "_wallet": wallet is not None,
            "_request": body,
        }
        if wallet is not None:
            order["payment_source"] = {"paypal": {}}
        self.orders[order_id] = order
        return 201, self._order_view(order)

    def _order_view(self, order) -> dict:
        view = {k: v for k, v in order.items() if not k.startswith("_")}
        view = json.loads(json.dumps(view))
        links = [
            {"href": f"{self.url}/v2/checkout/orders/{order['id']}", "rel": "self", "method": "GET"}
        ]
        if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED"):
            links.append(
                {
                    "href": f"{self.url}/checkoutnow?token={order['id']}",
                    "rel": "payer-action" if order["_wallet"] else "approve",
                    "method": "GET",
                }
            )
        if order["status"] in ("CREATED", "PAYER_ACTION_REQUIRED", "APPROVED"):
            links.append(
                {
                    "href": f"{self.url}/v2/checkout/orders/{order['id']}",
                    "rel": "update",
                    "method": "PATCH",
                }
            )
        if order["status"] == "APPROVED":
            links.append(
                {
                    "href": f"{self.url}/v2/checkout/orders/{order['id']}/capture",
                    "rel": "capture",
                    "method": "POST",
                }
            )
        view["links"] = links
        return view

    def _capture(self, order_id):
        order = self.orders.get(order_id)
        if order is None:
            return 404, _not_found(order_id)
        if order["status"] == "COMPLETED":
            return 422, _unprocessable(
                "ORDER_ALREADY_CAPTURED", "Order already captured.If 'intent=CAPTURE' only one "
            )
        if order["status"] != "APPROVED":
            return 422, _unprocessable(
                "ORDER_NOT_APPROVED",
                "Payer has not yet approved the Order for payment. Please redirect the payer "
                "to the 'rel':'approve' url returned as part of the HATEOAS links within the "
                "Create Order call or provide a valid payment_source in the request.",
            )
        if self.decline_captures:
            self.decline_captures -= 1
            # The buyer has to go back to PayPal and choose another funding source.
            order["status"] = "PAYER_ACTION_REQUIRED" if order["_wallet"] else "CREATED"
            return 422, _unprocessable(
                "INSTRUMENT_DECLINED",
                "The instrument presented  was either declined by the processor or bank, or "
                "it can't be used for this payment.",
            )
        pending = self.pend_captures > 0
        if pending:
            self.pend_captures -= 1
        now = _now()
        unit = order["purchase_units"][0]
        capture_id = _new_id()
        capture = {
            "id": capture_id,
            "status": "PENDING" if pending else "COMPLETED",
            "amount": dict(unit["amount"])
            if self.capture_amount is None
            else {**unit["amount"], "value": self.capture_amount},
            "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE"},
            "create_time": now,
            "update_time": now,
            "links": [
                {
                    "href": f"{self.url}/v2/payments/captures/{capture_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{self.url}/v2/payments/captures/{capture_id}/refund",
                    "rel": "refund",
                    "method": "POST",
                },
                {
                    "href": f"{self.url}/v2/checkout/orders/{order_id}",
                    "rel": "up",
                    "method": "GET",
                },
            ],
        }
        if pending:
            capture["status_details"] = {"reason": "PENDING_REVIEW"}
        if "invoice_id" in unit:
            capture["invoice_id"] = unit["invoice_id"]
        unit["payments"] = {"captures": [capture]}
        order["status"] = "COMPLETED"
        order["update_time"] = now
        self.captures[capture_id] = {"order_id": order_id, "capture": capture, "refunds": []}
        return 201, self._order_view(order)

    def _refund(self, capture_id, body):
        entry = self.captures.get(capture_id)
        if entry is None:
            return 404, _not_found(capture_id)
        capture = entry["capture"]
        if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            return 422, _unprocessable(
                "CAPTURE_STATUS_NOT_VALID", "Invalid capture status. Tried to refund a capture "
            )
        captured = Decimal(capture["amount"]["value"])
        refunded = sum((Decimal(r["amount"]["value"]) for r in entry["refunds"]), Decimal(0))
        amount = (body or {}).get("amount") if isinstance(body, dict) else None
        if amount is None:  # no amount: the rest of the capture
            amount = {
                "value": str(captured - refunded),
                "currency_code": capture["amount"]["currency_code"],
            }
        try:
            value = Decimal(amount["value"])
        except (InvalidOperation, KeyError, TypeError):
            return 400, _invalid([("INVALID_PARAMETER_VALUE", "/amount/value", "value")])
        if not isinstance(amount["value"], str) or not AMOUNT.match(amount["value"]):
            return 400, _invalid([("DECIMAL_PRECISION", "/amount/value", "value")])
        if amount.get("currency_code") != capture["amount"]["currency_code"]:
            return 422, _unprocessable("REFUND_CURRENCY_MISMATCH", "Refund currency mismatch.")
        if value + refunded > captured:
            return 422, _unprocessable(
                "REFUND_AMOUNT_EXCEEDED", "The refund amount must be less than or equal to the "
            )
        refund_id = _new_id()
        refund = {
            "id": refund_id,
            "status": "COMPLETED",
            "amount": {"value": amount["value"], "currency_code": amount["currency_code"]},
            "create_time": _now(),
            "update_time": _now(),
            "links": [
                {
                    "href": f"{self.url}/v2/payments/refunds/{refund_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{self.url}/v2/payments/captures/{capture_id}",
                    "rel": "up",
                    "method": "GET",
                },
            ],
        }
        entry["refunds"].append(refund)
        total = refunded + value
        capture["status"] = "REFUNDED" if total == captured else "PARTIALLY_REFUNDED"
        return 201, refund

    def _verify_webhook(self, body):
        names = (
            "auth_algo",
            "cert_url",
            "transmission_id",
            "transmission_sig",
            "transmission_time",
            "webhook_id",
            "webhook_event",
        )
        if not isinstance(body, dict):
            return 400, _invalid([("MALFORMED_REQUEST_JSON", "", "The request JSON is invalid.")])
        missing = [n for n in names if not body.get(n)]
        if missing:
            return 400, _invalid([("MISSING_REQUIRED_PARAMETER", f"/{n}", n) for n in missing])
        status = self.webhook_verification
        if body["webhook_id"] != WEBHOOK_ID:
            status = "FAILURE"
        return 200, {"verification_status": status}


def _info_link(issue: str) -> dict:
    return {
        "href": f"https://developer.paypal.com/docs/api/orders/v2/#error-{issue}",
        "rel": "information_link",
        "method": "GET",
    }


def _error(name: str, message: str) -> dict:
    return {"name": name, "message": message, "debug_id": secrets.token_hex(6)}


def _not_found(resource_id: str) -> dict:
    return {
        **_error("RESOURCE_NOT_FOUND", "The specified resource does not exist."),
        "details": [
            {
                "issue": "INVALID_RESOURCE_ID",
                "description": f"Specified resource ID {resource_id} does not exist.",
            }
        ],
        "links": [_info_link("INVALID_RESOURCE_ID")],
    }


def _unprocessable(issue: str, description: str) -> dict:
    return {
        **_error(
            "UNPROCESSABLE_ENTITY",
            "The requested action could not be performed, semantically incorrect, or failed "
            "business validation.",
        ),
        "details": [{"issue": issue, "description": description}],
        "links": [_info_link(issue)],
    }


def _invalid(problems) -> dict:
    return {
        **_error(
            "INVALID_REQUEST",
            "Request is not well-formed, syntactically incorrect, or violates schema.",
        ),
        "details": [
            {"field": where, "location": "body", "issue": issue, "description": what}
            for issue, where, what in problems
        ],
        "links": [_info_link(problems[0][0])],
    }


_counter = itertools.count()


def _handler_for(fake: FakePayPal):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # quiet
            pass

        def _serve(self, method):
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            content_type = headers.get("content-type", "")
            body: object
            if "x-www-form-urlencoded" in content_type:
                body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            elif raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
            else:
                body = None
            query = parse_qs(split.query)
            with fake.lock:
                fake.requests.append(Recorded(method, split.path, headers, body, query))
            status, answer = fake.handle(method, split.path, query, headers, body)
            data = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Paypal-Debug-Id", f"fake{next(_counter)}")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

        def do_PATCH(self):
            self._serve("PATCH")

    return Handler
