from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from fleet.models import Device, DeviceState, Organization, OrganizationMode


def organization_device_counts(*, organization: Organization) -> dict[str, int]:
    """Devices per state, every state present (0 when none)."""
    rows = Device.objects.filter(organization=organization).aggregate(
        **{state.value: Count("id", filter=Q(state=state.value)) for state in DeviceState}
    )
    return {state: rows[state] or 0 for state in DeviceState.values}


def organization_in_field_count(*, organization: Organization) -> int:
    return Device.objects.filter(organization=organization, state=DeviceState.IN_THE_FIELD).count()


def organization_mode_reason(*, organization: Organization) -> str:
    """Why the organization is in its mode and what to do, in words a person can act on."""
    mode = organization.mode
    if mode == OrganizationMode.CANCELLED:
        return "The subscription of this organization is cancelled: no change is possible."
    if mode == OrganizationMode.PAUSED:
        return (
            "The subscription of this organization is paused: no change is possible until "
            "CAJ resumes it."
        )
    if mode == OrganizationMode.READ_ONLY:
        return (
            "An invoice of this organization is overdue: the organization is read-only until "
            "the outstanding invoices are paid."
        )
    if mode == OrganizationMode.RESTRICTED:
        in_field = organization_in_field_count(organization=organization)
        excess = in_field - organization.licence_count
        return (
            f"{in_field} devices are in the field but the organization has "
            f"{organization.licence_count} licences: buy licences or move {excess} "
            f"device{'s' if excess != 1 else ''} to stock. Until then devices may only "
            "leave the field."
        )
    return "The organization is active."


@dataclass(frozen=True)
class OrganizationStatus:
    """What the MDM and the customer are told about an organization right now."""

    organization: Organization
    mode: str
    reason: str
    licensed: bool
    licence_count: int
    counts: dict[str, int]
    # Licences still free (Core); None when there is no cap (legacy plans).
    licences_free: int | None
    # Any change allowed (register, move in any direction).
    can_change: bool
    # One more device may go into the field now.
    can_add_to_field: bool
    # Devices may leave the field (also in restricted mode: the way back to nominal).
    can_remove_from_field: bool

    @property
    def in_field(self) -> int:
        return self.counts[DeviceState.IN_THE_FIELD]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def over_licences(self) -> int:
        """Devices in the field beyond the licences (restricted mode); 0 otherwise."""
        return max(self.in_field - self.licence_count, 0) if self.licensed else 0

    @property
    def counts_with_total(self) -> dict[str, int]:
        return {**self.counts, "total": self.total}


def organization_status(*, organization: Organization) -> OrganizationStatus:
    counts = organization_device_counts(organization=organization)
    in_field = counts[DeviceState.IN_THE_FIELD]
    mode = organization.mode
    can_change = mode == OrganizationMode.ACTIVE
    free = max(organization.licence_count - in_field, 0) if organization.licensed else None
    return OrganizationStatus(
        organization=organization,
        mode=mode,
        reason=organization_mode_reason(organization=organization),
        licensed=organization.licensed,
        licence_count=organization.licence_count,
        counts=counts,
        licences_free=free,
        can_change=can_change,
        can_add_to_field=can_change and (free is None or free > 0),
        can_remove_from_field=mode in (OrganizationMode.ACTIVE, OrganizationMode.RESTRICTED),
    )


def organization_devices(
    *, organization: Organization, state: str | None = None, serial_search: str = ""
) -> QuerySet[Device]:
    """The organization's devices by serial, optionally in one state or matching a serial."""
    devices = Device.objects.filter(organization=organization)
    if state:
        devices = devices.filter(state=state)
    if serial_search:
        devices = devices.filter(serial__icontains=serial_search)
    return devices.order_by("serial", "id")


def organization_device_by_serial(*, organization: Organization, serial: str) -> Device:
    return Device.objects.select_related("organization").get(
        organization=organization, serial=serial
    )


def organizations_device_totals(*, organization_ids) -> dict[int, dict[str, int]]:
    """For many organizations in one query: {id: {"all": n, "in_the_field": n}}; an
    organization without devices is absent (read it as zeros)."""
    rows = (
        Device.objects.filter(organization_id__in=organization_ids)
        .values("organization_id")
        .annotate(
            all=Count("id"), in_the_field=Count("id", filter=Q(state=DeviceState.IN_THE_FIELD))
        )
        .order_by()
    )
    return {
        row["organization_id"]: {"all": row["all"], "in_the_field": row["in_the_field"]}
        for row in rows
    }
