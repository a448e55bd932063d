from decimal import Decimal

import pytest

from billing.services.vat import EXPORT_NOTE, REVERSE_CHARGE_NOTE, vat_treatment_for


@pytest.mark.parametrize(
    ("country", "vat_number", "rate", "note"),
    [
        ("FR", "", Decimal("20.00"), ""),
        ("FR", "FR40303265045", Decimal("20.00"), ""),  # French customers always pay VAT
        ("DE", "DE136695976", Decimal("0.00"), REVERSE_CHARGE_NOTE),
        ("DE", "", Decimal("20.00"), ""),
        ("DE", "DE000000000", Decimal("20.00"), ""),  # invalid number: treated as none
        ("US", "", Decimal("0.00"), EXPORT_NOTE),
        ("CH", "", Decimal("0.00"), EXPORT_NOTE),
    ],
)
def test_vat_treatment(country, vat_number, rate, note):
    treatment = vat_treatment_for(country=country, vat_number=vat_number)
    assert (treatment.rate, treatment.note) == (rate, note)
