from datetime import date

import pytest

from billing.services.periods import period_end_for


@pytest.mark.parametrize(
    ("start", "interval", "billing_day", "billing_month", "expected"),
    [
        (date(2026, 11, 1), "month", 1, 11, date(2026, 12, 1)),
        (date(2026, 12, 15), "month", 15, 12, date(2027, 1, 15)),
        # Billed on the 31st: clamped in shorter months, back to the 31st when it exists.
        (date(2026, 1, 31), "month", 31, 1, date(2026, 2, 28)),
        (date(2026, 2, 28), "month", 31, 1, date(2026, 3, 31)),
        (date(2026, 3, 31), "month", 31, 1, date(2026, 4, 30)),
        (date(2028, 1, 30), "month", 30, 1, date(2028, 2, 29)),  # leap year
        (date(2028, 2, 29), "month", 30, 1, date(2028, 3, 30)),
        # Yearly billed on 29 February: 28 February in other years, 29th in leap years.
        (date(2028, 2, 29), "year", 29, 2, date(2029, 2, 28)),
        (date(2031, 2, 28), "year", 29, 2, date(2032, 2, 29)),
        (date(2026, 11, 23), "year", 23, 11, date(2027, 11, 23)),
    ],
)
def test_period_end(start, interval, billing_day, billing_month, expected):
    assert (
        period_end_for(
            start=start, interval=interval, billing_day=billing_day, billing_month=billing_month
        )
        == expected
    )
