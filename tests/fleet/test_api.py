"""The MDM API over real HTTP (live server + requests), as an MDM platform drives it."""

import pytest

from audit.models import AuditEntry
from fleet.models import ApiKey, Device, DeviceState
from fleet.services.api_keys import api_key_deactivate
from fleet.services.organizations import organization_set_billing_state
from tests.factories import DeviceFactory, OrganizationFactory

S = DeviceState


def _json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    return body


# ---- authentication ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer abc", "Api-Key", "Api-Key nonsense", "Api-Key 0123abcd.not-the-real-secret"],
)
def test_no_or_bad_key_answers_401_json(live_server, db, header):
    import requests

    organization = OrganizationFactory()
    headers = {} if header is None else {"Authorization": header}
    response = requests.get(
        f"{live_server.url}/api/mdm/organizations/{organization.pk}/", headers=headers, timeout=10
    )
    body = _json_error(response, 401, "not_authenticated" if not header else "bad_api_key")
    assert body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Api-Key")


def test_a_deactivated_key_is_refused_and_a_used_key_is_stamped(mdm):
    organization = OrganizationFactory()
    api_key = ApiKey.objects.get()
    assert api_key.last_used_at is None
    assert mdm.get(f"/organizations/{organization.pk}/").status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None

    api_key_deactivate(api_key=api_key, actor="staff")
    _json_error(mdm.get(f"/organizations/{organization.pk}/"), 401, "bad_api_key")


def test_the_key_is_stored_hashed(api_key_raw):
    api_key = ApiKey.objects.get()
    assert api_key_raw.startswith(api_key.prefix + ".")
    assert api_key_raw not in (api_key.hashed_key, api_key.prefix)
    assert len(api_key.hashed_key) == 64


# ---- organization --------------------------------------------------------------------


def test_read_an_organization(mdm):
    organization = OrganizationFactory(name="Acme Field", licence_count=25)
    DeviceFactory.create_batch(18, organization=organization, state=S.IN_THE_FIELD)
    DeviceFactory.create_batch(4, organization=organization, state=S.IN_STOCK)
    DeviceFactory.create_batch(2, organization=organization, state=S.IN_REPAIR)

    response = mdm.get(f"/organizations/{organization.pk}/")

    assert response.status_code == 200
    assert response.json() == {
        "id": organization.pk,
        "name": "Acme Field",
        "mode": "active",
        "reason": "The organization is active.",
        "licensed": True,
        "licence_count": 25,
        "licences_in_use": 18,
        "licences_free": 7,
        "devices": {"in_the_field": 18, "in_stock": 4, "in_repair": 2, "total": 24},
        "allowed": {"can_change": True, "can_add_to_field": True, "can_remove_from_field": True},
    }


@pytest.mark.parametrize(
    ("inputs", "mode", "allowed"),
    [
        ({}, "active", (True, True, True)),
        ({"licence_count": 2}, "active", (True, False, True)),  # full: nothing more in the field
        ({"licence_count": 1}, "restricted", (False, False, True)),
        ({"has_overdue_invoice": True}, "read_only", (False, False, False)),
        ({"is_paused": True}, "paused", (False, False, False)),
        ({"is_cancelled": True}, "cancelled", (False, False, False)),
    ],
)
def test_what_is_allowed_in_each_mode(mdm, inputs, mode, allowed):
    organization = OrganizationFactory(licence_count=10)
    DeviceFactory.create_batch(2, organization=organization, state=S.IN_THE_FIELD)
    organization_set_billing_state(organization=organization, actor="billing", **inputs)

    body = mdm.get(f"/organizations/{organization.pk}/").json()

    assert body["mode"] == mode
    assert tuple(body["allowed"].values()) == allowed


def test_a_legacy_organization_has_no_cap(mdm):
    organization = OrganizationFactory(licensed=False, licence_count=0)
    DeviceFactory.create_batch(3, organization=organization, state=S.IN_THE_FIELD)
    body = mdm.get(f"/organizations/{organization.pk}/").json()
    assert (body["licensed"], body["licences_free"], body["allowed"]["can_add_to_field"]) == (
        False,
        None,
        True,
    )


@pytest.mark.parametrize("path", ["999999", "0", "-1", "abc", "99999999999999999999999"])
def test_unknown_organization_is_404_json(mdm, path):
    body = _json_error(mdm.get(f"/organizations/{path}/"), 404, "not_found")
    assert "No organization with id" in body["message"]


def test_unknown_address_under_the_api_is_404_json(mdm):
    _json_error(mdm.get("/nothing/here/"), 404, "not_found")


# ---- device list ---------------------------------------------------------------------


def test_list_filters_by_state_and_serial_and_pages(mdm):
    organization = OrganizationFactory()
    for n in range(5):
        DeviceFactory(organization=organization, serial=f"FIELD-{n}", state=S.IN_THE_FIELD)
    DeviceFactory(organization=organization, serial="STOCK-1", state=S.IN_STOCK)
    DeviceFactory(serial="FIELD-OTHER-ORG", state=S.IN_THE_FIELD)
    url = f"/organizations/{organization.pk}/devices/"

    first = mdm.get(url, params={"state": "in_the_field", "page_size": 2}).json()
    assert (first["count"], first["page"], first["next_page"]) == (5, 1, 2)
    assert [d["serial"] for d in first["results"]] == ["FIELD-0", "FIELD-1"]
    last = mdm.get(url, params={"state": "in_the_field", "page_size": 2, "page": 3}).json()
    assert ([d["serial"] for d in last["results"]], last["next_page"]) == (["FIELD-4"], None)

    search = mdm.get(url, params={"serial": "stock"}).json()
    assert [d["serial"] for d in search["results"]] == ["STOCK-1"]
    assert search["results"][0]["state"] == "in_stock"
    assert search["results"][0]["organization_id"] == organization.pk


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "lost"}, "state"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"page_size": "1000"}, "page_size"),
        ({"serial": "a\x01b"}, "serial"),
    ],
)
def test_list_refuses_bad_query_parameters(mdm, params, field):
    organization = OrganizationFactory()
    body = _json_error(
        mdm.get(f"/organizations/{organization.pk}/devices/", params=params), 400, "invalid"
    )
    assert field in body["errors"]


# ---- register ------------------------------------------------------------------------


def test_register_a_device_in_stock(mdm):
    organization = OrganizationFactory()
    response = mdm.post(
        f"/organizations/{organization.pk}/devices/",
        json={"serial": "ZB-0001", "model_name": "Zebra TC52"},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["serial"], body["state"], body["model_name"]) == (
        "ZB-0001",
        "in_stock",
        "Zebra TC52",
    )
    device = Device.objects.get(serial="ZB-0001")
    assert device.organization == organization
    entry = AuditEntry.objects.get(action="device.register")
    assert entry.actor_label == "mdm-api:Test MDM platform"


def test_register_a_duplicate_serial_is_409_and_changes_nothing(mdm):
    existing = DeviceFactory(serial="ZB-0001", model_name="Old")
    organization = OrganizationFactory()
    body = _json_error(
        mdm.post(f"/organizations/{organization.pk}/devices/", json={"serial": "ZB-0001"}),
        409,
        "duplicate_serial",
    )
    assert body["message"] == "A device with serial number ZB-0001 is already registered."
    existing.refresh_from_db()
    assert (existing.organization_id, existing.model_name) != (organization.pk, "")
    assert not organization.devices.exists()


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        (
            {"data": "{not json", "headers": {"Content-Type": "application/json"}},
            400,
            "malformed_json",
        ),
        ({"json": ["ZB-1"]}, 400, "invalid"),
        ({"json": {}}, 400, "invalid"),
        ({"json": {"serial": "has space"}}, 400, "invalid"),
        ({"json": {"serial": "x" * 65}}, 400, "invalid"),
        ({"json": {"serial": "OK-1", "state": "lost"}}, 400, "invalid"),
        ({"json": {"serial": "OK-1", "model_name": "m" * 101}}, 400, "invalid"),
        ({"json": {"serial": "OK-1", "model_name": "bad\x00"}}, 400, "invalid"),
        ({"json": {"serial": 12}}, 400, "invalid"),
        (
            {
                "data": "serial=OK-1",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            415,
            "unsupported_media_type",
        ),
    ],
)
def test_register_refuses_bad_input_without_creating_anything(mdm, kwargs, status, code):
    organization = OrganizationFactory()
    body = _json_error(
        mdm.post(f"/organizations/{organization.pk}/devices/", **kwargs), status, code
    )
    assert body["message"]
    assert not Device.objects.exists()
    assert not AuditEntry.objects.filter(action="device.register").exists()


# ---- move ----------------------------------------------------------------------------


def test_move_and_repeat_the_same_move(mdm):
    organization = OrganizationFactory(licence_count=1)
    DeviceFactory(organization=organization, serial="ZB-1")
    url = f"/organizations/{organization.pk}/devices/ZB-1/state/"

    first = mdm.put(url, json={"state": "in_the_field"})
    again = mdm.put(url, json={"state": "in_the_field"})

    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json() == again.json()
    assert first.json()["state"] == "in_the_field"
    assert AuditEntry.objects.filter(action="device.move").count() == 1


def test_move_into_the_field_with_every_licence_in_use_is_409(mdm):
    organization = OrganizationFactory(licence_count=25)
    DeviceFactory.create_batch(25, organization=organization, state=S.IN_THE_FIELD)
    DeviceFactory(organization=organization, serial="ZB-26")

    body = _json_error(
        mdm.put(
            f"/organizations/{organization.pk}/devices/ZB-26/state/", json={"state": "in_the_field"}
        ),
        409,
        "licences_exhausted",
    )

    assert body["message"] == (
        "All 25 licences are in use: buy more licences or move a device to stock"
    )
    assert Device.objects.get(serial="ZB-26").state == S.IN_STOCK


@pytest.mark.parametrize(
    ("inputs", "code", "words"),
    [
        ({"has_overdue_invoice": True}, "organization_read_only", "outstanding invoices are paid"),
        ({"is_paused": True}, "organization_paused", "is paused"),
        ({"is_cancelled": True}, "organization_cancelled", "is cancelled"),
    ],
)
def test_move_is_423_with_the_reason_in_frozen_modes(mdm, inputs, code, words):
    organization = OrganizationFactory(licence_count=5)
    DeviceFactory(organization=organization, serial="ZB-1", state=S.IN_THE_FIELD)
    organization_set_billing_state(organization=organization, actor="billing", **inputs)

    body = _json_error(
        mdm.put(
            f"/organizations/{organization.pk}/devices/ZB-1/state/", json={"state": "in_stock"}
        ),
        423,
        code,
    )

    assert words in body["message"]
    assert Device.objects.get(serial="ZB-1").state == S.IN_THE_FIELD


def test_move_of_an_unknown_device_or_another_organizations_device_is_404(mdm):
    organization = OrganizationFactory()
    DeviceFactory(serial="ELSEWHERE")
    for serial in ("NOPE", "ELSEWHERE"):
        _json_error(
            mdm.put(
                f"/organizations/{organization.pk}/devices/{serial}/state/",
                json={"state": "in_stock"},
            ),
            404,
            "not_found",
        )
    assert Device.objects.get(serial="ELSEWHERE").state == S.IN_STOCK


def test_an_undocumented_method_is_405_json(mdm):
    organization = OrganizationFactory()
    _json_error(
        mdm.request("DELETE", f"/organizations/{organization.pk}/"), 405, "method_not_allowed"
    )


def test_drive_an_organization_through_every_mode(mdm):
    """An MDM client follows `allowed` and `reason` from active to restricted and back."""
    organization = OrganizationFactory(licence_count=2)
    url = f"/organizations/{organization.pk}"
    for serial in ("A-1", "A-2", "A-3"):
        assert mdm.post(f"{url}/devices/", json={"serial": serial}).status_code == 201
    for serial in ("A-1", "A-2"):
        assert mdm.put(f"{url}/devices/{serial}/state/", json={"state": "in_the_field"}).ok
    assert mdm.get(f"{url}/").json()["allowed"]["can_add_to_field"] is False
    assert mdm.put(f"{url}/devices/A-3/state/", json={"state": "in_the_field"}).status_code == 409

    # Staff cut the licences at renewal: restricted, only moves out of the field.
    organization_set_billing_state(organization=organization, actor="billing", licence_count=1)
    status = mdm.get(f"{url}/").json()
    assert (status["mode"], status["allowed"]["can_remove_from_field"]) == ("restricted", True)
    assert "move 1 device to stock" in status["reason"]
    assert mdm.put(f"{url}/devices/A-3/state/", json={"state": "in_repair"}).status_code == 423
    assert mdm.put(f"{url}/devices/A-2/state/", json={"state": "in_stock"}).status_code == 200
    assert mdm.get(f"{url}/").json()["mode"] == "active"

    for inputs, mode in [
        ({"has_overdue_invoice": True}, "read_only"),
        ({"is_paused": True}, "paused"),
        ({"is_cancelled": True}, "cancelled"),
    ]:
        organization_set_billing_state(organization=organization, actor="billing", **inputs)
        assert mdm.get(f"{url}/").json()["mode"] == mode
        assert mdm.post(f"{url}/devices/", json={"serial": "B-1"}).status_code == 423
    assert not Device.objects.filter(serial="B-1").exists()
