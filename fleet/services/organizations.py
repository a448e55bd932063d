"""Organization writes. Billing calls these; it never sets fleet fields directly."""

from typing import Any

from django.db import transaction

from accounts.text import CONTROL_CHARACTERS_CODE, text_refusal
from audit.services import Actor, audit_record
from fleet.errors import FleetError
from fleet.models import Organization
from fleet.selectors import organization_in_field_count
from fleet.services.modes import organization_mode_compute

_BILLING_INPUTS = ("licensed", "licence_count", "is_paused", "is_cancelled", "has_overdue_invoice")


def organization_create(
    *, name: str, licensed: bool, licence_count: int, actor: Actor
) -> Organization:
    # The name is what the MDM shows and (copied onto the subscription) every billing
    # e-mail's subject starts with: a line break there would break the e-mail.
    refusal = text_refusal(value=name, label="organization name")
    if refusal:
        raise FleetError(refusal, code=CONTROL_CHARACTERS_CODE)
    organization = Organization.objects.create(
        name=name, licensed=licensed, licence_count=licence_count
    )
    audit_record(
        actor=actor,
        action="organization.create",
        target=organization,
        after={"name": name, "licensed": licensed, "licence_count": licence_count},
    )
    return organization


@transaction.atomic
def organization_set_billing_state(
    *, organization: Organization, actor: Actor, **inputs: Any
) -> Organization:
    """Writes billing's inputs (licences, paused, cancelled, overdue) and recomputes the mode.

    Takes the organization's row lock, the same one device moves take, so a licence
    decrease and a move into the field cannot interleave.
    """
    unknown = set(inputs) - set(_BILLING_INPUTS)
    if unknown:
        raise TypeError(f"Not billing inputs: {sorted(unknown)}")
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    before = {name: getattr(locked, name) for name in inputs}
    for name, value in inputs.items():
        setattr(locked, name, value)
    changed = {name: value for name, value in inputs.items() if before[name] != value}
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            action="organization.billing_state",
            target=locked,
            before={k: before[k] for k in changed},
            after=changed,
        )
    organization_refresh_mode(organization=locked, actor=actor)
    organization.refresh_from_db()
    return organization


def organization_refresh_mode(*, organization: Organization, actor: Actor) -> str:
    """Recomputes and stores the mode; audits it when it moves. Call inside the row lock."""
    mode = organization_mode_compute(
        is_cancelled=organization.is_cancelled,
        is_paused=organization.is_paused,
        has_overdue_invoice=organization.has_overdue_invoice,
        licensed=organization.licensed,
        licence_count=organization.licence_count,
        in_field_count=organization_in_field_count(organization=organization),
    )
    if mode != organization.mode:
        before = organization.mode
        Organization.objects.filter(pk=organization.pk).update(mode=mode)
        organization.mode = mode
        audit_record(
            actor=actor,
            action="organization.mode",
            target=organization,
            before={"mode": before},
            after={"mode": mode},
        )
    return mode


@transaction.atomic
def organization_erase(*, organization: Organization, actor: Actor) -> None:
    """Erases the organization and its devices (subscription cancelled: final).

    The audit row keeps what was erased; the rows themselves are deleted.
    """
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    device_count = locked.devices.count()
    audit_record(
        actor=actor,
        action="organization.erase",
        target=locked,
        before={"name": locked.name, "devices": device_count, "mode": locked.mode},
    )
    locked.delete()  # devices go with it (on_delete=CASCADE)
