"""`{% load money %}`, then `{{ invoice.total|money }}` (a Money) or
`{{ preview.subtotal|money:preview.currency }}` (an amount and its currency): `3,816.96 EUR`.
Portal pages, e-mails and the PDF all format amounts with billing.money.money_format."""

from django import template

from billing.money import money_format

register = template.Library()


@register.filter(name="money")
def money_filter(value, currency=""):
    return money_format(value, currency or "")
