"""Edit Subscription in a real browser: preview as you type, confirm, e-mail, the invoice
in the history and its PDF; the legacy refusal; and the same without JavaScript."""

import re

import pytest
import time_machine
from django.core import mail
from playwright.sync_api import expect

from billing.models import Invoice, InvoiceKind, PlanKind
from fleet.models import DeviceState
from tests.factories import DeviceFactory, PlanFactory, SubscriptionFactory, period_invoice_paid

# 23 November 2026: 8 of November's 30 days are left, so one licence costs 4.00 x 8/30.
NOW = "2026-11-23T10:00:00Z"


@pytest.fixture
def on_november_23rd():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def core_subscription(transactional_db):
    subscription = SubscriptionFactory(quantity=25, organization_name="Acme Paris")
    DeviceFactory.create_batch(
        18, organization=subscription.organization, state=DeviceState.IN_THE_FIELD
    )
    return subscription


def test_edit_subscription_end_to_end(page, log_in, core_subscription, on_november_23rd):
    subscription = core_subscription
    log_in(page, subscription.customer.contact)
    page.goto("/subscriptions/")
    row = page.locator(f'tr[data-subscription="{subscription.public_id}"]')
    expect(row).to_contain_text("120.00 EUR")  # next invoice: 25 x 4.00 + 20% VAT
    row.get_by_role("link", name="Edit Subscription").click()
    expect(page.get_by_role("heading", name="Edit Subscription")).to_be_visible()
    # The preview script is deferred: typing before it runs would go unnoticed.
    page.wait_for_load_state()

    # Below the devices in the field: refused, with how many must go back to stock.
    page.get_by_label("Number of licences").fill("15")
    expect(page.locator("[data-preview-error]")).to_contain_text(
        "move 3 devices back to stock first"
    )
    expect(page.get_by_role("button", name="Update subscription")).to_have_count(0)

    # The preview follows the quantity as it is typed, to the cent.
    page.get_by_label("Number of licences").fill("30")
    preview = page.locator("#preview")
    expect(preview.locator('[data-amount="subtotal"]')).to_have_text("5.33 EUR")  # 4 x 5 x 8/30
    expect(preview.locator('[data-amount="credit-used"]')).to_have_count(0)  # no credit held
    expect(preview.locator('[data-amount="vat"]')).to_have_text("1.07 EUR")
    expect(preview.locator('[data-amount="total-now"]')).to_have_text("6.40 EUR")
    expect(preview.locator('[data-amount="new-quantity"]')).to_have_text("30 licences")
    expect(preview.locator('[data-amount="next-renewal"]')).to_have_text("144.00 EUR")
    assert not Invoice.objects.exists()  # previewing changes nothing

    page.get_by_role("button", name="Update subscription").click()
    invoice = Invoice.objects.get(kind=InvoiceKind.PRORATION)
    expect(page.locator(".message-success")).to_contain_text(
        f"{subscription.public_id} now has 30 licences. Invoice {invoice.number}"
    )
    expect(page.locator("[data-current-quantity]")).to_have_text("30")
    subscription.refresh_from_db()
    subscription.organization.refresh_from_db()
    assert subscription.quantity == subscription.organization.licence_count == 30

    (email,) = mail.outbox
    assert email.to == [subscription.customer.email]
    assert "now has 30 licences" in email.body
    assert f"Invoice {invoice.number}: 6.40 EUR" in email.body

    # The invoice is in the billing history, and its PDF downloads.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Invoices").click()
    listed = page.locator(f'tr[data-invoice="{invoice.number}"]')
    expect(listed).to_contain_text("6.40 EUR")
    expect(listed).to_contain_text("Open")
    with page.expect_download() as download_info:
        listed.get_by_role("link", name=re.compile("^PDF")).click()
    download = download_info.value
    assert download.suggested_filename == f"{invoice.number}.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"

    # "Pay now" leads to the pay page, whose bank transfer instructions quote the number.
    page.goto("/invoices/")
    page.locator(f'tr[data-invoice="{invoice.number}"]').get_by_role(
        "link", name=re.compile("^Pay now")
    ).click()
    payment = page.locator("[data-bank-transfer]")
    expect(payment).to_contain_text("FR76 3000 6000 0112 3456 7890 189")
    expect(payment.locator("[data-transfer-reference]")).to_have_text(invoice.number)


def test_legacy_subscription_is_refused_in_the_browser(page, log_in, transactional_db):
    subscription = SubscriptionFactory(plan=PlanFactory(kind=PlanKind.LEGACY), quantity=1)
    log_in(page, subscription.customer.contact)
    page.goto("/subscriptions/")
    row = page.locator(f'tr[data-subscription="{subscription.public_id}"]')
    expect(row.get_by_role("link", name="Edit Subscription")).to_have_count(0)
    row.get_by_role("link", name="Why can’t I edit this?").click()
    expect(page.get_by_role("alert")).to_contain_text("not yet migrated to the Core plan")
    expect(page.get_by_label("Number of licences")).to_have_count(0)
    subscription.refresh_from_db()
    assert subscription.quantity == 1
    assert not Invoice.objects.exists() and mail.outbox == []


def test_edit_subscription_without_javascript(
    _browser, live_server, log_in, core_subscription, on_november_23rd
):
    subscription = core_subscription
    period_invoice_paid(subscription)  # a decrease gives back only what was paid
    context = _browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(10_000)  # milliseconds
    try:
        page = context.new_page()
        log_in(context, subscription.customer.contact)
        page.goto(f"/subscriptions/{subscription.public_id}/edit/")
        page.get_by_label("Number of licences").fill("20")
        page.get_by_role("button", name="Preview").click()
        # The page came back from the server with the preview: a monthly decrease.
        expect(page.locator('[data-amount="credit-gained"]')).to_have_text("5.33 EUR")
        expect(page.locator('[data-amount="next-renewal"]')).to_have_text("96.00 EUR")
        page.get_by_role("button", name="Update subscription").click()
        expect(page.locator(".message-success")).to_contain_text(
            "now has 20 licences. 5.33 EUR was added to your credit."
        )
        expect(page.locator("[data-current-quantity]")).to_have_text("20")
    finally:
        context.close()
    subscription.customer.refresh_from_db()
    assert str(subscription.customer.credit_balance) == "5.33"
    # The last e-mail: the setup's paid invoice sent a payment e-mail first.
    assert "Credit added to your account: 5.33 EUR" in mail.outbox[-1].body
