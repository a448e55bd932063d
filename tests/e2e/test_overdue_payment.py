"""A read-only organization returns to active after payment: staff reconcile the bank
transfer by invoice number in the admin, and the customer's subscriptions page shows the
organization active again. Two real browser sessions on the live server."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import InvoiceStatus
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.overdue import overdue_mark
from fleet.models import OrganizationMode
from tests.factories import SubscriptionFactory


@pytest.fixture
def customer_page(page, log_in):
    """The test's browser page, logged in as a customer's billing contact."""

    def open_for(user):
        log_in(page, user)
        return page

    return open_for


def test_staff_reconcile_a_bank_transfer_and_the_organization_is_active_again(
    staff_page, customer_page
):
    today = timezone.now().date()
    subscription = SubscriptionFactory(organization_name="Initech HQ")
    sibling = SubscriptionFactory(customer=subscription.customer, organization_name="Initech Lab")
    draft = invoice_create_draft(customer=subscription.customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=draft, actor=None, issued_on=today - timedelta(days=20))
    overdue_mark(today=today)

    customer = customer_page(subscription.customer.contact)
    customer.goto("/subscriptions/")
    row = customer.locator("tr", has_text="Initech HQ")
    assert row.locator("[data-mode]").get_attribute("data-mode") == OrganizationMode.READ_ONLY
    sibling_row = customer.locator("tr", has_text="Initech Lab")
    assert sibling_row.locator("[data-mode]").get_attribute("data-mode") == "active"

    staff_page.goto("/admin/billing/invoice/")
    staff_page.get_by_role("link", name="Reconcile bank transfer").click()
    staff_page.get_by_label("Invoice number (the transfer reference)").fill(invoice.number)
    staff_page.get_by_role("button", name="Find the invoice").click()
    expect(staff_page.get_by_text("48.00").first).to_be_visible()
    staff_page.get_by_role("button", name=f"Mark {invoice.number} paid by bank transfer").click()
    expect(
        staff_page.get_by_text(f"Invoice {invoice.number} is paid by bank transfer")
    ).to_be_visible()

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    customer.reload()
    row = customer.locator("tr", has_text="Initech HQ")
    expect(row.locator("[data-mode]")).to_have_attribute("data-mode", OrganizationMode.ACTIVE)
    assert row.locator("[data-mode]").get_attribute("data-mode") == OrganizationMode.ACTIVE
    assert row.locator("[data-mode]").inner_text() == "Active"
    sibling.organization.refresh_from_db()
    assert sibling.organization.mode == OrganizationMode.ACTIVE
