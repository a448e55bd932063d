"""The admin's "Workers and nightly runs" page (portal/admin_health.py): staff see the
last scheduler heartbeat, the workers, the last run of each kind and the runs that need
attention in red; nobody else gets the page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import NightlyRun, NightlyRunKind, NightlyRunStatus
from portal.tasks import scheduler_heartbeat, scheduler_heartbeat_last
from tests.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/admin/nightly-health/"


def _runs():
    now = timezone.now().replace(microsecond=0)
    NightlyRun.objects.create(
        kind=NightlyRunKind.RENEWALS,
        day=now.date(),
        started_at=now - timedelta(minutes=50),
        finished_at=now - timedelta(minutes=49, seconds=18),
        status=NightlyRunStatus.COMPLETE,
        counts={"renewal_chunks": 3, "renewal_invoices": 12000},
    )
    NightlyRun.objects.create(
        kind=NightlyRunKind.INSTANCES,
        day=now.date(),
        started_at=now - timedelta(minutes=50),
        status=NightlyRunStatus.INCOMPLETE,
        counts={"chunks": 2},
        alerted_at=now - timedelta(minutes=15),
        requeued_at=now - timedelta(minutes=15),
        requeues=1,
    )


def test_the_heartbeat_task_records_its_time():
    assert scheduler_heartbeat_last() is None
    stamp = scheduler_heartbeat.apply().get()
    assert scheduler_heartbeat_last()["at"].isoformat() == stamp


def test_staff_see_the_heartbeat_the_workers_and_the_last_runs(staff_client, settings):
    settings.REDIS_URL = ""  # no remote control: the heartbeat's worker is the one seen
    scheduler_heartbeat.apply()  # eager: run by this machine's name
    _runs()
    response = staff_client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    heartbeat = scheduler_heartbeat_last()
    assert heartbeat["worker"]
    assert f'Last heartbeat: <time datetime="{heartbeat["at"].isoformat()}">' in page
    assert 'id="heartbeat">Last heartbeat' in page  # not stale: no errornote class
    assert f'<ul id="workers"><li>{heartbeat["worker"]}</li></ul>' in page
    assert "renewal_chunks: 3, renewal_invoices: 12000" in page
    assert "0:00:42" in page  # the renewals' duration
    # The incomplete, alerted instance run is listed in red.
    assert '<span class="errornote">Incomplete</span>' in page
    assert '<ul class="errorlist" id="attention">' in page
    day = f"{timezone.now():%Y-%m-%d}"
    assert f"Instance billing (billing.tasks.nightly_instance_billing) of {day}" in page
    assert "incomplete, staff alerted" in page
    # And the admin index links to the page.
    index = staff_client.get(reverse("admin:index")).content.decode()
    assert f'<a href="{URL}">Workers and nightly runs</a>' in index


def test_no_heartbeat_and_no_worker_are_shown_in_red(staff_client, settings):
    settings.REDIS_URL = ""
    page = staff_client.get(URL).content.decode()
    assert '<p class="errornote" id="heartbeat">No scheduler heartbeat recorded' in page
    assert '<p class="errornote" id="workers">No worker seen' in page
    assert "never run" in page
    assert '<p id="attention">None' in page


@pytest.mark.parametrize("who", ["anonymous", "customer", "staff without TOTP"])
def test_nobody_else_gets_the_page(client, who):
    _runs()
    if who == "customer":
        client.force_login(UserFactory())
    elif who == "staff without TOTP":
        client.force_login(StaffUserFactory())  # logged in, not verified by a device
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert b"renewal_chunks" not in response.content
