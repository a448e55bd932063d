"""Which payment-method kinds are offered now, and why not: the one answer that the
Payment Method page, the pay page, balance top-ups, automatic top-ups, collection and the
admin ask, so a method whose gateway has no keys is offered nowhere (fail closed).

| kind          | served by                           | without its keys                  |
|---------------|-------------------------------------|-----------------------------------|
| card          | Stripe (STRIPE_SECRET_KEY)          | sandbox in the demo, else none    |
| sepa_debit    | Stripe (STRIPE_SECRET_KEY)          | sandbox in the demo, else none    |
| paypal        | PayPal (PAYPAL_CLIENT_ID + _SECRET) | sandbox in the demo, else none    |
| bank_transfer | nobody: staff reconcile transfers   | always offered                    |

A saved method is usable only through the gateway that saved it: a card saved in the
sandbox is never charged through Stripe, nor one saved at Stripe once its keys are gone.
"""

from dataclasses import dataclass

from billing.gateways import card_gateway_name, paypal_gateway_name

CARD, SEPA_DEBIT, PAYPAL, BANK_TRANSFER = "card", "sepa_debit", "paypal", "bank_transfer"
OFFLINE = "offline"  # billing.models.Gateway.OFFLINE: bank transfers


@dataclass(frozen=True)
class KindAvailability:
    kind: str
    gateway: str  # the gateway serving it now ("stripe", "paypal", "sandbox", "offline"), or ""
    why_not: str = ""  # for staff (the admin): which variables would offer it

    @property
    def offered(self) -> bool:
        return bool(self.gateway)


def payment_kind_availability(kind: str) -> KindAvailability:
    if kind in (CARD, SEPA_DEBIT):
        gateway = card_gateway_name()
        why = "" if gateway else "STRIPE_SECRET_KEY is not set, so cards and SEPA debit are off."
        return KindAvailability(kind=kind, gateway=gateway, why_not=why)
    if kind == PAYPAL:
        gateway = paypal_gateway_name()
        why = (
            ""
            if gateway
            else "PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are not set, so PayPal is off."
        )
        return KindAvailability(kind=kind, gateway=gateway, why_not=why)
    if kind == BANK_TRANSFER:
        return KindAvailability(kind=kind, gateway=OFFLINE)
    return KindAvailability(kind=kind, gateway="", why_not=f"Unknown payment method {kind!r}.")


def payment_kind_offered(kind: str) -> bool:
    return payment_kind_availability(kind).offered


def payment_kinds_availability() -> list[KindAvailability]:
    """Every kind, in the order the pages list them (for the admin's notice)."""
    return [payment_kind_availability(kind) for kind in (CARD, SEPA_DEBIT, PAYPAL, BANK_TRANSFER)]


def payment_method_usable(*, kind: str, gateway: str) -> bool:
    """A saved method (its kind and the gateway that saved it) can be used now. PayPal
    saves nothing at the gateway (each invoice is approved on PayPal): offered is enough."""
    availability = payment_kind_availability(kind)
    if kind == PAYPAL:
        return availability.offered
    return availability.offered and availability.gateway == gateway
