import json
from typing import TYPE_CHECKING, TypeAlias

from django.db import connections, models, router
from django.utils import timezone

from audit.models import AuditEntry

if TYPE_CHECKING:
    from accounts.models import User

SYSTEM = "system"

# Who did it: a person (customer or staff), or the name of a job or machine client
# ("nightly-billing", "mdm-api"); None is the system.
Actor: TypeAlias = "User | str | None"


def audit_record(
    *,
    actor: Actor,
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


def audit_actor_columns(actor: Actor) -> tuple[int | None, str]:
    """(actor_id, actor_label) as audit_record writes them, for bulk writers."""
    if actor is None or isinstance(actor, str):
        return None, actor or SYSTEM
    return actor.pk, getattr(actor, "email", str(actor))


# A target named without a model instance: (model label, pk, text), e.g.
# ("billing.Invoice", 42, "CAJ-2026-000042"), for bulk jobs that read plain values.
TargetRef: TypeAlias = tuple[str, "int | str", str]


def audit_target_ref(target: "models.Model | TargetRef") -> TargetRef:
    if isinstance(target, tuple):
        return target
    return (target._meta.label, target.pk, str(target))


def audit_record_many(
    *, actor: Actor, entries: list[tuple[str, "models.Model | TargetRef", dict | None, dict | None]]
) -> None:
    """Writes many audit rows at once (bulk jobs such as nightly renewals).

    Each entry is (action, target, before, after), written as audit_record would; the
    target is a model instance or, for jobs that read plain values, a (label, pk, text)
    tuple (no model instance per row). On PostgreSQL the rows go in with COPY: a nightly
    run writes tens of thousands of them.
    """
    if not entries:
        return
    actor_id, label = audit_actor_columns(actor)
    now = timezone.now()
    rows = []
    for action, target, before, after in entries:
        target_type, target_pk, target_repr = (
            target if isinstance(target, tuple) else audit_target_ref(target)
        )
        rows.append(
            (
                now,
                actor_id,
                label,
                action,
                target_type,
                str(target_pk),
                target_repr[:200],
                _jsonable(before or {}),
                _jsonable(after or {}),
            )
        )
    connection = connections[router.db_for_write(AuditEntry)]
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(AuditEntry._meta.db_table)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row((*row[:7], json.dumps(row[7]), json.dumps(row[8])))
        return
    AuditEntry.objects.bulk_create(
        [AuditEntry(**dict(zip(_COPY_FIELDS, row, strict=True))) for row in rows],
        batch_size=1000,
    )


_COPY_FIELDS = (
    "created_at",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "before",
    "after",
)
_COPY_COLUMNS = tuple(f'"{name}"' for name in _COPY_FIELDS)
