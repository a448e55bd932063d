"""The organization page in a real browser: the mode banner in every mode (why, what to
do), licences in use with a bar, and the device list with filter, search and pages."""

import re

import pytest
from playwright.sync_api import expect

from fleet.models import DeviceState
from fleet.services.organizations import organization_set_billing_state
from tests.factories import DeviceFactory, PlanFactory, SubscriptionFactory
from tests.fleet.conftest import browser_login

S = DeviceState


def _subscription(**organization_inputs):
    """A Core subscription of 25 licences with 18 devices in the field, 2 in stock, 1 in
    repair, its organization set in a mode by billing's inputs."""
    subscription = SubscriptionFactory(quantity=25, organization_name="Acme Field")
    organization = subscription.organization
    organization.name = "Acme Field"
    organization.save(update_fields=["name"])
    for n in range(18):
        DeviceFactory(organization=organization, serial=f"FIELD-{n:02d}", state=S.IN_THE_FIELD)
    DeviceFactory(organization=organization, serial="STOCK-01", state=S.IN_STOCK)
    DeviceFactory(organization=organization, serial="STOCK-02", state=S.IN_STOCK)
    DeviceFactory(organization=organization, serial="REPAIR-01", state=S.IN_REPAIR)
    organization_set_billing_state(organization=organization, actor="test", **organization_inputs)
    return subscription


def _open(page, subscription):
    browser_login(page, subscription.customer.contact)
    page.goto("/subscriptions/")
    page.get_by_role("link", name="Acme Field").click()
    expect(page.get_by_role("heading", level=1, name="Acme Field")).to_be_visible()


def test_active_organization_shows_licences_and_no_warning(page):
    subscription = _subscription()
    _open(page, subscription)

    expect(page.locator("[data-mode]")).to_have_attribute("data-mode", "active")
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_test_id("licences-in-use")).to_have_text("18 of 25")
    bar = page.get_by_role("progressbar", name="Licences in use: 18 of 25")
    expect(bar).to_have_attribute("value", "18")
    expect(bar).to_have_attribute("max", "25")


@pytest.mark.parametrize(
    ("inputs", "mode", "heading", "advice", "link"),
    [
        (
            {"has_overdue_invoice": True},
            "read_only",
            "Read-only: an invoice is overdue",
            "Pay the outstanding invoices to make changes again",
            ("Pay the outstanding invoices", "/invoices/"),
        ),
        (
            {"licence_count": 15},
            "restricted",
            "Restricted: more devices in the field than licences",
            "Buy licences or move at least 3 devices to stock",
            ("Buy licences", "/subscriptions/"),
        ),
        ({"is_paused": True}, "paused", "Paused", "To resume it, write to", None),
        ({"is_cancelled": True}, "cancelled", "Cancelled", "the MDM accepts no changes", None),
    ],
)
def test_banner_says_why_and_what_to_do_in_each_mode(page, inputs, mode, heading, advice, link):
    subscription = _subscription(**inputs)
    _open(page, subscription)

    banner = page.get_by_role("alert")
    expect(banner).to_have_attribute("data-mode", mode)
    expect(banner.get_by_role("heading", name=heading)).to_be_visible()
    expect(banner).to_contain_text(advice)
    if link:
        name, href = link
        banner.get_by_role("link", name=name).click()
        expect(page).to_have_url(re.compile(f"{href}$"))


def test_restricted_bar_shows_more_in_use_than_licences(page):
    subscription = _subscription(licence_count=15)
    _open(page, subscription)
    expect(page.get_by_test_id("licences-in-use")).to_have_text("18 of 15")


def test_device_list_filters_searches_and_pages(page):
    subscription = _subscription()
    for n in range(30):
        DeviceFactory(organization=subscription.organization, serial=f"BULK-{n:02d}")
    _open(page, subscription)
    rows = page.locator("tbody tr")
    expect(page.get_by_text("Page 1 of 3 · 51 devices")).to_be_visible()
    expect(rows).to_have_count(25)

    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_text("Page 2 of 3 · 51 devices")).to_be_visible()

    page.get_by_label("State").select_option(label="In repair")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("REPAIR-01")
    expect(rows.first).to_contain_text("In repair")

    page.get_by_label("State").select_option(label="All states")
    page.get_by_label("Serial number").fill("stock-0")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_text("Page 1 of 1 · 2 devices")).to_be_visible()

    page.get_by_label("Serial number").fill("NO-SUCH-SERIAL")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No devices match.")).to_be_visible()


def test_legacy_organization_has_no_licence_bar(page):
    legacy = PlanFactory(kind="legacy", interval="month")
    subscription = SubscriptionFactory(plan=legacy, organization_name="Acme Field")
    subscription.organization.name = "Acme Field"
    subscription.organization.save(update_fields=["name"])
    DeviceFactory.create_batch(4, organization=subscription.organization, state=S.IN_THE_FIELD)
    _open(page, subscription)
    expect(page.get_by_role("progressbar")).to_have_count(0)
    expect(page.get_by_text("no licence cap on this legacy plan")).to_be_visible()


def test_another_customers_organization_is_not_found(page):
    mine = _subscription()
    theirs = SubscriptionFactory(organization_name="Theirs")
    browser_login(page, mine.customer.contact)

    response = page.goto(f"/organizations/{theirs.organization.pk}/")

    assert response.status == 404
    expect(page.get_by_text("Theirs")).to_have_count(0)
    assert page.goto("/organizations/99999999999999999999/").status == 404
