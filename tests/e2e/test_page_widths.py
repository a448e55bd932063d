"""Every portal page in a real browser, on a phone (390 x 844) and on a laptop (1280 px).

On the phone no page scrolls sideways (`document.documentElement.scrollWidth <= 390`) and
the actions of the subscriptions and invoices lists are on screen; on the laptop every
page loads. The customer is the demo's Acme SAS (`seed_demo`): Core monthly and yearly
and legacy subscriptions, organizations with devices in each mode, paid, open and overdue
invoices, plus a paused and a cancelled subscription with long names.

Self-checking: VISITS must name every URL of the `portal` namespace. A new portal page
fails `test_every_portal_url_is_visited` until it gets a row here.
"""

from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from billing.models import Customer, InvoiceStatus, Plan
from billing.services.credit import credit_grant_by_staff
from billing.services.credit_notes import credit_note_issue
from billing.services.subscriptions import subscription_cancel, subscription_pause
from tests.e2e.conftest import ask_for_code, signup_token_from_mail
from tests.factories import SubscriptionFactory
from tests.portal.test_access_scoping import portal_url_patterns

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}
LONG_NAME = "Établissements Acme Logistique Internationale du Grand Nord-Est"
SIGNUP_EMAIL = "newcomer@grand-nord-est.example"


class Visit:
    """One browser tab going through the portal; `check()` after each page shown."""

    def __init__(self, page: Page, customer: Customer, log_in: Callable):
        self.page = page
        self.customer = customer
        self.log_in = log_in
        self.checked: list[str] = []

    def goto(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.ok, f"{path}: {response and response.status}"
        self.check()

    def check(self) -> None:
        page = self.page
        where = page.url
        expect(page.locator("body")).not_to_be_empty()
        width = page.viewport_size["width"]
        if width <= PHONE["width"]:
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{where} is {scroll} px wide on a {width} px screen"
            for action in page.locator("table.stack a, table.stack button").all():
                box = action.bounding_box()
                assert box is not None and box["x"] >= 0, f"{where}: {action} is hidden"
                assert box["x"] + box["width"] <= width, f"{where}: {action} is off screen"
        self.checked.append(where)


def _login(v: Visit) -> None:
    v.goto("/login/")


def _login_password(v: Visit) -> None:
    v.goto("/login/password/")


def _login_code(v: Visit) -> None:
    ask_for_code(v.page, v.customer.email)
    v.check()


def _login_code_resend(v: Visit) -> None:
    v.page.get_by_role("button", name="send me a new code").click()
    v.page.get_by_role("heading", name="Enter your code").wait_for()
    v.check()


def _signup(v: Visit) -> None:
    v.goto("/signup/")


def _signup_sent(v: Visit) -> None:
    v.page.get_by_label("Work e-mail address").fill(SIGNUP_EMAIL)
    v.page.get_by_label("Company name").fill(LONG_NAME)
    v.page.get_by_label("Country").select_option("BE")
    v.page.get_by_role("button", name="Send me the link").click()
    v.page.get_by_role("heading", name="Check your inbox").wait_for()
    v.check()


def _signup_resend(v: Visit) -> None:
    v.page.get_by_role("button", name="send me a new link").click()
    expect(v.page.get_by_text("a new link is on its way")).to_be_visible()
    v.check()


def _signup_confirm(v: Visit) -> None:
    v.goto("/signup/confirm/?token=not-a-token")
    expect(v.page.get_by_role("heading", name="This link no longer works")).to_be_visible()
    v.goto(f"/signup/confirm/?token={signup_token_from_mail(SIGNUP_EMAIL)}")
    v.page.get_by_role("button", name="Open my account").click()


def _signup_welcome(v: Visit) -> None:
    v.page.get_by_role("heading", name=f"Welcome, {LONG_NAME}").wait_for()
    v.check()
    v.page.get_by_role("button", name="Log out").click()


def _contact(v: Visit) -> None:
    v.goto("/contact/")
    v.page.get_by_label("Your name").fill("Jeanne Martin")
    v.page.get_by_label("Company").fill(LONG_NAME)
    v.page.get_by_label("E-mail address").fill("jeanne@bigcorp.example")
    v.page.get_by_label("Message").fill("A yearly contract for 500 licences, please.")
    v.page.get_by_label("I want a contract and to pay by bank transfer").check()
    v.page.get_by_role("button", name="Send").click()
    expect(v.page.get_by_text("your message reached our sales team")).to_be_visible()
    v.check()


def _home(v: Visit) -> None:
    v.log_in(v.page, v.customer.contact)
    v.goto("/")
    expect(v.page.get_by_role("heading", level=1, name="Subscriptions")).to_be_visible()


def _subscriptions(v: Visit) -> None:
    v.goto("/subscriptions/")
    expect(v.page.get_by_role("link", name="Edit Subscription")).to_have_count(2)


def _subscription_edit(v: Visit) -> None:
    for subscription in v.customer.subscriptions.order_by("public_id"):
        v.goto(f"/subscriptions/{subscription.public_id}/edit/")
    v.goto("/subscriptions/SUB-ACMEPAR2/edit/")
    v.page.get_by_label("Number of licences").fill("30")
    expect(v.page.locator('#preview [data-amount="total-now"]')).to_be_visible()
    v.check()
    v.page.get_by_label("Number of licences").fill("3")  # refused: devices in the field
    expect(v.page.locator("#preview [data-preview-error]")).to_be_visible()
    v.check()


def _subscription_preview(v: Visit) -> None:
    v.goto("/subscriptions/SUB-ACMEPAR2/preview/?quantity=1000")


def _invoices(v: Visit) -> None:
    v.goto("/invoices/")
    expect(v.page.get_by_role("link", name="Pay")).not_to_have_count(0)
    v.goto("/invoices/?status=open")


def _invoice_detail(v: Visit) -> None:
    for invoice in v.customer.invoices.exclude(number=None).order_by("number"):
        v.goto(f"/invoices/{invoice.number}/")
    for note in v.customer.credit_notes.order_by("number"):
        v.goto(f"/invoices/{note.number}/")


def _invoice_pdf(v: Visit) -> None:
    number = v.customer.invoices.exclude(number=None).order_by("number").first().number
    credit_note = v.customer.credit_notes.order_by("number").first().number
    for document in (number, credit_note):
        response = v.page.request.get(f"/invoices/{document}/pdf/")
        assert response.ok and response.headers["content-type"] == "application/pdf"
        assert response.body().startswith(b"%PDF")


def _organization(v: Visit) -> None:
    for subscription in v.customer.subscriptions.exclude(organization=None):
        v.goto(f"/organizations/{subscription.organization.pk}/")


def _open_invoice(v: Visit) -> str:
    invoices = v.customer.invoices.filter(status=InvoiceStatus.OPEN).order_by("number")
    return invoices.first().number


def _invoice_pay(v: Visit) -> None:
    for invoice in v.customer.invoices.filter(status=InvoiceStatus.OPEN).order_by("number"):
        v.goto(f"/invoices/{invoice.number}/pay/")


def _invoice_pay_cancelled(v: Visit) -> None:
    """Pay with a new card, cancel on the hosted page: back on the pay page."""
    v.goto(f"/invoices/{_open_invoice(v)}/pay/")
    v.page.get_by_role("button", name="Pay with a new card").click()
    v.page.wait_for_url("**/sandbox/checkout/**")
    v.check()  # the Checkout stand-in fits too
    v.page.get_by_role("link", name="Cancel").click()
    expect(v.page.get_by_text("Nothing was charged.")).to_be_visible()
    v.check()


def _invoice_pay_card_return(v: Visit) -> None:
    number = _open_invoice(v)
    v.goto(f"/invoices/{number}/pay/")
    v.page.get_by_role("button", name="Pay with a new card").click()
    v.page.wait_for_url("**/sandbox/checkout/**")
    _fill_card(v, "4242 4242 4242 4242", "Pay ")
    v.page.wait_for_url(f"**/invoices/{number}/")
    expect(v.page.get_by_text(f"Invoice {number} is paid.")).to_be_visible()
    v.check()


def _invoice_pay_paypal_return(v: Visit) -> None:
    number = _open_invoice(v)
    v.goto(f"/invoices/{number}/pay/")
    v.page.get_by_role("button", name="Pay with PayPal").click()
    v.page.wait_for_url("**/sandbox/paypal/**")
    v.check()
    v.page.get_by_role("button", name="Pay with PayPal").click()
    v.page.wait_for_url(f"**/invoices/{number}/")
    expect(v.page.get_by_text(f"Invoice {number} is paid.")).to_be_visible()
    v.check()


def _invoice_pay_authenticated(v: Visit) -> None:
    """Back from 3-D Secure with no charge id: the invoice page says so (the 3-D Secure
    round trip itself is in tests/portal/test_payment_pages.py)."""
    number = _open_invoice(v)
    v.goto(f"/invoices/{number}/pay/authenticated/")
    expect(v.page.get_by_text("This payment was not found.")).to_be_visible()


def _fill_card(v: Visit, number: str, button: str) -> None:
    v.page.get_by_label("Card number").fill(number)
    v.page.get_by_label("Expiry (MM/YY)").fill("12/34")
    v.page.get_by_label("CVC").fill("123")
    v.page.get_by_role("button", name=button).click()


def _payment_method(v: Visit) -> None:
    v.goto("/payment-method/")


def _payment_method_add(v: Visit) -> None:
    v.goto("/payment-method/")
    v.page.get_by_role("button", name="Add a SEPA direct debit").click()
    v.page.wait_for_url("**/sandbox/checkout/**")
    v.check()


def _payment_method_cancelled(v: Visit) -> None:
    v.page.get_by_role("link", name="Cancel").click()
    expect(v.page.get_by_text("Nothing was saved.")).to_be_visible()
    v.check()


def _payment_method_added(v: Visit) -> None:
    v.page.get_by_role("button", name="Add a card").click()
    v.page.wait_for_url("**/sandbox/checkout/**")
    _fill_card(v, "3782 822463 10005", "Save card")  # refused: the error fits
    expect(v.page.get_by_role("alert")).to_be_visible()
    v.check()
    _fill_card(v, "4242 4242 4242 4242", "Save card")
    expect(v.page.get_by_text("Visa •••• 4242 is saved.")).to_be_visible()
    v.check()


def _payment_method_add_offline(v: Visit) -> None:
    for button in ("Choose PayPal", "Choose bank transfer"):
        v.page.get_by_role("button", name=button).click()
        expect(v.page.get_by_text(" is added.")).to_be_visible()
        v.check()


def _payment_method_default(v: Visit) -> None:
    v.page.locator("tr[data-kind=paypal]").get_by_role("button", name="Set as default").click()
    expect(v.page.get_by_text("PayPal is now your default payment method.")).to_be_visible()
    v.check()


def _payment_method_remove(v: Visit) -> None:
    v.page.locator("tr[data-kind=bank_transfer]").get_by_role("link", name="Remove").click()
    v.check()
    v.page.get_by_role("button", name="Yes, remove Bank transfer").click()
    expect(v.page.get_by_text("Bank transfer is removed.")).to_be_visible()
    v.check()


def _balance(v: Visit) -> None:
    v.goto("/balance/")
    expect(v.page.get_by_role("heading", level=1, name="Account balance")).to_be_visible()


def _balance_top_up(v: Visit) -> None:
    v.page.get_by_label("Amount to add (EUR)").fill("50")
    v.page.get_by_role("button", name="Pay by card").click()
    v.page.get_by_role("heading", name="Pay 50.00 EUR").wait_for()  # the sandbox's Checkout
    v.check()
    v.page.get_by_label("Card number").fill("4242 4242 4242 4242")
    v.page.get_by_label("Expiry (MM/YY)").fill("12/34")
    v.page.get_by_label("CVC").fill("123")
    v.page.get_by_role("button", name="Pay 50.00 EUR").click()


def _balance_top_up_return(v: Visit) -> None:
    expect(v.page.get_by_text("Thank you: 50.00 EUR is on your balance")).to_be_visible()
    v.check()


def _balance_ledger_csv(v: Visit) -> None:
    response = v.page.request.get("/balance/ledger.csv")
    assert response.ok and response.headers["content-type"].startswith("text/csv")
    assert "Top-up" in response.text()


def _balance_auto_top_up(v: Visit) -> None:
    v.goto("/balance/")
    v.page.get_by_label("When my balance covers fewer than (days of spending)").fill("7")
    v.page.get_by_label("Amount (EUR)", exact=True).fill("5")
    v.page.get_by_role("button", name="Save automatic top-up").click()
    expect(v.page.get_by_text("You can top up between")).to_be_visible()
    v.check()


def _credit(v: Visit) -> None:
    v.goto("/credit/")
    expect(v.page.locator("[data-credit-entry]")).not_to_have_count(0)


def _payments(v: Visit) -> None:
    """After the pay-page visits above: the payments made there, with their methods."""
    v.goto("/payments/")
    expect(v.page.locator("tr[data-payment]")).not_to_have_count(0)


def _payment_receipt(v: Visit) -> None:
    payment = v.customer.payments.filter(status="succeeded").order_by("pk").first()
    response = v.page.request.get(f"/payments/{payment.pk}/receipt/")
    assert response.ok and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")


def _instances(v: Visit) -> None:
    v.goto("/instances/")
    v.page.get_by_label("Name").fill(LONG_NAME)
    v.page.get_by_label("Expected CPE devices").fill("250")
    v.page.get_by_label("Daily backup").check()
    v.page.get_by_role("button", name="Create instance").click()


def _instance_enable(v: Visit) -> None:
    expect(v.page.get_by_role("heading", name=f"Enable {LONG_NAME}")).to_be_visible()
    v.check()
    v.page.get_by_role("button", name="Enable and pay").click()
    expect(v.page.locator('[data-enabled="yes"]')).to_have_count(1)
    v.check()  # the list, with an enabled instance and its actions


def _instance_edit(v: Visit) -> None:
    v.page.get_by_role("link", name="Change settings").click()
    v.page.get_by_label("Expected CPE devices").fill("100")
    v.page.get_by_role("button", name="Preview").click()
    expect(v.page.locator('[data-amount="refund"]')).to_be_visible()
    v.check()


def _instance_disable(v: Visit) -> None:
    v.goto("/instances/")
    v.page.get_by_role("link", name="Disable").click()
    expect(v.page.get_by_text("Disabling gives nothing back")).to_be_visible()
    v.check()


def _account(v: Visit) -> None:
    v.goto("/account/")


def _account_password(v: Visit) -> None:
    v.goto("/account/password/")


def _invoices_pay_all(v: Visit) -> None:
    v.goto("/invoices/pay-all/")


def _invoices_pay_all_cancelled(v: Visit) -> None:
    v.goto("/invoices/pay-all/cancelled/")
    expect(v.page.get_by_text("Nothing was charged.")).to_be_visible()


def _invoices_pay_all_returned(v: Visit, path: str) -> None:
    """Back from a gateway with no payment id: the invoices page says so (the round trips
    are in tests/portal/test_pay_all.py and tests/e2e/test_payments.py)."""
    v.goto(f"/invoices/pay-all/{path}/")
    expect(v.page.get_by_text("This payment was not found.")).to_be_visible()


def _logout(v: Visit) -> None:
    v.page.get_by_role("button", name="Log out").click()
    expect(v.page.get_by_role("heading", name="Log in to your billing portal")).to_be_visible()
    v.check()


# In this order: the pages of a visitor, then of the logged-in customer, then logging out.
VISITS: dict[str, Callable[[Visit], None]] = {
    "portal:login": _login,
    "portal:login_password": _login_password,
    "portal:login_code": _login_code,
    "portal:login_code_resend": _login_code_resend,
    "portal:signup": _signup,
    "portal:signup_sent": _signup_sent,
    "portal:signup_resend": _signup_resend,
    "portal:signup_confirm": _signup_confirm,
    "portal:signup_welcome": _signup_welcome,
    "portal:contact": _contact,
    "portal:home": _home,
    "portal:subscriptions": _subscriptions,
    "portal:subscription_edit": _subscription_edit,
    "portal:subscription_preview": _subscription_preview,
    "portal:invoices": _invoices,
    "portal:invoice_detail": _invoice_detail,
    "portal:invoice_pdf": _invoice_pdf,
    "portal:organization": _organization,
    "portal:invoices_pay_all": _invoices_pay_all,
    "portal:invoices_pay_all_cancelled": _invoices_pay_all_cancelled,
    "portal:invoices_pay_all_card_return": lambda v: _invoices_pay_all_returned(v, "card"),
    "portal:invoices_pay_all_authenticated": lambda v: _invoices_pay_all_returned(
        v, "authenticated"
    ),
    "portal:invoice_pay": _invoice_pay,
    "portal:invoice_pay_cancelled": _invoice_pay_cancelled,
    "portal:invoice_pay_card_return": _invoice_pay_card_return,
    "portal:invoice_pay_paypal_return": _invoice_pay_paypal_return,
    "portal:invoice_pay_authenticated": _invoice_pay_authenticated,
    "portal:payment_method": _payment_method,
    "portal:payment_method_add": _payment_method_add,
    "portal:payment_method_cancelled": _payment_method_cancelled,
    "portal:payment_method_added": _payment_method_added,
    "portal:payment_method_add_offline": _payment_method_add_offline,
    "portal:payment_method_default": _payment_method_default,
    "portal:payment_method_remove": _payment_method_remove,
    "portal:balance": _balance,
    "portal:balance_top_up": _balance_top_up,
    "portal:balance_top_up_return": _balance_top_up_return,
    "portal:balance_ledger_csv": _balance_ledger_csv,
    "portal:balance_auto_top_up": _balance_auto_top_up,
    "portal:credit": _credit,
    "portal:payments": _payments,
    "portal:payment_receipt": _payment_receipt,
    "portal:instances": _instances,
    "portal:instance_enable": _instance_enable,
    "portal:instance_edit": _instance_edit,
    "portal:instance_disable": _instance_disable,
    "portal:account": _account,
    "portal:account_password": _account_password,
    "portal:logout": _logout,
}


# files, not pages
DOWNLOADS = {"portal:invoice_pdf", "portal:balance_ledger_csv", "portal:payment_receipt"}


def test_every_portal_url_is_visited():
    patterns = set(portal_url_patterns())
    missing = sorted(patterns - set(VISITS))
    assert not missing, f"add to VISITS of tests/e2e/test_page_widths.py: {missing}"
    assert not set(VISITS) - patterns, "VISITS names URLs that portal.urls no longer has"


@pytest.fixture
def demo_customer(transactional_db, demo_settings) -> Customer:
    call_command("seed_demo", stdout=StringIO())
    acme = Customer.objects.get(contact__email="billing@acme.example")
    plan = Plan.objects.get(code="core-monthly-eur")
    paused = SubscriptionFactory(customer=acme, plan=plan, organization_name=LONG_NAME)
    subscription_pause(subscription=paused, actor="test")
    cancelled = SubscriptionFactory(customer=acme, plan=plan, organization_name=f"{LONG_NAME} 2")
    subscription_cancel(
        subscription=cancelled, actor="test", confirm_name=cancelled.organization_name
    )
    # Credit notes and credit: one note on an open invoice, one on a paid one (credited).
    for status in (InvoiceStatus.OPEN, InvoiceStatus.PAID):
        invoice = acme.invoices.filter(status=status).order_by("number").first()
        credit_note_issue(invoice=invoice, amount="1.00", reason=f"{LONG_NAME}", actor="test")
    credit_grant_by_staff(customer=acme, amount="2.50", reason=LONG_NAME, actor="test")
    return acme


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390px", "1280px"])
def test_every_portal_page_fits_the_screen(
    page, demo_customer, log_in, viewport, settings, live_server
):
    settings.PORTAL_BASE_URL = live_server.url  # the sandbox's hosted pages
    page.set_viewport_size(viewport)
    visit = Visit(page, demo_customer, log_in)
    for name, step in VISITS.items():
        before = len(visit.checked)
        step(visit)
        if name not in DOWNLOADS:
            assert len(visit.checked) > before, f"{name}: no page was checked"
    assert page.request.get("/favicon.ico").headers["content-type"].startswith("image/svg")
