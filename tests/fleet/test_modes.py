"""Organization modes: the precedence table, and the stored mode kept up to date."""

import pytest

from audit.models import AuditEntry
from fleet.models import DeviceState, OrganizationMode
from fleet.services.devices import device_move
from fleet.services.modes import organization_mode_compute
from fleet.services.organizations import organization_set_billing_state
from tests.factories import DeviceFactory, OrganizationFactory

M = OrganizationMode

# (cancelled, paused, overdue, licensed, licences, in field) -> mode; first match wins:
# cancelled > paused > read-only > restricted > active.
PRECEDENCE = [
    ((False, False, False, True, 10, 10), M.ACTIVE),
    ((False, False, False, True, 10, 0), M.ACTIVE),
    ((False, False, False, True, 10, 11), M.RESTRICTED),
    ((False, False, False, True, 0, 1), M.RESTRICTED),
    ((False, False, False, False, 0, 500), M.ACTIVE),  # legacy: no cap, never restricted
    ((False, False, True, True, 10, 0), M.READ_ONLY),
    ((False, False, True, True, 10, 11), M.READ_ONLY),  # read-only beats restricted
    ((False, False, True, False, 0, 3), M.READ_ONLY),
    ((False, True, False, True, 10, 0), M.PAUSED),
    ((False, True, True, True, 10, 11), M.PAUSED),  # paused beats read-only and restricted
    ((True, False, False, True, 10, 0), M.CANCELLED),
    ((True, True, True, True, 10, 11), M.CANCELLED),  # cancelled beats everything
    ((True, True, False, False, 0, 0), M.CANCELLED),
]


@pytest.mark.parametrize(("inputs", "expected"), PRECEDENCE)
def test_mode_precedence(inputs, expected):
    cancelled, paused, overdue, licensed, licences, in_field = inputs
    assert (
        organization_mode_compute(
            is_cancelled=cancelled,
            is_paused=paused,
            has_overdue_invoice=overdue,
            licensed=licensed,
            licence_count=licences,
            in_field_count=in_field,
        )
        == expected
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("inputs", "expected"), PRECEDENCE)
def test_stored_mode_follows_billing_inputs(inputs, expected):
    cancelled, paused, overdue, licensed, licences, in_field = inputs
    organization = OrganizationFactory(licensed=True, licence_count=1000)
    DeviceFactory.create_batch(in_field, organization=organization, state=DeviceState.IN_THE_FIELD)
    organization_set_billing_state(
        organization=organization,
        actor="billing",
        licensed=licensed,
        licence_count=licences,
        is_paused=paused,
        is_cancelled=cancelled,
        has_overdue_invoice=overdue,
    )
    organization.refresh_from_db()
    assert organization.mode == expected


@pytest.mark.django_db
def test_moving_out_of_the_field_returns_a_restricted_organization_to_active():
    organization = OrganizationFactory(licence_count=3)
    devices = DeviceFactory.create_batch(
        3, organization=organization, state=DeviceState.IN_THE_FIELD
    )
    # Licences go down at renewal: 3 in the field, 2 licences.
    organization_set_billing_state(organization=organization, actor="billing", licence_count=2)
    assert organization.mode == M.RESTRICTED

    device_move(device=devices[0], state=DeviceState.IN_STOCK, actor="mdm-api:test")

    organization.refresh_from_db()
    assert organization.mode == M.ACTIVE
    modes = AuditEntry.objects.filter(action="organization.mode", target_id=str(organization.pk))
    assert [(e.before, e.after) for e in modes.order_by("id")] == [
        ({"mode": "active"}, {"mode": "restricted"}),
        ({"mode": "restricted"}, {"mode": "active"}),
    ]


@pytest.mark.django_db
def test_paying_the_overdue_invoice_returns_to_active_at_once():
    organization = OrganizationFactory(licence_count=5)
    organization_set_billing_state(
        organization=organization, actor="billing", has_overdue_invoice=True
    )
    assert organization.mode == M.READ_ONLY
    organization_set_billing_state(
        organization=organization, actor="billing", has_overdue_invoice=False
    )
    assert organization.mode == M.ACTIVE
