"""The one seam to payment gateways. Every call goes through `card_gateway()` or
`paypal_gateway()`; no SDK is imported anywhere else.

Which implementation: Stripe when STRIPE_SECRET_KEY is set, PayPal when PAYPAL_CLIENT_ID
and PAYPAL_CLIENT_SECRET are; otherwise the sandbox (the demo and tests default), which
moves no money and never leaves this machine. Settings are read at call time.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from billing.gateways.interface import CardGateway, PayPalGateway


def card_gateway() -> CardGateway:
    if settings.STRIPE_SECRET_KEY:
        return import_string("billing.gateways.stripe.StripeGateway")()
    return import_string("billing.gateways.sandbox.SandboxCardGateway")()


def paypal_gateway() -> PayPalGateway:
    if settings.PAYPAL_CLIENT_ID and settings.PAYPAL_CLIENT_SECRET:
        return import_string("billing.gateways.paypal.PayPalOrdersGateway")()
    return import_string("billing.gateways.sandbox.SandboxPayPalGateway")()
