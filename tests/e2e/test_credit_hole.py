"""The "credit hole" as a customer sees it, in a real browser: money never paid never
becomes credit.

A Core monthly subscription of 30 licences whose November period is paid. On 23 November
(8 of 30 days left) the customer goes to 1030 licences: an open proration invoice of
1,000 x 4.00 x 8/30 = 1,066.67 + 213.33 VAT = 1,280.00 EUR. Then back to 30: the preview
says the 1,066.67 given back reduces that open invoice by 1,280.00 (VAT included) and
makes no credit. Confirmed: a credit note voids the invoice, the credit stays 0.00.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from billing.models import CreditNote, Invoice, InvoiceKind, InvoiceStatus
from tests.e2e.test_edit_subscription import NOW
from tests.factories import SubscriptionFactory, period_invoice_paid


@pytest.fixture
def on_november_23rd():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def paid_core_subscription(transactional_db):
    subscription = SubscriptionFactory(quantity=30, organization_name="Acme Paris")
    period_invoice_paid(subscription)  # 30 x 4.00 + 20% VAT = 144.00 EUR, paid
    return subscription


def _set_quantity(page, quantity: int) -> None:
    page.get_by_label("Number of licences").fill(str(quantity))
    expect(page.locator(f'#preview [data-preview-quantity="{quantity}"]')).to_be_visible()


def test_credit_hole_seen_by_the_customer(
    page,
    log_in,
    paid_core_subscription,
    on_november_23rd,
):
    subscription = paid_core_subscription
    log_in(page, subscription.customer.contact)
    page.goto(f"/subscriptions/{subscription.public_id}/edit/")
    page.wait_for_load_state()  # the preview script is deferred

    # 30 -> 1030: an open proration invoice.
    _set_quantity(page, 1030)
    expect(page.locator('#preview [data-amount="total-now"]')).to_have_text("1,280.00 EUR")
    page.get_by_role("button", name="Update subscription").click()
    expect(page.locator("[data-current-quantity]")).to_have_text("1030")
    proration = Invoice.objects.get(kind=InvoiceKind.PRORATION)
    assert proration.status == InvoiceStatus.OPEN

    # The overview: 1,280.00 EUR to pay by its due date, or Acme Paris becomes read-only.
    page.goto("/subscriptions/")
    overview = page.locator("[data-billing-overview]")
    expect(overview.locator('[data-amount="amount-due"]')).to_have_text("1,280.00 EUR")
    deadline = overview.locator(f'[data-deadline="{proration.number}"]')
    read_only_on = proration.due_on + timedelta(days=1)
    expect(deadline).to_contain_text(f"Acme Paris becomes read-only on {read_only_on:%-d %b %Y}")

    # 1030 -> 30: the preview lowers the open invoice and makes no credit.
    page.goto(f"/subscriptions/{subscription.public_id}/edit/")
    page.wait_for_load_state()
    _set_quantity(page, 30)
    preview = page.locator("#preview")
    expect(preview.locator(f'[data-reduction="{proration.number}"]')).to_contain_text(
        f"Reduces open invoice {proration.number} by"
    )
    expect(preview.locator(f'[data-amount="reduces-{proration.number}"]')).to_have_text(
        "1,280.00 EUR"
    )
    expect(preview.locator('[data-amount="credit-gained"]')).to_have_count(0)
    expect(preview).to_contain_text("money not yet paid is never turned into credit")
    page.get_by_role("button", name="Update subscription").click()
    note = CreditNote.objects.get()
    expect(page.locator(".message-success")).to_contain_text(
        f"Credit note {note.number} lowers invoice {proration.number} by 1,280.00 EUR."
    )
    expect(page.locator(".message-success")).not_to_contain_text("added to your credit")

    # The history: the credit note, and the proration invoice void.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Invoices").click()
    note_row = page.locator(f'tr[data-credit-note="{note.number}"]')
    expect(note_row).to_contain_text(proration.number)
    expect(note_row).to_contain_text("1,280.00 EUR")
    expect(page.locator(f'tr[data-invoice="{proration.number}"]')).to_contain_text("Void")
    expect(page.locator('[data-amount="credit"]')).to_have_text("0.00 EUR")

    # The credit note's page and its PDF.
    note_row.get_by_role("link", name=note.number, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Credit note {note.number}")
    expect(page.locator('[data-amount="applied"]')).to_have_text("1,280.00 EUR")
    expect(page.locator('[data-amount="credited"]')).to_have_text("0.00 EUR")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"{note.number}.pdf"
    with open(download.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"

    # The void invoice owes nothing; the credit page shows 0.00.
    page.locator("[data-corrects]").click()
    expect(page.locator('[data-amount="amount-due"]')).to_have_text("0.00 EUR")
    expect(page.locator("#payment")).to_contain_text("void")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Credit").click()
    expect(page.locator('[data-amount="credit"]')).to_have_text("0.00 EUR")
    expect(page.locator("[data-credit-entry]")).to_have_count(0)

    # The overview: nothing due, nothing credited, the renewal back to 30 licences.
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile("^Subscriptions")
    ).click()
    overview = page.locator("[data-billing-overview]")
    expect(overview.locator('[data-amount="amount-due"]')).to_have_text("0.00 EUR")
    expect(overview).to_contain_text("Nothing to pay now.")
    expect(overview.locator('[data-amount="credit"]')).to_have_text("0.00 EUR")
    expect(overview.locator(f'[data-renewal="{subscription.public_id}"]')).to_contain_text(
        "144.00 EUR"  # 30 x 4.00 + 20% VAT
    )
    subscription.customer.refresh_from_db()
    assert subscription.customer.credit_balance == 0
    assert Invoice.objects.get(pk=proration.pk).status == InvoiceStatus.VOID
