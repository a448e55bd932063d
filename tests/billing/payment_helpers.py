"""Shared arrangements for the payment tests: an open invoice, a saved method, signed
Stripe webhook bodies."""

import json
import time
from datetime import date
from decimal import Decimal

import stripe

from billing.models import PaymentMethod, PaymentMethodKind
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from tests.factories import CustomerFactory

ISSUED = date(2026, 11, 2)


def open_invoice(customer=None, *, unit_price=Decimal("4.00"), quantity=10, issued_on=ISSUED):
    """An open invoice: 10 x 4.00 = 40.00 + 20% VAT (France) = 48.00 EUR by default."""
    customer = customer or CustomerFactory()
    draft = invoice_create_draft(customer=customer)
    invoice_add_line(
        invoice=draft, description="Core monthly", quantity=quantity, unit_price=unit_price
    )
    return invoice_finalize(invoice=draft, actor="test", issued_on=issued_on, use_credit=False)


def saved_method(customer, gateway_ref="pm_card_visa", *, gateway="stripe", is_default=True):
    kind = PaymentMethodKind.SEPA_DEBIT if "sepa" in gateway_ref else PaymentMethodKind.CARD
    return PaymentMethod.objects.create(
        customer=customer,
        kind=kind,
        gateway=gateway,
        gateway_ref=gateway_ref,
        brand="visa" if kind == PaymentMethodKind.CARD else "",
        last4="4242",
        is_default=is_default,
    )


_event_ids = iter(range(1, 10_000))


def stripe_event(type_: str, obj: dict, *, event_id: str | None = None) -> bytes:
    event = {
        "id": event_id or f"evt_test_{next(_event_ids):06d}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": int(time.time()),
        "livemode": False,
        "type": type_,
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


def intent_object(payment, *, intent_id: str | None = None, **fields) -> dict:
    """A PaymentIntent as Stripe sends it in an event: amount_received (cents) is what it
    received, the whole amount once succeeded (the default status), 0 before."""
    succeeded = fields.get("status", "succeeded") == "succeeded"
    return {
        "id": intent_id or payment.gateway_ref,
        "object": "payment_intent",
        "amount": int(payment.amount * 100),
        "amount_received": int(payment.amount * 100) if succeeded else 0,
        "currency": payment.currency.lower(),
        "metadata": {"payment": str(payment.pk)},
        **fields,
    }


def stripe_sign(payload: bytes, secret: str = "whsec_test", timestamp: int | None = None) -> str:
    """The Stripe-Signature header exactly as Stripe computes it (the SDK's helper)."""
    return stripe.WebhookSignature.generate_signature_header(
        payload.decode(), secret, timestamp=timestamp
    )


def post_stripe(client, payload: bytes, signature: str | None = None):
    return client.post(
        "/webhooks/stripe/",
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_sign(payload) if signature is None else signature,
    )
