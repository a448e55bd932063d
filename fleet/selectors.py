from django.db.models import Count, Q

from fleet.models import Device, DeviceState, Organization


def organization_device_counts(*, organization: Organization) -> dict[str, int]:
    """Devices per state, every state present (0 when none)."""
    rows = Device.objects.filter(organization=organization).aggregate(
        **{state.value: Count("id", filter=Q(state=state.value)) for state in DeviceState}
    )
    return {state: rows[state] or 0 for state in DeviceState.values}


def organization_in_field_count(*, organization: Organization) -> int:
    return Device.objects.filter(organization=organization, state=DeviceState.IN_THE_FIELD).count()
