"""VAT by the seller's rules (DESIGN.md): France 20%; other EU with a valid VAT number 0%
with the reverse-charge mention; EU without one 20%; outside the EU 0%."""

from dataclasses import dataclass
from decimal import Decimal

from stdnum.eu import vat as eu_vat

from billing.countries import SELLER_COUNTRY, country_is_eu
from billing.money import round_money

STANDARD_RATE = Decimal("20.00")  # percent
REVERSE_CHARGE_NOTE = "VAT reverse charge: Article 196 of Council Directive 2006/112/EC."
EXPORT_NOTE = "VAT not applicable: services supplied outside the EU (Article 259-1 CGI)."


@dataclass(frozen=True)
class VatTreatment:
    rate: Decimal  # percent
    note: str


def vat_amount(*, taxable: Decimal, rate: Decimal) -> Decimal:
    """VAT on an amount in currency units at `rate` percent, rounded once, half up, to the
    cent. The one place this rule lives: invoices, previews and credit notes use it."""
    return round_money(taxable * rate / Decimal(100))


def vat_number_is_valid(vat_number: str) -> bool:
    return bool(vat_number) and eu_vat.is_valid(vat_number)


def vat_treatment_for(*, country: str, vat_number: str) -> VatTreatment:
    if country == SELLER_COUNTRY:
        return VatTreatment(STANDARD_RATE, "")
    if country_is_eu(country):
        if vat_number_is_valid(vat_number):
            return VatTreatment(Decimal("0.00"), REVERSE_CHARGE_NOTE)
        return VatTreatment(STANDARD_RATE, "")
    return VatTreatment(Decimal("0.00"), EXPORT_NOTE)
