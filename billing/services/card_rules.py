"""Which cards we accept: Visa and Mastercard, not prepaid, not American Express. Checked
on every card a hosted page saved (payment_methods.payment_method_setup_finish) or paid
with (payments.payment_refused_card), whatever the page let through.

No import of another service: the payment services and the method services both use it.
"""

from billing.errors import BillingError
from billing.gateways import interface as gw
from billing.models import PaymentMethodKind

ACCEPTED_CARD_BRANDS = {"visa", "mastercard"}


def payment_method_check_accepted(*, saved: gw.SavedMethod) -> None:
    if saved.kind != PaymentMethodKind.CARD:
        return
    if saved.brand == "amex":
        raise BillingError(
            "American Express cards are not accepted. Use a Visa or Mastercard card, or a "
            "SEPA direct debit.",
            code="card_not_accepted",
        )
    if saved.funding == "prepaid":
        raise BillingError(
            "Prepaid cards are not accepted. Use a Visa or Mastercard credit or debit card, "
            "or a SEPA direct debit.",
            code="card_not_accepted",
        )
    if saved.brand not in ACCEPTED_CARD_BRANDS:
        raise BillingError("Only Visa and Mastercard cards are accepted.", code="card_not_accepted")
