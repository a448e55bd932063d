from typing import Any

from django.db import models

from audit.models import AuditEntry

SYSTEM = "system"


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry:
    """Writes one audit row. `actor` is a user, or None / a string for jobs and the MDM API."""
    if actor is None or isinstance(actor, str):
        actor_user, label = None, actor or SYSTEM
    else:
        actor_user, label = actor, getattr(actor, "email", str(actor))
    return AuditEntry.objects.create(
        actor=actor_user,
        actor_label=label,
        action=action,
        target_type=target._meta.label,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        before=_jsonable(before or {}),
        after=_jsonable(after or {}),
    )


def _jsonable(values: dict) -> dict:
    """Keeps JSON's own types; anything else (Decimal, Money, dates, enums) as its text."""
    plain = (str, int, float, bool, type(None), list, dict)
    return {key: value if isinstance(value, plain) else str(value) for key, value in values.items()}


def audit_record_many(
    *, actor: Any, entries: list[tuple[str, models.Model, dict | None, dict | None]]
) -> None:
    """Writes many audit rows in one insert (bulk jobs such as nightly renewals).

    Each entry is (action, target, before, after), written as audit_record would.
    """
    if actor is None or isinstance(actor, str):
        actor_user, label = None, actor or SYSTEM
    else:
        actor_user, label = actor, getattr(actor, "email", str(actor))
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                actor=actor_user,
                actor_label=label,
                action=action,
                target_type=target._meta.label,
                target_id=str(target.pk),
                target_repr=str(target)[:200],
                before=_jsonable(before or {}),
                after=_jsonable(after or {}),
            )
            for action, target, before, after in entries
        ],
        batch_size=1000,
    )
