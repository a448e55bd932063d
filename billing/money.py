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


MINUS_SIGN = "\u2212"


def money_format(
    value: Money | Decimal | int | str | None, currency: str = "", *, minus: str = MINUS_SIGN
) -> str:
    """The one way an amount is shown to people: `3,816.96 EUR`.

    Thousands separators, two decimals (rounded half up, like every amount here), then the
    ISO code. `value` is a djmoney Money (its own currency wins) or an amount with
    `currency`. Negative amounts start with `minus` (the typographic minus sign; the PDF's
    built-in fonts have no such glyph, so it passes "-"). None or "" gives "".
    """
    if value is None or value == "":
        return ""
    if isinstance(value, Money):
        currency = str(value.currency)
        value = value.amount
    amount = round_money(Decimal(str(value)))
    sign = minus if amount < 0 else ""
    text = f"{sign}{abs(amount):,.2f}"
    return f"{text} {currency}" if currency else text
