"""The fleet admin: device filters, the bulk move action (same rules), MDM API keys."""

import re

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from fleet.models import ApiKey, Device, DeviceState
from fleet.services.api_keys import api_key_authenticate
from tests.factories import DeviceFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

S = DeviceState


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_device_list_filters_by_state_and_organization(staff_client):
    acme, globex = OrganizationFactory(name="Acme"), OrganizationFactory(name="Globex")
    DeviceFactory(organization=acme, serial="ACME-FIELD", state=S.IN_THE_FIELD)
    DeviceFactory(organization=acme, serial="ACME-STOCK", state=S.IN_STOCK)
    DeviceFactory(organization=globex, serial="GLOBEX-FIELD", state=S.IN_THE_FIELD)
    url = reverse("admin:fleet_device_changelist")

    body = staff_client.get(url, {"state": "in_the_field", "organization__id__exact": acme.pk})

    shown = body.context["cl"].result_list
    assert [d.serial for d in shown] == ["ACME-FIELD"]


def test_bulk_move_follows_the_licence_rules_and_reports_each_refusal(staff_client, staff_user):
    organization = OrganizationFactory(licence_count=2)
    DeviceFactory(organization=organization, serial="D-1", state=S.IN_THE_FIELD)
    devices = [DeviceFactory(organization=organization, serial=f"D-{n}") for n in (2, 3, 4)]

    response = staff_client.post(
        reverse("admin:fleet_device_changelist"),
        {"action": "move_to_in_the_field", "_selected_action": [d.pk for d in devices]},
        follow=True,
    )

    assert _messages(response) == [
        "D-3: All 2 licences are in use: buy more licences or move a device to stock",
        "D-4: All 2 licences are in use: buy more licences or move a device to stock",
        "1 device(s) now in the field.",
    ]
    states = dict(Device.objects.values_list("serial", "state"))
    assert states == {
        "D-1": S.IN_THE_FIELD,
        "D-2": S.IN_THE_FIELD,
        "D-3": S.IN_STOCK,
        "D-4": S.IN_STOCK,
    }
    entry = AuditEntry.objects.get(action="device.move")
    assert (entry.actor_label, entry.target_repr) == (staff_user.email, "D-2")


def test_bulk_move_is_refused_in_read_only_mode(staff_client):
    organization = OrganizationFactory(licence_count=5, has_overdue_invoice=True, mode="read_only")
    device = DeviceFactory(organization=organization, serial="D-1")
    response = staff_client.post(
        reverse("admin:fleet_device_changelist"),
        {"action": "move_to_in_repair", "_selected_action": [device.pk]},
        follow=True,
    )
    [message] = _messages(response)
    assert message.startswith("D-1: An invoice of this organization is overdue")
    device.refresh_from_db()
    assert device.state == S.IN_STOCK


def test_api_key_is_created_in_the_admin_and_shown_once(staff_client):
    response = staff_client.post(
        reverse("admin:fleet_apikey_add"), {"name": "Fleet MDM EU"}, follow=True
    )

    [message] = [m for m in _messages(response) if "Copy it now" in m]
    raw_key = re.search(r"is (\S+) \. Copy it now", message).group(1)
    api_key = ApiKey.objects.get()
    assert api_key.name == "Fleet MDM EU"
    assert raw_key.startswith(f"{api_key.prefix}.")
    assert raw_key not in api_key.hashed_key
    assert api_key_authenticate(raw_key=raw_key) == api_key
    # The list shows the prefix, never the key, and the key is in no later page.
    listing = staff_client.get(reverse("admin:fleet_apikey_changelist")).content.decode()
    assert api_key.prefix in listing and raw_key not in listing
    change = staff_client.get(reverse("admin:fleet_apikey_change", args=[api_key.pk]))
    assert raw_key not in change.content.decode()
    assert AuditEntry.objects.filter(action="api_key.create").count() == 1


def test_api_key_without_a_name_is_refused(staff_client):
    response = staff_client.post(reverse("admin:fleet_apikey_add"), {"name": ""})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not ApiKey.objects.exists()


def test_deactivating_a_key_stops_it(staff_client, api_key_raw):
    api_key = ApiKey.objects.get()
    staff_client.post(
        reverse("admin:fleet_apikey_changelist"),
        {"action": "deactivate", "_selected_action": [api_key.pk]},
    )
    api_key.refresh_from_db()
    assert api_key.is_active is False
    assert api_key_authenticate(raw_key=api_key_raw) is None


def test_adding_a_device_in_the_admin_follows_the_licence_rules(staff_client, staff_user):
    organization = OrganizationFactory(licence_count=1)
    DeviceFactory(organization=organization, serial="D-1", state=S.IN_THE_FIELD)
    form = {"organization": organization.pk, "serial": "D-2", "model_name": "", "state": ""}

    refused = staff_client.post(
        reverse("admin:fleet_device_add"), {**form, "state": "in_the_field"}
    )
    assert refused.status_code == 200
    assert "The only licence is in use" in refused.content.decode()
    assert not Device.objects.filter(serial="D-2").exists()

    added = staff_client.post(reverse("admin:fleet_device_add"), {**form, "state": "in_stock"})
    assert added.status_code == 302
    assert Device.objects.get(serial="D-2").state == S.IN_STOCK
    entry = AuditEntry.objects.get(action="device.register")
    assert entry.actor_label == staff_user.email
