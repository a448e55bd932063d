"""The device state machine: In the field / In stock / In repair, with licence checks.

Every write here takes the organization's row lock first (the same lock billing takes in
organization_set_billing_state), then counts devices in the field. On PostgreSQL this is
what keeps concurrent moves from putting more devices in the field than licences: the
second mover waits for the first to commit and then counts its device too.
"""

import re
from typing import Annotated

from django.db import IntegrityError, transaction

from audit.services import Actor, audit_record
from fleet.errors import FleetError
from fleet.models import SERIAL_PATTERN, Device, DeviceState, Organization, OrganizationMode
from fleet.selectors import organization_in_field_count, organization_mode_reason
from fleet.services.organizations import organization_refresh_mode

# Every allowed move, in one place: from a state to the states it may go to. Staying in
# the same state is not a move (see device_move: a no-op).
ALLOWED_MOVES: dict[str, frozenset[str]] = {
    DeviceState.IN_STOCK: frozenset({DeviceState.IN_THE_FIELD, DeviceState.IN_REPAIR}),
    DeviceState.IN_THE_FIELD: frozenset({DeviceState.IN_STOCK, DeviceState.IN_REPAIR}),
    DeviceState.IN_REPAIR: frozenset({DeviceState.IN_STOCK, DeviceState.IN_THE_FIELD}),
}

# Modes in which nothing may change at all.
_FROZEN_MODES = frozenset(
    {OrganizationMode.CANCELLED, OrganizationMode.PAUSED, OrganizationMode.READ_ONLY}
)


def licences_exhausted_message(*, licence_count: int) -> str:
    if licence_count == 0:
        return "This organization has no licences: buy licences to put a device in the field"
    if licence_count == 1:
        return "The only licence is in use: buy more licences or move a device to stock"
    return f"All {licence_count} licences are in use: buy more licences or move a device to stock"


def _lock_organization(*, organization: Organization) -> Organization:
    return Organization.objects.select_for_update().get(pk=organization.pk)


def _check_mode_allows(*, organization: Organization, leaving_field: bool) -> None:
    """Raises when the organization's mode forbids this change.

    Restricted mode lets devices leave the field (the way back to nominal) and nothing else.
    """
    mode = organization.mode
    if mode in _FROZEN_MODES or (mode == OrganizationMode.RESTRICTED and not leaving_field):
        raise FleetError(
            organization_mode_reason(organization=organization), code=f"organization_{mode}"
        )


def _check_licence_free(*, organization: Organization) -> None:
    """Raises when one more device in the field would exceed the licences (Core only)."""
    if not organization.licensed:
        return  # Legacy plans have no licence cap.
    if organization_in_field_count(organization=organization) >= organization.licence_count:
        raise FleetError(
            licences_exhausted_message(licence_count=organization.licence_count),
            code="licences_exhausted",
        )


def _check_state(*, state: str) -> None:
    if state not in DeviceState.values:
        choices = ", ".join(DeviceState.values)
        raise FleetError(f"Unknown state {state!r}: use one of {choices}.", code="unknown_state")


@transaction.atomic
def device_move(
    *,
    device: Annotated[Device, "the device to move"],
    state: Annotated[str, "a DeviceState value"],
    actor: Actor,
) -> Device:
    """Moves a device to `state`, or raises FleetError saying why not.

    Moving a device to the state it is already in changes nothing and succeeds, so the MDM
    may repeat a request safely. Recomputes and stores the organization's mode afterwards.
    """
    _check_state(state=state)
    organization = _lock_organization(organization=device.organization)
    # Re-read under the lock: another request may have moved it meanwhile.
    locked = Device.objects.select_for_update().get(pk=device.pk)
    before = locked.state
    if before == state:
        _copy_state(source=locked, target=device)
        return device
    if state not in ALLOWED_MOVES[before]:
        raise FleetError(
            f"A device cannot go from {DeviceState(before).label} to {DeviceState(state).label}.",
            code="move_not_allowed",
        )
    leaving_field = before == DeviceState.IN_THE_FIELD
    _check_mode_allows(organization=organization, leaving_field=leaving_field)
    if state == DeviceState.IN_THE_FIELD:
        _check_licence_free(organization=organization)
    locked.state = state
    locked.save(update_fields=["state", "updated_at"])
    audit_record(
        actor=actor,
        action="device.move",
        target=locked,
        before={"state": before},
        after={"state": state},
    )
    organization_refresh_mode(organization=organization, actor=actor)
    _copy_state(source=locked, target=device)
    device.organization = organization
    return device


def _copy_state(*, source: Device, target: Device) -> None:
    target.state = source.state
    target.updated_at = source.updated_at


@transaction.atomic
def device_register(
    *,
    organization: Annotated[Organization, "the organization the device joins"],
    serial: Annotated[str, "the manufacturer's serial number, unique across organizations"],
    model_name: Annotated[str, "free text, up to 100 characters"] = "",
    state: Annotated[str, "a DeviceState value; In stock unless said"] = DeviceState.IN_STOCK,
    actor: Actor,
) -> Device:
    """Adds a device to an organization, refused when its mode allows no change or when
    a device registered in the field would exceed the licences."""
    _check_state(state=state)
    if not re.fullmatch(SERIAL_PATTERN, serial or ""):
        raise FleetError(
            "A serial number has 1 to 64 letters, digits, dots, dashes or underscores, "
            "and starts with a letter or a digit.",
            code="invalid_serial",
        )
    if len(model_name) > 100:
        raise FleetError("The model name is at most 100 characters.", code="invalid_model_name")
    locked = _lock_organization(organization=organization)
    _check_mode_allows(organization=locked, leaving_field=False)
    if Device.objects.filter(serial=serial).exists():
        raise _duplicate_serial(serial=serial)
    if state == DeviceState.IN_THE_FIELD:
        _check_licence_free(organization=locked)
    try:
        # A savepoint: a concurrent registration of the same serial loses cleanly.
        with transaction.atomic():
            device = Device.objects.create(
                organization=locked, serial=serial, model_name=model_name, state=state
            )
    except IntegrityError as error:
        raise _duplicate_serial(serial=serial) from error
    audit_record(
        actor=actor,
        action="device.register",
        target=device,
        after={"organization": locked.pk, "serial": serial, "state": state},
    )
    organization_refresh_mode(organization=locked, actor=actor)
    return device


def _duplicate_serial(*, serial: str) -> FleetError:
    return FleetError(
        f"A device with serial number {serial} is already registered.", code="duplicate_serial"
    )
