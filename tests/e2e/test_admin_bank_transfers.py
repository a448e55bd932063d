"""Issue 16, item 5 in Chromium: staff reconcile two partial bank transfers on one overdue
invoice, each with its bank reference; the invoice is paid after the second and its
organization is active again."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from djmoney.money import Money
from playwright.sync_api import expect

from billing.models import InvoiceStatus, Payment
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.overdue import overdue_mark
from fleet.models import Organization, OrganizationMode
from tests.factories import SubscriptionFactory


def _reconcile(staff_page, invoice, amount, reference):
    staff_page.goto("/admin/billing/invoice/")
    staff_page.get_by_role("link", name="Reconcile bank transfer").click()
    staff_page.get_by_label("Invoice number (the transfer reference)").fill(invoice.number)
    staff_page.get_by_role("button", name="Find the invoice").click()
    staff_page.get_by_label(f"Amount received ({invoice.currency})").fill(amount)
    staff_page.get_by_label("Bank reference of this transfer (optional)").fill(reference)
    staff_page.get_by_role("button", name=f"Mark {invoice.number} paid by bank transfer").click()


def test_staff_reconcile_two_partial_transfers_and_the_invoice_is_paid(staff_page):
    today = timezone.now().date()
    subscription = SubscriptionFactory(organization_name="Initech HQ")
    draft = invoice_create_draft(customer=subscription.customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=draft, actor=None, issued_on=today - timedelta(days=20))
    overdue_mark(today=today)
    assert Organization.objects.get().mode == OrganizationMode.READ_ONLY

    _reconcile(staff_page, invoice, "30.00", "VIR-2026-0001")
    expect(staff_page.locator(".messagelist")).to_contain_text(
        f"30.00 EUR received on invoice {invoice.number} by bank transfer; "
    )
    expect(staff_page.locator(".messagelist")).to_contain_text("18.00")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due) == (InvoiceStatus.OPEN, Money("18.00", "EUR"))

    _reconcile(staff_page, invoice, "18.00", "VIR-2026-0002")
    expect(staff_page.locator(".messagelist")).to_contain_text(
        f"Invoice {invoice.number} is paid by bank transfer (18.00 EUR)."
    )

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert Organization.objects.get().mode == OrganizationMode.ACTIVE
    assert sorted(Payment.objects.values_list("gateway_ref", "amount")) == [
        ("VIR-2026-0001", Decimal("30.00")),
        ("VIR-2026-0002", Decimal("18.00")),
    ]
