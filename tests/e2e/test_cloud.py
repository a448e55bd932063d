"""Cloud in a real browser: a customer with a zero balance tops up 50.00 EUR with the
sandbox card 4242 4242 4242 4242 and sees it; creates an instance and enables it (the
charge shown first, then taken); the nightly run (bill_instances) charges it; when the
balance runs out a night's run disables it, and the page says so."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from playwright.sync_api import expect

from billing.models import BalanceEntry, Customer
from billing.services.instances import next_run_after
from fleet.models import Instance, InstancePackage

pytestmark = pytest.mark.browser


@pytest.fixture
def cloud(settings, live_server, customer):
    settings.PORTAL_BASE_URL = live_server.url  # the sandbox's Checkout comes back here
    InstancePackage.objects.create(code="pro", name="Pro", daily_price=Decimal("20.00"))
    return customer


def _night(at: datetime) -> None:
    with time_machine.travel(at + timedelta(seconds=5), tick=False):
        call_command("bill_instances", at=at, stdout=StringIO())


def test_top_up_create_enable_bill_and_run_out(page, cloud, log_in):
    customer = cloud
    log_in(page, customer.contact)
    page.goto("/balance/")
    expect(page.locator('[data-amount="balance"]')).to_have_text("0.00 EUR")
    expect(page.get_by_text("No instance is running")).to_be_visible()

    page.get_by_label("Amount to add (EUR)").fill("50")
    page.get_by_role("button", name="Pay by card").click()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Pay 50.00 EUR").click()
    expect(page.get_by_text("Thank you: 50.00 EUR is on your balance")).to_be_visible()
    expect(page.locator('[data-amount="balance"]')).to_have_text("50.00 EUR")
    page.reload()  # nothing twice
    expect(page.locator("[data-balance-entry]")).to_have_count(1)

    page.get_by_role("link", name="Instances", exact=True).click()
    page.get_by_label("Name").fill("Lyon DMS")
    page.get_by_role("button", name="Create instance").click()
    quote = page.locator('[data-quote="enable"] [data-amount="quote"]').inner_text()
    page.get_by_role("button", name="Enable and pay").click()
    expect(page.get_by_text(f"{quote} was taken from your balance")).to_be_visible()
    expect(page.locator('[data-enabled="yes"]')).to_have_count(1)
    charged = Decimal(quote.split()[0])
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("50.00") - charged

    # The nights: 20.00 each while the balance pays it, then the instance is disabled.
    instance = Instance.objects.get()
    night = next_run_after(datetime.now(UTC))
    for _ in range(4):
        _night(night)
        night += timedelta(days=1)
        instance.refresh_from_db()
        if not instance.enabled:
            break
    assert not instance.enabled
    nightly = BalanceEntry.objects.filter(
        kind="instance_charge", period_end__gt=instance.created_at
    )
    nightly_count = nightly.exclude(reason__endswith="until 00:00 UTC").count()
    assert nightly_count >= 1
    left = Decimal("50.00") - charged - 20 * nightly_count
    assert 0 <= left < 20
    assert Customer.objects.get(pk=customer.pk).balance == left

    page.goto("/balance/")
    expect(page.locator('[data-amount="balance"]')).to_have_text(f"{left:.2f} EUR")
    expect(page.locator('[data-kind="instance_charge"] [data-amount="entry"]').first).to_have_text(
        "−20.00 EUR"
    )
    expect(page.get_by_text("No instance is running")).to_be_visible()
    page.goto("/instances/")
    expect(page.locator('[data-enabled="no"]')).to_have_count(1)
    expect(page.get_by_role("link", name="Enable", exact=True)).to_be_visible()


def test_a_newcomer_signs_up_tops_up_and_sees_the_night_charge(page, live_server, settings):
    """The issue's path end to end: sign up, confirm by the e-mailed link, top up with the
    sandbox card, create an instance, and see its charge after `bill_instances --at`."""
    from tests.e2e.test_signup import fill_sign_up, link_from_mail

    settings.PORTAL_BASE_URL = live_server.url
    InstancePackage.objects.create(code="pro", name="Pro", daily_price=Decimal("20.00"))
    email = "ops@fresh.example"
    page.goto("/signup/")
    fill_sign_up(page, email, "Fresh Cloud SAS")
    page.goto(link_from_mail(email, live_server.url))
    page.get_by_role("button", name="Open my account").click()
    expect(page.get_by_role("heading", name="Welcome, Fresh Cloud SAS")).to_be_visible()

    page.goto("/balance/")
    page.get_by_label("Amount to add (EUR)").fill("100")
    page.get_by_role("button", name="Pay by card").click()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Pay 100.00 EUR").click()
    expect(page.locator('[data-amount="balance"]')).to_have_text("100.00 EUR")

    page.goto("/instances/")
    page.get_by_label("Name").fill("Paris DMS")
    page.get_by_role("button", name="Create instance").click()
    page.get_by_role("button", name="Enable and pay").click()
    expect(page.locator('[data-enabled="yes"]')).to_have_count(1)
    customer = Customer.objects.get(contact__email=email)
    after_enable = customer.balance

    night = next_run_after(datetime.now(UTC))
    _night(night)
    assert Customer.objects.get(pk=customer.pk).balance == after_enable - Decimal("20.00")
    page.goto("/balance/")
    expect(page.locator('[data-kind="instance_charge"] [data-amount="entry"]').first).to_have_text(
        "−20.00 EUR"
    )
