"""Billing periods. A period runs from the billing date to the same day next month/year;
a day the month lacks (29-31) is clamped to its last day, and the next period returns to
the subscription's own day (billing_day). End dates are exclusive."""

import calendar
from datetime import date
from functools import lru_cache

from billing.models import Interval


@lru_cache(maxsize=4096)  # pure; a night's renewals ask for a handful of dates
def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def period_end_for(*, start: date, interval: str, billing_day: int, billing_month: int) -> date:
    if interval == Interval.MONTH:
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return _clamped(year, month, billing_day)
    return _clamped(start.year + 1, billing_month, billing_day)


def period_days(*, start: date, end: date) -> int:
    return (end - start).days
