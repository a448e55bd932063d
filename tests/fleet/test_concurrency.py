"""Concurrent moves into the field never exceed the licences (PostgreSQL row locks)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from audit.models import AuditEntry
from fleet.errors import FleetError
from fleet.models import Device, DeviceState
from fleet.services.devices import device_move
from tests.factories import DeviceFactory, OrganizationFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_threads_racing_twenty_devices_into_twelve_free_licences(on_postgres):
    organization = OrganizationFactory(licence_count=15)
    DeviceFactory.create_batch(3, organization=organization, state=DeviceState.IN_THE_FIELD)
    candidates = DeviceFactory.create_batch(20, organization=organization)  # 12 licences free
    start = threading.Barrier(10)

    def race(devices: list[Device]) -> list[str]:
        outcomes = []
        try:
            start.wait()  # every thread starts moving at the same moment
            for device in devices:
                try:
                    device_move(device=device, state=DeviceState.IN_THE_FIELD, actor="race")
                    outcomes.append("moved")
                except FleetError as refused:
                    outcomes.append(refused.code)
        finally:
            connection.close()
        return outcomes

    # 10 threads, 2 devices each.
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(race, [candidates[i::10] for i in range(10)]))

    outcomes = [outcome for result in results for outcome in result]
    assert outcomes.count("moved") == 12
    assert outcomes.count("licences_exhausted") == 8
    in_field = Device.objects.filter(organization=organization, state=DeviceState.IN_THE_FIELD)
    assert in_field.count() == 15
    assert AuditEntry.objects.filter(action="device.move").count() == 12
    organization.refresh_from_db()
    assert organization.mode == "active"
