"""What the MDM is told an organization may do. First match wins (DESIGN.md)."""

from fleet.models import OrganizationMode


def organization_mode_compute(
    *,
    is_cancelled: bool,
    is_paused: bool,
    has_overdue_invoice: bool,
    licensed: bool,
    licence_count: int,
    in_field_count: int,
) -> OrganizationMode:
    if is_cancelled:
        return OrganizationMode.CANCELLED
    if is_paused:
        return OrganizationMode.PAUSED
    if has_overdue_invoice:
        return OrganizationMode.READ_ONLY
    if licensed and in_field_count > licence_count:
        return OrganizationMode.RESTRICTED
    return OrganizationMode.ACTIVE
