"""The customer-facing side of billing.gateways.kinds: a service that is about to start a
payment with a kind whose gateway is not configured refuses with a message a customer can
read, before any row is written or any gateway is called (fail closed)."""

from billing.errors import BillingError
from billing.gateways import kinds

METHOD_UNAVAILABLE = "method_unavailable"

UNAVAILABLE_MESSAGES = {
    kinds.CARD: "Payment by card is not available at the moment. You can pay by bank transfer.",
    kinds.SEPA_DEBIT: (
        "Payment by SEPA direct debit is not available at the moment. You can pay by bank transfer."
    ),
    kinds.PAYPAL: "PayPal is not available at the moment. You can pay by bank transfer.",
}


def payment_kind_require(*, kind: str) -> None:
    """Raises BillingError(method_unavailable) unless `kind` is offered now."""
    if not kinds.payment_kind_offered(kind):
        raise BillingError(
            UNAVAILABLE_MESSAGES.get(kind, "This payment method is not available."),
            code=METHOD_UNAVAILABLE,
        )


def payment_kinds_offered() -> dict[str, bool]:
    """{kind: offered now} for the pages: what to show the customer."""
    return {a.kind: a.offered for a in kinds.payment_kinds_availability()}
