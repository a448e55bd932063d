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
