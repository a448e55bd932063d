"""Exact money: Decimal amounts in a currency, rounded once per line, half up."""

from decimal import ROUND_HALF_UP, Decimal

from djmoney.money import Money

CURRENCY_CHOICES = [
    ("EUR", "Euro"),
    ("USD", "US dollar"),
    ("GBP", "Pound sterling"),
    ("CHF", "Swiss franc"),
]
# Every currency we sell in has 2 decimal places (cents); the minor unit is 0.01.
MINOR_UNIT = Decimal("0.01")


def round_money(amount: Decimal) -> Decimal:
    return amount.quantize(MINOR_UNIT, rounding=ROUND_HALF_UP)


def money(amount: Decimal | int | str, currency: str) -> Money:
    return Money(round_money(Decimal(amount)), currency)


def zero(currency: str) -> Money:
    return Money(Decimal("0.00"), currency)
