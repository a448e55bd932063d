"""The device state machine: every move in every mode, licence checks, audit, no-ops."""

import itertools

import pytest

from audit.models import AuditEntry
from fleet.errors import FleetError
from fleet.models import Device, DeviceState, Organization, OrganizationMode
from fleet.services.devices import ALLOWED_MOVES, device_move, device_register
from fleet.services.organizations import organization_set_billing_state
from tests.factories import DeviceFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

S = DeviceState
M = OrganizationMode
STATES = list(S)
MOVES = [(a, b) for a, b in itertools.product(STATES, STATES) if a != b]

# Billing inputs that put a fresh organization (10 licences, 1 device in the field) in a
# mode. Restricted: licences cut to 0 below the one device in the field.
MODE_INPUTS = {
    M.ACTIVE: {},
    M.RESTRICTED: {"licence_count": 0},
    M.READ_ONLY: {"has_overdue_invoice": True},
    M.PAUSED: {"is_paused": True},
    M.CANCELLED: {"is_cancelled": True},
}

MODE_MESSAGES = {
    M.READ_ONLY: "An invoice of this organization is overdue",
    M.PAUSED: "is paused",
    M.CANCELLED: "is cancelled",
    M.RESTRICTED: "buy licences or move 1 device to stock",
}


def _expected(mode: str, before: str, after: str) -> str | None:
    """The refusal code, or None when the move is allowed (free licences available)."""
    if mode in (M.READ_ONLY, M.PAUSED, M.CANCELLED):
        return f"organization_{mode}"
    if mode == M.RESTRICTED and before != S.IN_THE_FIELD:
        return "organization_restricted"
    return None


def _organization_in(mode: str) -> Organization:
    organization = OrganizationFactory(licence_count=10)
    DeviceFactory(organization=organization, state=S.IN_THE_FIELD, serial="ALWAYS-IN-FIELD")
    organization_set_billing_state(organization=organization, actor="billing", **MODE_INPUTS[mode])
    assert organization.mode == mode
    return organization


def test_every_state_may_reach_every_other_state():
    assert {(a, b) for a, targets in ALLOWED_MOVES.items() for b in targets} == set(MOVES)


@pytest.mark.parametrize("mode", list(MODE_INPUTS))
@pytest.mark.parametrize(("before", "after"), MOVES)
def test_move_in_each_mode(mode, before, after):
    organization = _organization_in(mode)
    device = DeviceFactory(organization=organization, state=before, serial="DEV-1")
    refusal = _expected(mode, before, after)
    audits = AuditEntry.objects.filter(action="device.move").count()

    if refusal is None:
        device_move(device=device, state=after, actor="mdm-api:test")
        device.refresh_from_db()
        assert device.state == after
        entry = AuditEntry.objects.get(action="device.move", target_id=str(device.pk))
        assert (entry.actor_label, entry.before, entry.after) == (
            "mdm-api:test",
            {"state": before},
            {"state": after},
        )
    else:
        with pytest.raises(FleetError) as refused:
            device_move(device=device, state=after, actor="mdm-api:test")
        assert refused.value.code == refusal
        assert MODE_MESSAGES[mode] in refused.value.message
        device.refresh_from_db()
        assert device.state == before  # nothing moved
        assert AuditEntry.objects.filter(action="device.move").count() == audits


@pytest.mark.parametrize("before", [S.IN_STOCK, S.IN_REPAIR])
def test_into_the_field_is_refused_when_every_licence_is_in_use(before):
    organization = OrganizationFactory(licence_count=25)
    DeviceFactory.create_batch(25, organization=organization, state=S.IN_THE_FIELD)
    device = DeviceFactory(organization=organization, state=before)

    with pytest.raises(FleetError) as refused:
        device_move(device=device, state=S.IN_THE_FIELD, actor="staff")

    assert refused.value.code == "licences_exhausted"
    assert refused.value.message == (
        "All 25 licences are in use: buy more licences or move a device to stock"
    )
    device.refresh_from_db()
    assert device.state == before
    assert Device.objects.filter(organization=organization, state=S.IN_THE_FIELD).count() == 25
    assert not AuditEntry.objects.filter(action="device.move").exists()


def test_the_last_free_licence_can_be_used():
    organization = OrganizationFactory(licence_count=3)
    DeviceFactory.create_batch(2, organization=organization, state=S.IN_THE_FIELD)
    device = DeviceFactory(organization=organization, state=S.IN_STOCK)
    device_move(device=device, state=S.IN_THE_FIELD, actor="staff")
    assert Device.objects.filter(organization=organization, state=S.IN_THE_FIELD).count() == 3
    organization.refresh_from_db()
    assert organization.mode == M.ACTIVE


@pytest.mark.parametrize(
    ("licences", "message"),
    [
        (0, "This organization has no licences: buy licences to put a device in the field"),
        (1, "The only licence is in use: buy more licences or move a device to stock"),
    ],
)
def test_licence_message_reads_well_for_zero_and_one(licences, message):
    organization = OrganizationFactory(licence_count=licences)
    DeviceFactory.create_batch(licences, organization=organization, state=S.IN_THE_FIELD)
    device = DeviceFactory(organization=organization)
    with pytest.raises(FleetError, match=message):
        device_move(device=device, state=S.IN_THE_FIELD, actor="staff")


def test_legacy_plans_have_no_licence_cap():
    organization = OrganizationFactory(licensed=False, licence_count=0)
    devices = DeviceFactory.create_batch(5, organization=organization)
    for device in devices:
        device_move(device=device, state=S.IN_THE_FIELD, actor="staff")
    assert Device.objects.filter(organization=organization, state=S.IN_THE_FIELD).count() == 5
    organization.refresh_from_db()
    assert organization.mode == M.ACTIVE


@pytest.mark.parametrize("mode", list(MODE_INPUTS))
@pytest.mark.parametrize("state", STATES)
def test_repeating_a_move_is_a_no_op_in_every_mode(mode, state):
    organization = _organization_in(mode)
    device = DeviceFactory(organization=organization, state=state, serial="DEV-1")
    updated_at = device.updated_at
    audits = AuditEntry.objects.count()

    assert device_move(device=device, state=state, actor="mdm-api:test").state == state

    device.refresh_from_db()
    assert (device.state, device.updated_at) == (state, updated_at)
    assert AuditEntry.objects.count() == audits


def test_an_unknown_state_is_refused_clearly():
    device = DeviceFactory()
    with pytest.raises(FleetError, match="Unknown state 'lost'") as refused:
        device_move(device=device, state="lost", actor="staff")
    assert refused.value.code == "unknown_state"
    device.refresh_from_db()
    assert device.state == S.IN_STOCK


# ---- registration --------------------------------------------------------------------


def test_register_puts_a_device_in_stock_and_audits_it():
    organization = OrganizationFactory(licence_count=1)
    device = device_register(
        organization=organization, serial="ZB-1", model_name="Zebra TC52", actor="mdm-api:x"
    )
    assert (device.state, device.organization_id, device.model_name) == (
        S.IN_STOCK,
        organization.pk,
        "Zebra TC52",
    )
    entry = AuditEntry.objects.get(action="device.register")
    assert entry.after == {"organization": organization.pk, "serial": "ZB-1", "state": "in_stock"}


def test_register_refuses_a_duplicate_serial_even_in_another_organization():
    DeviceFactory(serial="ZB-1")
    other = OrganizationFactory()
    with pytest.raises(FleetError, match="serial number ZB-1 is already registered") as refused:
        device_register(organization=other, serial="ZB-1", actor="mdm-api:x")
    assert refused.value.code == "duplicate_serial"
    assert not other.devices.exists()


def test_register_into_the_field_needs_a_free_licence():
    organization = OrganizationFactory(licence_count=1)
    device_register(organization=organization, serial="A", state=S.IN_THE_FIELD, actor="x")
    with pytest.raises(FleetError, match="The only licence is in use"):
        device_register(organization=organization, serial="B", state=S.IN_THE_FIELD, actor="x")
    assert list(organization.devices.values_list("serial", flat=True)) == ["A"]


@pytest.mark.parametrize("mode", [M.RESTRICTED, M.READ_ONLY, M.PAUSED, M.CANCELLED])
def test_register_is_refused_unless_active(mode):
    organization = _organization_in(mode)
    with pytest.raises(FleetError) as refused:
        device_register(organization=organization, serial="NEW-1", actor="x")
    assert refused.value.code == f"organization_{mode}"
    assert not Device.objects.filter(serial="NEW-1").exists()


@pytest.mark.parametrize("serial", ["", " SN1", "SN 1", "-SN", "SN/1", "x" * 65, "SN\x00"])
def test_register_refuses_a_malformed_serial(serial):
    organization = OrganizationFactory()
    with pytest.raises(FleetError, match="A serial number has 1 to 64 letters"):
        device_register(organization=organization, serial=serial, actor="x")
    assert not organization.devices.exists()
