"""Payments in a real browser with the sandbox gateway (the tests' default): saving a card
on the Checkout stand-in, American Express refused, paying an overdue invoice (its
organization leaves read-only at once), PayPal through the approval stand-in, and a
declined card that leaves the invoice open."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import InvoiceStatus, PaymentMethod
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.overdue import overdue_mark
from fleet.models import OrganizationMode


@pytest.fixture
def shopper(page, log_in, customer, live_server, settings):
    """The customer's billing contact in the browser; the sandbox's pages are on the live
    server."""
    settings.PORTAL_BASE_URL = live_server.url
    log_in(page, customer.contact)
    page.customer = customer
    return page


def open_invoice(customer, *, days_ago=0):
    subscription = customer.subscriptions.get()
    draft = invoice_create_draft(customer=customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    issued_on = timezone.now().date() - timedelta(days=days_ago)
    return invoice_finalize(invoice=draft, actor=None, issued_on=issued_on)


def fill_card(page, number, button):
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name=button).click()


def add_card(page, number):
    page.goto("/payment-method/")
    page.get_by_role("button", name="Add a card").click()
    page.wait_for_url("**/sandbox/checkout/**")
    fill_card(page, number, "Save card")


def test_add_a_visa_card(shopper):
    add_card(shopper, "4242 4242 4242 4242")
    shopper.wait_for_url("**/payment-method/")
    expect(shopper.get_by_role("status")).to_contain_text("Visa •••• 4242 is saved")
    row = shopper.locator("tr[data-kind=card]")
    expect(row).to_contain_text("Visa •••• 4242")
    expect(row).to_contain_text("12/2034")
    expect(row.locator("[data-default]")).to_have_text("Default")


def test_american_express_is_refused_and_nothing_is_saved(shopper):
    add_card(shopper, "3782 822463 10005")
    expect(shopper.get_by_role("alert")).to_contain_text("American Express cards are not accepted")
    shopper.get_by_role("link", name="Cancel").click()
    shopper.wait_for_url("**/payment-method/")
    expect(shopper.get_by_text("Nothing was saved.")).to_be_visible()
    expect(shopper.locator("tr[data-method]")).to_have_count(0)
    assert PaymentMethod.objects.count() == 0


def test_pay_an_overdue_invoice_and_the_organization_is_active_again(shopper):
    invoice = open_invoice(shopper.customer, days_ago=40)
    overdue_mark(today=timezone.now().date())
    organization = shopper.customer.subscriptions.get().organization
    shopper.goto(f"/organizations/{organization.pk}/")
    expect(shopper.get_by_role("heading", name="Read-only: an invoice is overdue")).to_be_visible()

    shopper.goto("/subscriptions/")
    shopper.locator(f"[data-overdue='{invoice.number}']").get_by_role(
        "link", name="Pay now"
    ).click()
    expect(shopper.locator('[data-amount="pay"]')).to_have_text("48.00 EUR")
    shopper.get_by_role("button", name="Pay with a new card").click()
    shopper.wait_for_url("**/sandbox/checkout/**")
    fill_card(shopper, "4242 4242 4242 4242", "Pay 48.00 EUR")
    shopper.wait_for_url(f"**/invoices/{invoice.number}/")
    expect(shopper.get_by_role("status")).to_contain_text(f"Invoice {invoice.number} is paid.")
    expect(shopper.locator(".facts .badge-paid")).to_have_text("Paid")

    shopper.goto(f"/organizations/{organization.pk}/")
    expect(shopper.locator("[data-mode]").first).to_have_attribute("data-mode", "active")
    expect(shopper.get_by_text("Read-only: an invoice is overdue")).to_have_count(0)
    organization.refresh_from_db()
    assert organization.mode == OrganizationMode.ACTIVE


def test_pay_with_the_saved_card_through_3d_secure(shopper):
    add_card(shopper, "4000 0027 6000 3184")  # asks for 3-D Secure when charged
    shopper.wait_for_url("**/payment-method/")
    invoice = open_invoice(shopper.customer)
    shopper.goto(f"/invoices/{invoice.number}/")
    shopper.get_by_role("link", name="Pay now").click()
    shopper.get_by_role("button", name="Pay 48.00 EUR with Visa •••• 3184").click()
    shopper.wait_for_url("**/sandbox/**")
    shopper.get_by_role("button", name="Complete").click()
    shopper.wait_for_url(f"**/invoices/{invoice.number}/")
    expect(shopper.get_by_role("status")).to_contain_text(f"Invoice {invoice.number} is paid.")
    expect(shopper.locator(".facts .badge-paid")).to_have_text("Paid")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.amount_due.amount == 0


def test_pay_with_paypal(shopper):
    invoice = open_invoice(shopper.customer)
    shopper.goto("/invoices/")
    shopper.locator(f"tr[data-invoice='{invoice.number}']").get_by_role(
        "link", name="Pay now"
    ).click()
    shopper.get_by_role("button", name="Pay with PayPal").click()
    shopper.wait_for_url("**/sandbox/paypal/**")
    expect(shopper.get_by_text(invoice.number).first).to_be_visible()
    shopper.get_by_role("button", name="Pay with PayPal").click()
    shopper.wait_for_url(f"**/invoices/{invoice.number}/")
    expect(shopper.get_by_role("status")).to_contain_text(f"Invoice {invoice.number} is paid.")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_a_declined_card_shows_the_decline_and_the_invoice_stays_open(shopper):
    add_card(shopper, "4000 0000 0000 0002")  # saved; declined when charged
    shopper.wait_for_url("**/payment-method/")
    invoice = open_invoice(shopper.customer)
    shopper.goto(f"/invoices/{invoice.number}/")
    shopper.get_by_role("link", name="Pay now").click()
    shopper.get_by_role("button", name="Pay 48.00 EUR with Visa •••• 0002").click()
    shopper.wait_for_url(f"**/invoices/{invoice.number}/pay/")
    expect(shopper.get_by_role("status")).to_contain_text(
        "Your card was declined. Try another card or payment method. Nothing was charged. "
        "The invoice is still open."
    )
    expect(shopper.locator('[data-amount="pay"]')).to_have_text("48.00 EUR")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN


def test_without_gateway_keys_only_bank_transfer_is_offered(shopper, sandbox_off):
    """Production without Stripe or PayPal keys, as a customer sees it in the browser:
    no card, SEPA or PayPal anywhere, bank transfer details on the pay page, and the
    balance page says top-ups by card are not available."""
    invoice = open_invoice(shopper.customer)
    shopper.goto("/payment-method/")
    expect(shopper.locator("[data-cards-unavailable]")).to_be_visible()
    for name in ("Add a card", "Add a SEPA direct debit", "Choose PayPal"):
        expect(shopper.get_by_role("button", name=name)).to_have_count(0)
    expect(shopper.get_by_role("button", name="Choose bank transfer")).to_be_visible()
    shopper.goto(f"/invoices/{invoice.number}/pay/")
    expect(shopper.get_by_role("button", name="Pay with a new card")).to_have_count(0)
    expect(shopper.get_by_role("button", name="Pay with PayPal")).to_have_count(0)
    expect(shopper.locator("[data-transfer-reference]")).to_have_text(invoice.number)
    expect(shopper.locator("[data-bank-transfer]")).to_contain_text("48.00 EUR")
    shopper.goto("/balance/")
    expect(shopper.locator("[data-top-up-unavailable]")).to_contain_text(
        "Topping up by card is not available at the moment"
    )
    expect(shopper.get_by_role("button", name="Pay by card")).to_have_count(0)
    response = shopper.goto("/sandbox/checkout/sb_cs_anything/")
    assert response.status == 404
    expect(shopper.get_by_role("heading", name="Not Found")).to_be_visible()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_payments_page_shows_a_refund_and_a_pending_sepa_debit(shopper, width):
    from billing.models import Refund
    from billing.services.payments import payment_charge_method
    from billing.services.refunds import payment_refund
    from tests.portal.test_payments_page import saved

    customer = shopper.customer
    visa = saved(customer, card="4242 4242 4242 4242")
    paid = payment_charge_method(
        invoice=open_invoice(customer), method=visa, actor=None, off_session=False
    )
    payment_refund(
        payment=paid, amount="20.00", destination=Refund.TO_METHOD, reason="Goodwill", actor="x"
    )
    sepa = saved(customer, iban="DE89 3704 0044 0532 0130 00")
    pending_invoice = open_invoice(customer)
    payment_charge_method(invoice=pending_invoice, method=sepa, actor=None, off_session=True)

    shopper.set_viewport_size({"width": width, "height": 900})
    shopper.goto("/")
    shopper.get_by_role("link", name="Payments", exact=True).click()
    expect(shopper.get_by_role("heading", name="Payments")).to_be_visible()
    paid_row = shopper.locator(f"tr[data-payment='{paid.pk}']")
    expect(paid_row).to_contain_text("Visa •••• 4242")
    expect(paid_row.locator("[data-refund]")).to_have_text("Refunded 20.00 EUR to Visa •••• 4242")
    expect(shopper.locator("tr[data-status=pending]")).to_contain_text("Pending")
    assert shopper.evaluate("document.documentElement.scrollWidth") <= width
    with shopper.expect_download() as download:
        paid_row.get_by_role("link", name="Receipt").click()
    assert download.value.suggested_filename == f"receipt-R-{paid.pk:06d}.pdf"
    shopper.goto("/invoices/")
    expect(shopper.locator(f"tr[data-invoice='{pending_invoice.number}']")).to_contain_text(
        "Payment on its way"
    )


def test_pay_all_open_invoices_at_once_with_the_saved_card(shopper):
    """From the billing overview's amount due: one payment of the sum pays both invoices;
    the Payments page shows it once, with the invoices it paid."""
    from billing.models import Payment

    add_card(shopper, "4242 4242 4242 4242")
    shopper.wait_for_url("**/payment-method/")
    first, second = open_invoice(shopper.customer), open_invoice(shopper.customer)
    shopper.goto("/subscriptions/")
    shopper.get_by_role("link", name="Pay all 2 open invoices at once: 96.00 EUR").click()
    shopper.wait_for_url("**/invoices/pay-all/")
    expect(shopper.locator('[data-amount="pay-all"]')).to_have_text("96.00 EUR")
    expect(shopper.locator("[data-transfer-reference]")).to_have_text(
        f"{first.number} {second.number}"
    )
    expect(shopper.locator("[data-pay-all-paypal]")).to_contain_text(
        "PayPal pays one invoice at a time"
    )
    shopper.get_by_role("button", name="Pay 96.00 EUR with Visa •••• 4242 (default)").click()
    shopper.wait_for_url("**/invoices/")
    expect(shopper.get_by_role("status")).to_contain_text(
        f"Thank you: 96.00 EUR received. Invoices {first.number}, {second.number} are paid."
    )
    expect(shopper.locator("[data-pay-all-link]")).to_have_count(0)
    for invoice in (first, second):
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
    payment = Payment.objects.get()
    shopper.goto("/payments/")
    row = shopper.locator(f"tr[data-payment='{payment.pk}']")
    expect(row.locator("[data-allocation]")).to_have_count(2)
    expect(row.locator('[data-amount="payment"]')).to_contain_text("96.00 EUR")
