"""Staff actions in the admin: a confirmation page each, the service called on confirm,
an audit entry; bad input refused with a message and nothing changed."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from audit.models import AuditEntry
from billing.models import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    NumberSequence,
    Payment,
    SubscriptionStatus,
)
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.overdue import overdue_mark
from fleet.models import Device, DeviceState, Organization, OrganizationMode
from tests.factories import DeviceFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _open_invoice(subscription, issued_on=date(2026, 11, 1)):
    draft = invoice_create_draft(customer=subscription.customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    return invoice_finalize(invoice=draft, actor=None, issued_on=issued_on)


def _audited(staff, action):
    return AuditEntry.objects.filter(actor=staff, action=action).exists()


def test_subscription_page_offers_the_actions_for_its_state(staff_client):
    subscription = SubscriptionFactory(plan=PlanFactory(kind="legacy"))
    page = staff_client.get(
        reverse("admin:billing_subscription_change", args=[subscription.pk])
    ).content.decode()
    for url_name in ("pause", "cancel", "migrate"):
        assert reverse(f"admin:billing_subscription_{url_name}", args=[subscription.pk]) in page
    assert reverse("admin:billing_subscription_resume", args=[subscription.pk]) not in page


def test_pause_asks_for_confirmation_then_pauses(staff_client):
    subscription = SubscriptionFactory()
    url = reverse("admin:billing_subscription_pause", args=[subscription.pk])
    page = staff_client.get(url)
    assert f"Yes, pause {subscription.public_id}" in page.content.decode()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE  # a GET changes nothing
    response = staff_client.post(url)
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PAUSED
    assert Organization.objects.get().mode == OrganizationMode.PAUSED
    assert _audited(staff_client.staff, "subscription.pause")


def test_resume_issues_the_new_period_invoice(staff_client):
    # Not time-travelled: the staff session would expire in the future.
    today = timezone.now().date()
    subscription = SubscriptionFactory(status=SubscriptionStatus.PAUSED)
    response = staff_client.post(
        reverse("admin:billing_subscription_resume", args=[subscription.pk])
    )
    assert response.status_code == 302
    invoice = Invoice.objects.get()
    subscription.refresh_from_db()
    assert invoice.period_start == today == subscription.current_period_start
    assert invoice.period_end == subscription.current_period_end
    assert invoice.subtotal == Money("40.00", "EUR")
    assert _audited(staff_client.staff, "subscription.resume")


def test_resuming_an_active_subscription_is_refused_with_the_reason(staff_client):
    subscription = SubscriptionFactory()
    response = staff_client.post(
        reverse("admin:billing_subscription_resume", args=[subscription.pk])
    )
    assert response.status_code == 200
    assert "is active; it cannot become active" in response.content.decode()
    assert not Invoice.objects.exists()


def test_cancel_with_the_wrong_name_changes_nothing(staff_client):
    subscription = SubscriptionFactory(organization_name="Initech HQ")
    DeviceFactory(organization=subscription.organization)
    url = reverse("admin:billing_subscription_cancel", args=[subscription.pk])
    assert "1 device are erased" in staff_client.get(url).content.decode()
    response = staff_client.post(url, {"organization_name": "Initech"})
    assert "type the organization&#x27;s name exactly: Initech HQ" in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert Device.objects.count() == 1


def test_cancel_with_the_name_erases_the_organization_and_keeps_the_invoices(staff_client):
    subscription = SubscriptionFactory(organization_name="Initech HQ")
    DeviceFactory(organization=subscription.organization)
    invoice = _open_invoice(subscription)
    response = staff_client.post(
        reverse("admin:billing_subscription_cancel", args=[subscription.pk]),
        {"organization_name": "Initech HQ"},
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.status, subscription.organization) == (SubscriptionStatus.CANCELLED, None)
    assert not Organization.objects.exists() and not Device.objects.exists()
    assert Invoice.objects.get() == invoice
    assert _audited(staff_client.staff, "subscription.cancel")


def test_migrate_to_core_from_the_admin(staff_client):
    subscription = SubscriptionFactory(plan=PlanFactory(kind="legacy"))
    core = PlanFactory()
    for _ in range(3):
        DeviceFactory(organization=subscription.organization, state=DeviceState.IN_THE_FIELD)
    url = reverse("admin:billing_subscription_migrate", args=[subscription.pk])
    assert "<strong>3 licences</strong>" in staff_client.get(url).content.decode()
    assert staff_client.post(url, {"plan": core.pk}).status_code == 302
    subscription.refresh_from_db()
    assert (subscription.plan, subscription.quantity) == (core, 3)
    org = Organization.objects.get()
    assert (org.licensed, org.licence_count) == (True, 3)
    assert _audited(staff_client.staff, "subscription.migrate_to_core")


def test_credit_note_preview_then_confirm(staff_client):
    subscription = SubscriptionFactory()
    invoice = _open_invoice(subscription)  # 40.00 + 8.00 VAT
    url = reverse("admin:billing_invoice_credit_note", args=[invoice.pk])
    preview = staff_client.post(url, {"amount": "10.00", "reason": "Goodwill", "_preview": "1"})
    body = preview.content.decode()
    assert "Credit 10.00 EUR + VAT 2.00 EUR = <strong>12.00 EUR</strong>" in body
    assert not CreditNote.objects.exists()
    response = staff_client.post(url, {"amount": "10.00", "reason": "Goodwill", "_confirm": "1"})
    assert response.status_code == 302
    note = CreditNote.objects.get()
    assert (note.number, note.total) == ("CN-2026-000001", Money("12.00", "EUR"))
    assert _audited(staff_client.staff, "credit_note.issue")


def test_credit_note_over_the_invoice_is_refused(staff_client):
    invoice = _open_invoice(SubscriptionFactory())
    response = staff_client.post(
        reverse("admin:billing_invoice_credit_note", args=[invoice.pk]),
        {"amount": "41", "reason": "x", "_confirm": "1"},
    )
    assert "Only 40.00 EUR (before VAT) is left to credit" in response.content.decode()
    assert not CreditNote.objects.exists()
    assert not NumberSequence.objects.filter(series="CN").exists()  # no number drawn
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    invoice.customer.refresh_from_db()
    assert invoice.customer.credit_balance == 0
    assert not AuditEntry.objects.filter(action="credit_note.issue").exists()


@time_machine.travel("2026-11-20 10:00:00+00:00", tick=False)
def test_reconcile_a_bank_transfer_by_number_returns_the_organization_to_active(staff_client):
    subscription = SubscriptionFactory()
    invoice = _open_invoice(subscription)
    overdue_mark(today=date(2026, 11, 20))
    assert Organization.objects.get().mode == OrganizationMode.READ_ONLY
    url = reverse("admin:billing_invoice_reconcile")
    found = staff_client.post(url, {"number": " caj-2026-000001 ", "_find": "1"})
    assert "Mark CAJ-2026-000001 paid by bank transfer" in found.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    response = staff_client.post(url, {"number": "CAJ-2026-000001", "_confirm": "1"})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert Organization.objects.get().mode == OrganizationMode.ACTIVE
    entry = AuditEntry.objects.get(actor=staff_client.staff, action="invoice.paid")
    assert entry.after == {"status": "paid", "amount_due": 0, "via": "bank transfer"}
    # Recorded as a payment: the amount due (the default), by bank transfer, succeeded.
    payment = Payment.objects.get()
    assert (payment.invoice, payment.amount, payment.status) == (
        invoice,
        Decimal("48.00"),
        "succeeded",
    )
    assert (payment.method_kind, payment.gateway) == ("bank_transfer", "offline")
    assert payment.gateway_ref == "CAJ-2026-000001-T1"  # generated: no bank reference typed


def test_reconcile_a_smaller_transfer_lowers_the_amount_due(staff_client):
    invoice = _open_invoice(SubscriptionFactory())  # 48.00 EUR
    response = staff_client.post(
        reverse("admin:billing_invoice_reconcile"),
        {"number": invoice.number, "amount": "30.00", "_confirm": "1"},
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_due == Money("18.00", "EUR")
    assert Payment.objects.get().amount == Decimal("30.00")


@pytest.mark.parametrize("amount", ["abc", "0", "-1", "1.001", "NaN"])
def test_reconcile_a_bad_amount_changes_nothing(staff_client, amount):
    invoice = _open_invoice(SubscriptionFactory())
    response = staff_client.post(
        reverse("admin:billing_invoice_reconcile"),
        {"number": invoice.number, "amount": amount, "_confirm": "1"},
    )
    assert response.status_code == 200
    assert "Enter the amount received" in response.content.decode()
    assert not Payment.objects.exists()
    invoice.refresh_from_db()
    assert invoice.amount_due == Money("48.00", "EUR")


@pytest.mark.parametrize(
    ("number", "message"),
    [("CAJ-2026-999999", "No invoice has the number CAJ-2026-999999."), ("", "required")],
)
def test_reconcile_an_unknown_number_says_so(staff_client, number, message):
    _open_invoice(SubscriptionFactory())
    response = staff_client.post(
        reverse("admin:billing_invoice_reconcile"), {"number": number, "_confirm": "1"}
    )
    assert message in response.content.decode()
    assert Invoice.objects.get().status == InvoiceStatus.OPEN


def test_reconcile_a_paid_invoice_is_refused(staff_client):
    invoice = _open_invoice(SubscriptionFactory())
    staff_client.post(
        reverse("admin:billing_invoice_reconcile"), {"number": invoice.number, "_confirm": "1"}
    )
    response = staff_client.post(
        reverse("admin:billing_invoice_reconcile"), {"number": invoice.number, "_confirm": "1"}
    )
    assert "Invoice CAJ-2026-000001 is paid." in response.content.decode()
    assert AuditEntry.objects.filter(action="invoice.paid").count() == 1
    assert Payment.objects.count() == 1


def test_invoice_list_links_to_the_reconcile_page(staff_client):
    page = staff_client.get(reverse("admin:billing_invoice_changelist")).content.decode()
    assert reverse("admin:billing_invoice_reconcile") in page
