"""The licence quantity rule: a whole number from 1 to 100,000 (also a database check)."""

from billing.errors import BillingError

MAX_QUANTITY = 100_000


def subscription_validate_quantity(*, quantity: int) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise BillingError("Enter a whole number of licences.", code="quantity_invalid")
    if quantity < 1 or quantity > MAX_QUANTITY:
        raise BillingError(
            f"The quantity must be between 1 and {MAX_QUANTITY:,} licences.",
            code="quantity_out_of_range",
        )
    return quantity
