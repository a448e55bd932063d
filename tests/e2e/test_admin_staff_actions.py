"""Staff actions in the admin, driven in Chromium as staff do them: from the object's
page, through the confirmation page, checking what changed (and, when refused, what
did not)."""

from decimal import Decimal

import pytest
import requests
from django.core import mail
from django.utils import timezone
from djmoney.money import Money
from playwright.sync_api import expect

from audit.models import AuditEntry
from billing.models import (
    CreditEntry,
    CreditNote,
    Invoice,
    InvoiceKind,
    PlanKind,
    SubscriptionStatus,
)
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from fleet.models import ApiKey, Device, DeviceState, Organization, OrganizationMode
from tests.factories import CustomerFactory, DeviceFactory, PlanFactory, SubscriptionFactory


def _open_subscription(staff_page, subscription):
    staff_page.goto(f"/admin/billing/subscription/{subscription.pk}/change/")
    expect(staff_page.get_by_text(subscription.public_id).first).to_be_visible()


def test_change_quantity_on_the_customer_s_behalf(staff_page):
    # The period starts today: the added licences are billed for the whole period.
    subscription = SubscriptionFactory(quantity=10, current_period_start=timezone.now().date())
    _open_subscription(staff_page, subscription)
    staff_page.get_by_role("link", name="Change quantity").click()
    staff_page.get_by_label("New quantity (licences)").fill("15")
    staff_page.get_by_role("button", name="Preview").click()
    expect(staff_page.get_by_text("24.00").first).to_be_visible()  # 5 x 4.00 + 20% VAT
    staff_page.get_by_role("button", name="Confirm: set 15 licences").click()
    expect(staff_page.locator(".messagelist")).to_contain_text("15")

    subscription.refresh_from_db()
    assert subscription.quantity == 15
    assert subscription.organization.licence_count == 15
    invoice = Invoice.objects.get(kind=InvoiceKind.PRORATION)
    assert invoice.total == Money("24.00", "EUR")
    assert [message.to for message in mail.outbox] == [[subscription.customer.email]]
    entry = AuditEntry.objects.get(action="subscription.change_quantity")
    assert entry.actor == staff_page.staff


def test_pause_then_resume(staff_page):
    subscription = SubscriptionFactory()
    _open_subscription(staff_page, subscription)
    staff_page.get_by_role("link", name="Pause").click()
    staff_page.get_by_role("button", name=f"Yes, pause {subscription.public_id}").click()
    expect(staff_page.locator(".messagelist")).to_contain_text("is paused")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PAUSED
    assert subscription.organization.mode == OrganizationMode.PAUSED
    assert not Invoice.objects.exists()

    staff_page.get_by_role("link", name="Resume").click()
    staff_page.get_by_role(
        "button", name=f"Yes, resume and invoice {subscription.public_id}"
    ).click()
    expect(staff_page.locator(".messagelist")).to_contain_text("active again")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.current_period_start == timezone.now().date()
    assert subscription.organization.mode == OrganizationMode.ACTIVE
    assert Invoice.objects.get().period_start == subscription.current_period_start


def test_cancel_needs_the_organization_s_name_then_erases_it(staff_page):
    subscription = SubscriptionFactory(organization_name="Initech HQ")
    organization = subscription.organization
    organization.name = "Initech HQ"
    organization.save()
    DeviceFactory.create_batch(2, organization=organization)
    draft = invoice_create_draft(customer=subscription.customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    invoice_finalize(invoice=draft, actor=None)

    _open_subscription(staff_page, subscription)
    staff_page.get_by_role("link", name="Cancel subscription").click()
    label = "Type the organization's name to confirm"
    staff_page.get_by_label(label).fill("Initech")
    staff_page.get_by_role(
        "button", name="Cancel the subscription and erase the organization"
    ).click()
    expect(staff_page.locator(".errornote, .errorlist").first).to_be_visible()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert Device.objects.filter(organization=organization).count() == 2

    staff_page.get_by_label(label).fill("Initech HQ")
    staff_page.get_by_role(
        "button", name="Cancel the subscription and erase the organization"
    ).click()
    expect(staff_page.locator(".messagelist")).to_contain_text("cancelled")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELLED
    assert subscription.organization is None
    assert not Organization.objects.filter(pk=organization.pk).exists()
    assert not Device.objects.exists()
    assert Invoice.objects.filter(subscription=subscription).count() == 1  # kept


def test_migrate_a_legacy_subscription_to_core(staff_page):
    legacy = PlanFactory(kind=PlanKind.LEGACY, unit_price=Money("5.00", "EUR"))
    core = PlanFactory(kind=PlanKind.CORE)
    subscription = SubscriptionFactory(plan=legacy, quantity=1)
    DeviceFactory.create_batch(
        3, organization=subscription.organization, state=DeviceState.IN_THE_FIELD
    )
    DeviceFactory(organization=subscription.organization, state=DeviceState.IN_STOCK)

    _open_subscription(staff_page, subscription)
    staff_page.get_by_role("link", name="Migrate to Core").click()
    staff_page.get_by_label("Core plan").select_option(str(core.pk))
    staff_page.get_by_role("button", name="Migrate to the Core plan").click()
    expect(staff_page.locator(".messagelist")).to_be_visible()

    subscription.refresh_from_db()
    assert (subscription.quantity, subscription.plan) == (3, core)
    organization = subscription.organization
    assert (organization.licensed, organization.licence_count) == (True, 3)


def test_issue_a_credit_note_after_a_preview(staff_page):
    subscription = SubscriptionFactory()
    draft = invoice_create_draft(customer=subscription.customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=draft, actor=None)

    staff_page.goto(f"/admin/billing/invoice/{invoice.pk}/change/")
    staff_page.get_by_role("link", name="Issue a credit note").click()
    staff_page.get_by_label("Amount to credit, before VAT").fill("50")
    staff_page.get_by_label("Reason (printed on the credit note)").fill("Goodwill")
    staff_page.get_by_role("button", name="Preview").click()
    expect(staff_page.get_by_text("is left to credit")).to_be_visible()  # 40.00 at most
    assert not CreditNote.objects.exists()

    staff_page.get_by_label("Amount to credit, before VAT").fill("10")
    staff_page.get_by_role("button", name="Preview").click()
    staff_page.get_by_role("button", name="Issue the credit note").click()
    expect(staff_page.locator(".messagelist")).to_be_visible()
    note = CreditNote.objects.get()
    assert (note.invoice, note.total) == (invoice, Money("12.00", "EUR"))


def test_bulk_move_reports_each_refusal(staff_page):
    organization = SubscriptionFactory(quantity=1).organization
    DeviceFactory(organization=organization, serial="D-1")
    DeviceFactory(organization=organization, serial="D-2")

    staff_page.goto(f"/admin/fleet/device/?organization__id__exact={organization.pk}")
    for serial in ("D-1", "D-2"):
        staff_page.locator("tr", has_text=serial).locator("input[type=checkbox]").check()
    staff_page.locator("select[name=action]").select_option(
        label="Move selected devices to In the field"
    )
    staff_page.get_by_role("button", name="Run").or_(
        staff_page.get_by_role("button", name="Go")
    ).click()
    messages = staff_page.locator(".messagelist")
    expect(messages).to_contain_text(
        "D-2: The only licence is in use: buy more licences or move a device to stock"
    )
    expect(messages).to_contain_text("1 device(s) now in the field.")
    states = dict(Device.objects.values_list("serial", "state"))
    assert sorted(states.values()) == [DeviceState.IN_STOCK, DeviceState.IN_THE_FIELD]


def test_an_api_key_is_shown_once_and_works(staff_page, live_server):
    organization = SubscriptionFactory().organization
    staff_page.goto("/admin/fleet/apikey/add/")
    staff_page.get_by_label("Name").fill("MDM production")
    staff_page.get_by_role("button", name="Save", exact=True).click()
    message = staff_page.locator(".messagelist").inner_text()
    key = next(word for word in message.split() if "." in word and len(word) > 20).rstrip(".")
    assert ApiKey.objects.get().prefix == key.split(".")[0]

    answer = requests.get(
        f"{live_server.url}/api/mdm/organizations/{organization.pk}/",
        headers={"Authorization": f"Api-Key {key}"},
        timeout=10,
    )
    assert answer.status_code == 200
    staff_page.goto("/admin/fleet/apikey/")
    assert key not in staff_page.content()  # never shown again


@pytest.mark.browser
def test_grant_credit_with_a_reason_shows_in_the_customer_s_history(staff_page):
    customer = CustomerFactory(name="Initech")
    staff_page.goto(f"/admin/billing/customer/{customer.pk}/change/")
    expect(staff_page.get_by_text("No credit yet.")).to_be_visible()
    staff_page.get_by_role("link", name="Grant credit", exact=True).click()

    staff_page.get_by_label("Amount to credit, before VAT").fill("12.345")
    staff_page.get_by_label("Reason (the customer sees it)").fill("Outage on 3 November")
    staff_page.get_by_role("button", name="Preview").click()
    expect(staff_page.get_by_text("at most two decimal places")).to_be_visible()
    assert not CreditEntry.objects.exists()

    staff_page.get_by_label("Amount to credit, before VAT").fill("12.50")
    staff_page.get_by_role("button", name="Preview").click()
    expect(staff_page.locator(".grant-credit-preview")).to_contain_text("from 0.00 to 12.50 EUR")
    staff_page.get_by_role("button", name="Yes, grant 12.50 EUR").click()
    expect(staff_page.locator(".messagelist")).to_contain_text("12.50 EUR credited to Initech")

    history = staff_page.locator("table.credit-history")
    expect(history).to_contain_text("Granted by staff")
    expect(history).to_contain_text("Outage on 3 November")
    expect(history).to_contain_text("12.50")
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("12.50")
    entry = AuditEntry.objects.get(action="customer.grant_credit")
    assert entry.actor == staff_page.staff


@pytest.mark.browser
def test_staff_verify_a_pending_tax_identity(page, customer, log_in, staff_page):
    log_in(page, customer.contact)
    page.goto("/account/")
    page.get_by_label("Country").select_option("US")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Pending verification: country United States")).to_be_visible()
    customer.refresh_from_db()
    assert (customer.country, customer.pending_country) == ("FR", "US")

    staff_page.goto("/admin/billing/customer/?tax_identity=pending")
    staff_page.get_by_role("link", name="Acme SAS").click()
    staff_page.get_by_role("link", name="Verify tax identity").click()
    expect(staff_page.locator('[data-field="pending_country"]')).to_have_text("United States")
    staff_page.get_by_role("button", name="Yes, verify and apply").click()
    expect(staff_page.locator(".messagelist")).to_contain_text("are verified")

    customer.refresh_from_db()
    assert (customer.country, customer.pending_country) == ("US", "")
    assert customer.tax_identity_requested_at is None
    entry = AuditEntry.objects.get(action="customer.tax_identity_verify")
    assert entry.actor == staff_page.staff
    assert (entry.before["country"], entry.after["country"]) == ("FR", "US")
    page.reload()
    expect(page.get_by_text("Pending verification")).to_have_count(0)


def test_refund_part_of_a_card_payment(staff_page):
    from billing.gateways.sandbox import sandbox_method_create
    from billing.models import PaymentMethod, PaymentStatus, Refund
    from billing.services.payments import payment_charge_method

    customer = CustomerFactory()
    draft = invoice_create_draft(customer=customer)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=draft, actor=None, use_credit=False)
    method = PaymentMethod.objects.create(
        customer=customer,
        kind="card",
        gateway="sandbox",
        gateway_ref=sandbox_method_create(card_number="4242424242424242").ref,
        brand="visa",
        last4="4242",
        is_default=True,
    )
    payment = payment_charge_method(invoice=invoice, method=method, actor="t", off_session=True)
    assert payment.status == PaymentStatus.SUCCEEDED  # 48.00 EUR

    staff_page.goto(f"/admin/billing/payment/{payment.pk}/change/")
    staff_page.get_by_role("link", name="Refund…").click()
    staff_page.get_by_label("Amount to give back, VAT included").fill("12.00")
    staff_page.get_by_label("Back to the payment method").check()
    staff_page.get_by_label("Reason (printed on the credit note)").fill("Licences unused")
    staff_page.get_by_role("button", name="Preview").click()
    expect(staff_page.locator(".refund-preview")).to_contain_text("10.00 EUR + VAT 2.00 EUR")
    assert not Refund.objects.exists()  # nothing before the confirmation
    staff_page.get_by_role("button", name="Refund 12.00 EUR").click()
    expect(staff_page.locator(".messagelist")).to_be_visible()

    refund = Refund.objects.get()
    assert (refund.amount, refund.destination) == (Decimal("12.00"), Refund.TO_METHOD)
    payment.refresh_from_db()
    assert payment.refunded == Decimal("12.00")
    assert refund.credit_note.total.amount == Decimal("12.00")
    assert not CreditEntry.objects.exists()  # back to the card, not credit
    assert AuditEntry.objects.get(action="payment.refund").actor == staff_page.staff
