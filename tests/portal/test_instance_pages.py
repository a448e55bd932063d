"""The Instances page over HTTP, at 2026-03-05 10:00 UTC (14 h to the next run): the
list, create (disabled, free), enable / disable / change settings with the amount shown
first and confirmed; a changed amount or a short balance is refused and changes nothing."""

import re
from decimal import Decimal

import pytest
import time_machine

from billing.models import BalanceEntry, Customer
from billing.services.instances import instance_enable
from fleet.models import Instance
from tests.billing.instance_helpers import new_instance, option, package, top_up, utc

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


@pytest.fixture
def frozen():
    with time_machine.travel("2026-03-05 10:00:00+00:00", tick=False):
        yield


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer.contact)
    return client


@pytest.fixture
def basic():
    return package("basic", "10", per_device="0.05")


def _balance(customer) -> Decimal:
    return Customer.objects.get(pk=customer.pk).balance


def _state(instance) -> tuple:
    i = Instance.objects.get(pk=instance.pk)
    return (i.enabled, i.paid_until, i.package_id, i.expected_cpe_devices, i.options)


def test_create_makes_a_disabled_instance_and_shows_what_enabling_costs(logged_in, customer, basic):
    option("backup", "2")
    response = logged_in.post(
        "/instances/",
        {
            "name": "Lyon DMS",
            "package": basic.pk,
            "expected_cpe_devices": "40",
            "options": "backup",
        },
    )
    instance = Instance.objects.get()
    assert response["Location"] == f"/instances/{instance.pk}/enable/"
    assert (instance.name, instance.enabled, instance.expected_cpe_devices, instance.options) == (
        "Lyon DMS",
        False,
        40,
        ["backup"],
    )
    assert BalanceEntry.objects.count() == 0
    body = logged_in.get(response["Location"]).content.decode()
    # 10 + 40 x 0.05 + 2 = 14.00 a day; 14 h of it = 8.17
    assert re.search(r'data-amount="quote">8\.17 EUR<', body)
    assert re.search(r'data-amount="missing">8\.17 EUR<', body)
    assert 'href="/balance/#top-up"' in body
    listing = logged_in.get("/instances/").content.decode()
    assert re.search(r'data-amount="daily">14\.00 EUR<', listing)
    assert "Backup" in listing and 'data-enabled="no"' in listing


def test_create_refuses_bad_input_and_creates_nothing(logged_in, basic):
    for data in (
        {"name": "", "package": basic.pk, "expected_cpe_devices": "1"},
        {"name": "x", "package": basic.pk, "expected_cpe_devices": "-1"},
        {"name": "x", "package": "999", "expected_cpe_devices": "1"},
        {"name": "x", "package": basic.pk, "expected_cpe_devices": "1", "options": "nope"},
    ):
        assert logged_in.post("/instances/", data).status_code == 400, data
    assert Instance.objects.count() == 0


def test_enable_charges_the_previewed_amount(logged_in, customer, basic):
    top_up(customer, "20.00", "t")
    instance = new_instance(customer, basic)
    response = logged_in.post(f"/instances/{instance.pk}/enable/", {"expected_amount": "5.83"})
    assert response.status_code == 302
    assert _state(instance)[:2] == (True, utc(2026, 3, 6))
    entry = BalanceEntry.objects.get(kind="instance_charge")
    assert entry.amount == Decimal("-5.83") and entry.instance_id == instance.pk
    assert _balance(customer) == Decimal("14.17")
    page = logged_in.get("/instances/").content.decode()
    assert "Instance dms is enabled. 5.83 EUR was taken from your balance." in page


def test_enable_refuses_a_changed_amount_and_changes_nothing(logged_in, customer, basic):
    top_up(customer, "20.00", "t")
    instance = new_instance(customer, basic)
    before = _state(instance)
    response = logged_in.post(f"/instances/{instance.pk}/enable/", {"expected_amount": "4.00"})
    assert response.status_code == 409
    body = response.content.decode()
    assert "The amount changed since your preview: it is now 5.83 EUR." in body
    assert re.search(r'data-amount="quote">5\.83 EUR<', body)  # the new preview
    assert _state(instance) == before and _balance(customer) == Decimal("20.00")
    assert BalanceEntry.objects.count() == 1
    # A confirmation without the amount is no confirmation either.
    assert logged_in.post(f"/instances/{instance.pk}/enable/").status_code == 409
    assert _state(instance) == before


def test_enable_with_a_short_balance_says_what_is_missing(logged_in, customer, basic):
    top_up(customer, "5.00", "t")
    instance = new_instance(customer, basic)
    response = logged_in.post(f"/instances/{instance.pk}/enable/", {"expected_amount": "5.83"})
    assert response.status_code == 409
    body = response.content.decode()
    assert "Your balance is 5.00 EUR and this costs 5.83 EUR: 0.83 EUR is missing." in body
    assert 'data-error="balance_insufficient"' in body and 'href="/balance/#top-up"' in body
    assert not _state(instance)[0]
    assert _balance(customer) == Decimal("5.00") and BalanceEntry.objects.count() == 1


def test_disable_gives_nothing_back_and_says_so(logged_in, customer, basic):
    top_up(customer, "20.00", "t")
    instance = new_instance(customer, basic)
    instance_enable(instance=instance, actor="test")
    body = logged_in.get(f"/instances/{instance.pk}/disable/").content.decode()
    assert "Disabling gives nothing back" in body and "6 Mar 2026 00:00 UTC" in body
    assert logged_in.post(f"/instances/{instance.pk}/disable/").status_code == 302
    assert _state(instance)[0] is False
    assert _balance(customer) == Decimal("14.17") and BalanceEntry.objects.count() == 2
    # Enabling again inside the paid period is free.
    body = logged_in.get(f"/instances/{instance.pk}/enable/").content.decode()
    assert re.search(r'data-amount="quote">0\.00 EUR<', body)


def test_change_settings_preview_then_confirm(logged_in, customer, basic):
    top_up(customer, "20.00", "t")
    instance = new_instance(customer, basic)
    instance_enable(instance=instance, actor="test")  # 14.17 left
    bigger = package("big", "34")
    data = {"package": bigger.pk, "expected_cpe_devices": "0"}
    preview = logged_in.post(f"/instances/{instance.pk}/edit/", {**data, "preview": ""})
    body = preview.content.decode()
    # (34 - 10) a day for the 14 h left = 14.00
    assert re.search(r'data-amount="quote">14\.00 EUR<', body)
    assert re.search(r'data-amount="daily">34\.00 EUR<', body)
    assert _state(instance)[2] == basic.pk  # a preview changes nothing
    stale = logged_in.post(
        f"/instances/{instance.pk}/edit/", {**data, "confirm": "", "expected_amount": "13.00"}
    )
    assert stale.status_code == 409
    assert "it is now 14.00 EUR" in stale.content.decode()
    assert _state(instance)[2] == basic.pk and _balance(customer) == Decimal("14.17")
    done = logged_in.post(
        f"/instances/{instance.pk}/edit/", {**data, "confirm": "", "expected_amount": "14.00"}
    )
    assert done.status_code == 302
    assert _state(instance)[2] == bigger.pk and _balance(customer) == Decimal("0.17")
    # Back to the cheaper package: 14.00 given back (never more than was paid).
    back = {"package": basic.pk, "expected_cpe_devices": "0"}
    body = logged_in.post(f"/instances/{instance.pk}/edit/", {**back, "preview": ""}).content
    assert re.search(r'data-amount="refund">14\.00 EUR<', body.decode())
    logged_in.post(
        f"/instances/{instance.pk}/edit/", {**back, "confirm": "", "expected_amount": "-14.00"}
    )
    assert _balance(customer) == Decimal("14.17")


def test_change_settings_short_balance_changes_nothing(logged_in, customer, basic):
    top_up(customer, "10.00", "t")
    instance = new_instance(customer, basic)
    instance_enable(instance=instance, actor="test")  # 4.17 left
    bigger = package("big", "34")
    before = _state(instance)
    response = logged_in.post(
        f"/instances/{instance.pk}/edit/",
        {
            "package": bigger.pk,
            "expected_cpe_devices": "0",
            "confirm": "",
            "expected_amount": "14.00",
        },
    )
    assert response.status_code == 409
    body = response.content.decode()
    assert "9.83 EUR is missing" in body and 'href="/balance/#top-up"' in body
    assert _state(instance) == before and _balance(customer) == Decimal("4.17")


def test_another_customer_s_instance_is_404(logged_in, basic):
    from tests.factories import CustomerFactory

    theirs = new_instance(CustomerFactory(), basic, name="Theirs")
    for action in ("enable", "disable", "edit"):
        assert logged_in.get(f"/instances/{theirs.pk}/{action}/").status_code == 404
        assert logged_in.post(f"/instances/{theirs.pk}/{action}/").status_code == 404
    assert "Theirs" not in logged_in.get("/instances/").content.decode()
