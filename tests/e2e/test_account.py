"""Account Information in Chromium: edit the company details, a refused VAT number, and
staff changing the billing contact in the admin."""

from django.core import mail
from playwright.sync_api import expect

from audit.models import AuditEntry
from billing.models import Customer
from tests.e2e.conftest import login_by_code


def test_customer_edits_the_account_information(page, customer):
    login_by_code(page, customer.email)
    page.get_by_role("link", name="Account Information").click()
    assert page.get_by_label("Company name").input_value() == "Acme SAS"
    assert page.locator('[data-field="currency"]').inner_text() == "EUR"
    assert page.locator('[data-field="contact"]').inner_text() == "billing@acme.example"
    expect(page.get_by_text("write to billing@caj.example from this address")).to_be_visible()

    page.get_by_label("Company name").fill("Acme Group SAS")
    page.get_by_label("VAT number").fill("FR12345678901")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("FR12345678901 is not a valid EU VAT number.")).to_be_visible()
    customer.refresh_from_db()
    assert (customer.name, customer.vat_number) == ("Acme SAS", "")
    assert not AuditEntry.objects.filter(action="customer.update_account").exists()

    page.get_by_label("VAT number").fill("FR40303265045")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your account information is saved.")).to_be_visible()
    # The VAT number waits for staff to verify it (test_admin_staff_actions.py).
    expect(page.get_by_text("Pending verification: country France")).to_be_visible()
    customer.refresh_from_db()
    assert (customer.name, customer.vat_number) == ("Acme Group SAS", "")
    assert customer.pending_vat_number == "FR40303265045"
    assert AuditEntry.objects.filter(action="customer.update_account").count() == 1
    expect(page.get_by_text("Acme Group SAS").first).to_be_visible()  # the header too


def test_staff_change_the_billing_contact_and_the_old_session_ends(page, customer, staff_page):
    login_by_code(page, customer.email)

    staff_page.goto(f"/admin/billing/customer/{customer.pk}/change/")
    staff_page.get_by_role("link", name="Change billing contact…").click()
    staff_page.get_by_label("New billing contact e-mail").fill("new.billing@acme.example")
    staff_page.get_by_role("button", name="Review the change").click()
    expect(staff_page.get_by_text("Please confirm")).to_be_visible()
    staff_page.get_by_role("button", name="Yes, change the billing contact").click()
    expect(staff_page.get_by_text("is now new.billing@acme.example")).to_be_visible()

    assert Customer.objects.get(pk=customer.pk).contact.email == "new.billing@acme.example"
    # The previous contact's browser is logged out at its next click.
    page.get_by_role("link", name="Invoices").click()
    assert "/login/" in page.url
    sent = len(mail.outbox)
    page.get_by_label("E-mail address").fill("billing@acme.example")
    page.get_by_role("button", name="Send me a code").click()
    expect(page.get_by_text("If this address belongs to a customer")).to_be_visible()
    assert len(mail.outbox) == sent  # the old address gets no code
