"""Gapless numbers: CAJ-2026-000001. Drawn inside the caller's transaction under a row
lock on the (series, year) counter, so a rolled-back finalization gives its number back."""

from django.db import IntegrityError, transaction

from billing.models import NumberSequence


def number_next(*, series: str, year: int) -> str:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("number_next must run inside the finalizing transaction")
    try:
        with transaction.atomic():
            NumberSequence.objects.get_or_create(series=series, year=year)
    except IntegrityError:
        pass  # another transaction created the row first; the lock below waits for it
    sequence = NumberSequence.objects.select_for_update().get(series=series, year=year)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return f"{series}-{year}-{sequence.last_number:06d}"
