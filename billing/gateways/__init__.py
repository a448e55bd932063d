"""The one seam to payment gateways. Every call goes through `card_gateway()` or
`paypal_gateway()`; no SDK is imported anywhere else.

Which implementation: Stripe when STRIPE_SECRET_KEY is set, PayPal when PAYPAL_CLIENT_ID
and PAYPAL_CLIENT_SECRET are. Without keys, the sandbox (moves no money, never leaves this
machine) stands in ONLY where settings.PAYMENT_SANDBOX is on (the demo, the tests);
elsewhere the facade fails closed with GatewayError(NOT_CONFIGURED), and callers ask
`billing.gateways.kinds` first so that such a method is never offered. Settings are read
at call time.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from billing.gateways import errors
from billing.gateways.errors import GatewayError
from billing.gateways.interface import CardGateway, PayPalGateway

STRIPE, PAYPAL, SANDBOX = "stripe", "paypal", "sandbox"  # = billing.models.Gateway values


def card_gateway_name() -> str:
    """The gateway that serves cards and SEPA debit now: "stripe", "sandbox" or "" (none)."""
    if settings.STRIPE_SECRET_KEY:
        return STRIPE
    return SANDBOX if settings.PAYMENT_SANDBOX else ""


def paypal_gateway_name() -> str:
    """The gateway that serves PayPal now: "paypal", "sandbox" or "" (none)."""
    if settings.PAYPAL_CLIENT_ID and settings.PAYPAL_CLIENT_SECRET:
        return PAYPAL
    return SANDBOX if settings.PAYMENT_SANDBOX else ""


def card_gateway() -> CardGateway:
    name = card_gateway_name()
    if name == STRIPE:
        return import_string("billing.gateways.stripe.StripeGateway")()
    if name == SANDBOX:
        return import_string("billing.gateways.sandbox.SandboxCardGateway")()
    raise GatewayError(
        "Card and SEPA debit payments are not configured (STRIPE_SECRET_KEY is not set).",
        code=errors.NOT_CONFIGURED,
    )


def paypal_gateway() -> PayPalGateway:
    name = paypal_gateway_name()
    if name == PAYPAL:
        return import_string("billing.gateways.paypal.PayPalOrdersGateway")()
    if name == SANDBOX:
        return import_string("billing.gateways.sandbox.SandboxPayPalGateway")()
    raise GatewayError(
        "PayPal is not configured (PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are not set).",
        code=errors.NOT_CONFIGURED,
    )
