"""The customer narrows the invoice history; staff create a customer and its subscription
in the admin, and a duplicate billing contact is refused without creating anything."""

from datetime import date
from decimal import Decimal

from playwright.sync_api import expect

from accounts.models import User
from billing.models import Customer, Subscription
from billing.services.invoices import (
    invoice_add_line,
    invoice_create_draft,
    invoice_finalize,
    invoice_mark_paid,
)
from fleet.models import Organization
from tests.factories import CustomerFactory, PlanFactory


def _invoice(customer, issued_on, paid):
    draft = invoice_create_draft(customer=customer)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=draft, actor=None, issued_on=issued_on)
    return invoice_mark_paid(invoice=invoice, actor=None) if paid else invoice


def test_customer_filters_the_invoice_history(page, log_in):
    customer = CustomerFactory()
    paid_2025 = _invoice(customer, date(2025, 12, 1), paid=True)
    paid_2026 = _invoice(customer, date(2026, 10, 1), paid=True)
    open_2026 = _invoice(customer, date(2026, 11, 1), paid=False)
    log_in(page, customer.contact)

    page.goto("/invoices/")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(3)
    page.get_by_label("Status").select_option(label="Paid")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_text(open_2026.number)).to_have_count(0)
    page.get_by_label("Year").select_option("2026")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(paid_2026.number)
    expect(page.get_by_text(paid_2025.number)).to_have_count(0)


def test_staff_create_a_customer_then_its_subscription(staff_page):
    plan = PlanFactory()
    staff_page.goto("/admin/billing/customer/add/")
    staff_page.get_by_label("Company name").fill("Initech")
    staff_page.get_by_label("Billing contact e-mail").fill("billing@initech.example")
    staff_page.get_by_label("Currency").select_option("EUR")
    staff_page.get_by_label("Country").select_option("FR")
    staff_page.fill("#id_address_line1", "1 rue de la Paix")
    staff_page.get_by_label("Postal code").fill("75002")
    staff_page.get_by_label("City").fill("Paris")
    staff_page.get_by_role("button", name="Save", exact=True).click()
    expect(staff_page.locator(".messagelist")).to_contain_text("Initech")
    customer = Customer.objects.get(name="Initech")
    assert customer.contact.email == "billing@initech.example"

    staff_page.goto("/admin/billing/subscription/add/")
    staff_page.get_by_label("Customer").select_option(str(customer.pk))
    staff_page.get_by_label("Organization name").fill("Initech HQ")
    staff_page.get_by_label("Plan").select_option(str(plan.pk))
    staff_page.get_by_label("Quantity").fill("12")
    staff_page.get_by_label("Start").fill("2026-01-31")
    staff_page.get_by_role("button", name="Save", exact=True).click()
    expect(staff_page.locator(".messagelist")).to_be_visible()
    subscription = Subscription.objects.get(customer=customer)
    assert (subscription.quantity, subscription.current_period_end) == (12, date(2026, 2, 28))
    assert subscription.organization.licence_count == 12


def test_staff_duplicate_billing_contact_is_refused_and_nothing_is_created(staff_page):
    CustomerFactory(contact=User.objects.create_user(email="billing@initech.example"))
    users, customers, organizations = (
        User.objects.count(),
        Customer.objects.count(),
        Organization.objects.count(),
    )
    staff_page.goto("/admin/billing/customer/add/")
    staff_page.get_by_label("Company name").fill("Initech again")
    staff_page.get_by_label("Billing contact e-mail").fill("BILLING@initech.example")
    staff_page.get_by_label("Currency").select_option("EUR")
    staff_page.get_by_label("Country").select_option("FR")
    staff_page.fill("#id_address_line1", "1 rue de la Paix")
    staff_page.get_by_label("Postal code").fill("75002")
    staff_page.get_by_label("City").fill("Paris")
    staff_page.get_by_role("button", name="Save", exact=True).click()
    expect(staff_page.locator(".errorlist")).to_contain_text("already used by another account")
    assert (User.objects.count(), Customer.objects.count(), Organization.objects.count()) == (
        users,
        customers,
        organizations,
    )
