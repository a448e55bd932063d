"""Gapless numbers: CAJ-2026-000001. Drawn inside the caller's transaction under a row
lock on the (series, year) counter, so a rolled-back finalization gives its number back
and two transactions can never draw the same number."""

from django.db import IntegrityError, transaction

from billing.models import NumberSequence


def number_next_block(*, series: str, year: int, count: int) -> list[str]:
    """Reserves `count` consecutive numbers with one lock (bulk renewals take one per chunk).

    The lock is held until the caller's transaction ends: numbers are given in commit
    order, so they follow the order of issue and a rollback leaves no gap.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("number_next must run inside the finalizing transaction")
    if count < 1:
        raise ValueError("count must be at least 1")
    try:
        with transaction.atomic():
            NumberSequence.objects.get_or_create(series=series, year=year)
    except IntegrityError:
        pass  # another transaction created the row first; the lock below waits for it
    sequence = NumberSequence.objects.select_for_update().get(series=series, year=year)
    first = sequence.last_number + 1
    sequence.last_number += count  # safe: the row is locked until our transaction ends
    sequence.save(update_fields=["last_number"])
    return [f"{series}-{year}-{n:06d}" for n in range(first, first + count)]


def number_next(*, series: str, year: int) -> str:
    return number_next_block(series=series, year=year, count=1)[0]
