"""One money format everywhere: `3,816.96 EUR` (billing.money.money_format and the
`money` template filter that portal pages and e-mails load)."""

from decimal import Decimal

import pytest
from django.template import Context, Template
from djmoney.money import Money

from billing.money import money_format


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (Money("3816.96", "EUR"), "", "3,816.96 EUR"),
        (Decimal("3816.96"), "EUR", "3,816.96 EUR"),
        (Decimal("0"), "EUR", "0.00 EUR"),
        (Decimal("-0.00"), "EUR", "0.00 EUR"),
        (Money("0", "USD"), "", "0.00 USD"),
        (Decimal("-12.5"), "EUR", "\u221212.50 EUR"),
        (Money("-1234.56", "USD"), "", "\u22121,234.56 USD"),
        (Decimal("1234567890.1"), "USD", "1,234,567,890.10 USD"),
        (Decimal("999.999"), "EUR", "1,000.00 EUR"),  # rounded half up, like every amount
        (Decimal("0.005"), "USD", "0.01 USD"),
        (4, "EUR", "4.00 EUR"),
        ("19.2", "USD", "19.20 USD"),
        (Money("5.00", "USD"), "EUR", "5.00 USD"),  # a Money keeps its own currency
        (Decimal("7"), "", "7.00"),
        (None, "EUR", ""),
    ],
)
def test_money_format(value, currency, expected):
    assert money_format(value, currency) == expected


def test_the_pdf_passes_an_ascii_minus():
    assert money_format(Decimal("-10"), "EUR", minus="-") == "-10.00 EUR"


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        ("{{ total|money }}", {"total": Money("3816.96", "EUR")}, "3,816.96 EUR"),
        (
            "{{ amount|money:currency }}",
            {"amount": Decimal("-1.5"), "currency": "USD"},
            "\u22121.50 USD",
        ),
        ("{{ amount|money:'USD' }}", {"amount": Decimal("1000000")}, "1,000,000.00 USD"),
        ("{{ amount|money:currency }}", {"amount": Decimal("0"), "currency": "EUR"}, "0.00 EUR"),
    ],
)
def test_money_filter(source, context, expected):
    assert Template("{% load money %}" + source).render(Context(context)) == expected
