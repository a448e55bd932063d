"""The admin index's "Payment methods" box: which kinds customers are offered now, through
which gateway, and for the others which variables would offer them (billing.gateways.kinds).
"""

from django import template

from billing.gateways.kinds import KindAvailability, payment_kinds_availability
from billing.models import Gateway, PaymentMethodKind

register = template.Library()


@register.simple_tag
def payment_kinds_status() -> list[dict]:
    def row(availability: KindAvailability) -> dict:
        return {
            "kind": PaymentMethodKind(availability.kind).label,
            "offered": availability.offered,
            "gateway": (
                "staff reconciling the transfers"
                if availability.gateway == Gateway.OFFLINE
                else Gateway(availability.gateway).label
            )
            if availability.offered
            else "",
            "why_not": availability.why_not,
        }

    return [row(a) for a in payment_kinds_availability()]
