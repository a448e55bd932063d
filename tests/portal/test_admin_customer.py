"""The customer in the admin: credit and (once invoiced) currency are read-only, credit
moves only through the audited "Grant credit" action, and every staff change of a
customer, subscription, plan price or organization writes an audit row."""

from decimal import Decimal

import pytest
from django.urls import reverse
from djmoney.money import Money

from audit.models import AuditEntry
from billing.errors import BillingError
from billing.models import CreditEntry, CreditKind, Customer, Plan
from billing.services.credit import credit_grant_by_staff
from billing.services.customers import customer_update_by_staff
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from fleet.models import Organization
from tests.factories import CustomerFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _change_url(customer):
    return reverse("admin:billing_customer_change", args=[customer.pk])


def _form(customer, **changes):
    """The customer change form as the browser posts it, with `changes`."""
    return {
        "name": customer.name,
        "currency": customer.currency,
        "country": customer.country,
        "vat_number": customer.vat_number,
        "address_line1": customer.address_line1,
        "address_line2": customer.address_line2,
        "postal_code": customer.postal_code,
        "city": customer.city,
        **changes,
    }


def _invoice(customer):
    draft = invoice_create_draft(customer=customer)
    invoice_add_line(invoice=draft, description="Core", quantity=1, unit_price=Decimal("4"))
    return invoice_finalize(invoice=draft, actor=None)


def _staff_rows():
    return AuditEntry.objects.exclude(actor=None)


def test_credit_balance_is_read_only_and_a_crafted_post_cannot_set_it(staff_client):
    customer = CustomerFactory(currency="USD")
    _invoice(customer)
    page = staff_client.get(_change_url(customer)).content.decode()
    assert 'name="credit_balance"' not in page
    assert 'name="currency"' not in page  # an invoice exists
    assert "No credit yet." in page

    response = staff_client.post(
        _change_url(customer), _form(customer, credit_balance="50", currency="EUR")
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.credit_balance == 0
    assert customer.currency == "USD"
    assert not CreditEntry.objects.exists()
    assert not _staff_rows().exists()


def test_currency_can_change_while_the_customer_has_no_invoice(staff_client):
    customer = CustomerFactory(currency="USD")
    assert 'name="currency"' in staff_client.get(_change_url(customer)).content.decode()
    response = staff_client.post(_change_url(customer), _form(customer, currency="EUR"))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.currency == "EUR"
    entry = AuditEntry.objects.get(action="customer.update_by_staff")
    assert entry.actor == staff_client.staff
    assert (entry.before, entry.after) == ({"currency": "USD"}, {"currency": "EUR"})


def test_the_service_refuses_a_currency_change_once_invoiced(staff_client):
    customer = CustomerFactory(currency="USD")
    _invoice(customer)
    with pytest.raises(BillingError) as refused:
        customer_update_by_staff(
            customer=customer, changes={"currency": "EUR"}, actor=staff_client.staff
        )
    assert refused.value.code == "currency_locked"
    assert "The currency stays USD" in refused.value.message
    with pytest.raises(BillingError, match="credit moves only through Grant credit"):
        customer_update_by_staff(
            customer=customer, changes={"credit_balance": 50}, actor=staff_client.staff
        )
    customer.refresh_from_db()
    assert (customer.currency, customer.credit_balance) == ("USD", 0)
    assert not _staff_rows().exists()


def test_a_staff_edit_is_audited_with_before_and_after(staff_client):
    customer = CustomerFactory(name="Acme SAS", city="Paris")
    response = staff_client.post(
        _change_url(customer), _form(customer, name="Acme Group", city="Lyon")
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="customer.update_by_staff")
    assert entry.before == {"name": "Acme SAS", "city": "Paris"}
    assert entry.after == {"name": "Acme Group", "city": "Lyon"}
    # Saving without a change writes nothing.
    customer.refresh_from_db()
    staff_client.post(_change_url(customer), _form(customer))
    assert AuditEntry.objects.filter(action="customer.update_by_staff").count() == 1


def test_a_staff_edit_with_a_bad_vat_number_is_refused(staff_client):
    customer = CustomerFactory()
    response = staff_client.post(_change_url(customer), _form(customer, vat_number="FR123"))
    assert response.status_code == 200
    assert "FR123 is not a valid EU VAT number" in response.content.decode()
    customer.refresh_from_db()
    assert customer.vat_number == ""
    assert not _staff_rows().exists()


# ---- Grant credit ----------------------------------------------------------------------


def _grant_url(customer):
    return reverse("admin:billing_customer_grant_credit", args=[customer.pk])


def test_grant_credit_previews_then_grants_and_shows_in_the_history(staff_client):
    customer = CustomerFactory()
    page = staff_client.get(_change_url(customer)).content.decode()
    assert _grant_url(customer) in page

    preview = staff_client.post(
        _grant_url(customer), {"amount": "25.50", "reason": "Outage on 3 November"}
    )
    body = preview.content.decode()
    assert "Yes, grant 25.50 EUR" in body
    assert "from 0.00 to 25.50 EUR" in body
    assert not CreditEntry.objects.exists()  # the preview changes nothing

    response = staff_client.post(
        _grant_url(customer),
        {"amount": "25.50", "reason": "Outage on 3 November", "_confirm": "1"},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("25.50")
    entry = CreditEntry.objects.get()
    assert (entry.kind, entry.amount, entry.reason) == (
        CreditKind.STAFF_GRANT,
        Decimal("25.50"),
        "Outage on 3 November",
    )
    audit = AuditEntry.objects.get(action="customer.grant_credit")
    assert audit.actor == staff_client.staff
    assert audit.after["reason"] == "Outage on 3 November"

    history = staff_client.get(_change_url(customer)).content.decode()
    assert "Granted by staff" in history and "Outage on 3 November" in history
    assert "25.50" in history


@pytest.mark.parametrize(
    ("amount", "reason", "message"),
    [
        ("0", "Goodwill", "The amount must be more than zero."),
        ("-5", "Goodwill", "The amount must be more than zero."),
        ("10.005", "Goodwill", "The amount has at most two decimal places."),
        ("ten", "Goodwill", "Enter an amount, e.g. 25.00."),
        ("", "Goodwill", "Enter an amount, e.g. 25.00."),
        ("10", "   ", "Say why the credit is granted"),
        ("100000.01", "Goodwill", "issue a credit note instead"),
    ],
)
@pytest.mark.parametrize("confirm", [False, True])
def test_grant_credit_refuses_bad_input_and_changes_nothing(
    staff_client, amount, reason, message, confirm
):
    customer = CustomerFactory()
    data = {"amount": amount, "reason": reason, **({"_confirm": "1"} if confirm else {})}
    response = staff_client.post(_grant_url(customer), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    customer.refresh_from_db()
    assert customer.credit_balance == 0
    assert not CreditEntry.objects.exists()
    assert not AuditEntry.objects.exists()


def test_credit_history_lists_every_entry_with_its_document(staff_client):
    customer = CustomerFactory()
    credit_grant_by_staff(customer=customer, amount="10", reason="Goodwill", actor=None)
    invoice = _invoice(customer)  # uses the 10.00 of credit
    page = staff_client.get(_change_url(customer)).content.decode()
    assert "Used on an invoice" in page
    assert invoice.number in page
    assert "Goodwill" in page


# ---- subscription, plan price, organization ----------------------------------------------


def test_a_crafted_subscription_change_changes_nothing(staff_client):
    subscription = SubscriptionFactory(quantity=10)
    url = reverse("admin:billing_subscription_change", args=[subscription.pk])
    staff_client.post(url, {"quantity": "99", "status": "cancelled"})
    subscription.refresh_from_db()
    assert (subscription.quantity, subscription.status) == (10, "active")
    # It moves only through the staff actions, each audited (test_admin_actions.py).
    assert not _staff_rows().exists()


def test_a_subscription_added_by_staff_is_audited(staff_client):
    customer = CustomerFactory()
    plan = PlanFactory()
    staff_client.post(
        reverse("admin:billing_subscription_add"),
        {
            "customer": customer.pk,
            "organization_name": "Initech HQ",
            "plan": plan.pk,
            "quantity": "3",
            "start": "2026-11-01",
        },
    )
    assert _staff_rows().filter(target_type="billing.Subscription").exists()


def _plan_form(plan, **changes):
    return {
        "code": plan.code,
        "name": plan.name,
        "kind": plan.kind,
        "interval": plan.interval,
        "unit_price_0": str(plan.unit_price.amount),
        "unit_price_1": str(plan.unit_price.currency),
        "is_active": "on",
        **changes,
    }


def test_a_plan_price_change_is_audited(staff_client):
    plan = PlanFactory(unit_price=Money("4.00", "EUR"))
    url = reverse("admin:billing_plan_change", args=[plan.pk])
    response = staff_client.post(url, _plan_form(plan, unit_price_0="4.50"))
    assert response.status_code == 302, response.content.decode()[:3000]
    plan.refresh_from_db()
    assert plan.unit_price == Money("4.50", "EUR")
    entry = AuditEntry.objects.get(action="plan.update_by_staff")
    assert entry.actor == staff_client.staff
    assert entry.target_id == str(plan.pk)
    assert (entry.before, entry.after) == (
        {"unit_price": "4.00 EUR"},
        {"unit_price": "4.50 EUR"},
    )
    assert "4.50 EUR" in staff_client.get(url).content.decode()  # its audit history


def test_a_plan_added_by_staff_is_audited(staff_client):
    response = staff_client.post(
        reverse("admin:billing_plan_add"),
        {
            "code": "core-month-new",
            "name": "Core",
            "kind": "core",
            "interval": "month",
            "unit_price_0": "3.90",
            "unit_price_1": "EUR",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    entry = AuditEntry.objects.get(action="plan.create_by_staff")
    assert entry.target_id == str(Plan.objects.get().pk)
    assert entry.after["unit_price"] == "3.90 EUR"


def test_an_organization_change_is_audited(staff_client):
    subscription = SubscriptionFactory()
    organization = subscription.organization
    old_name = organization.name
    url = reverse("admin:fleet_organization_change", args=[organization.pk])
    response = staff_client.post(
        url,
        {
            "name": "Renamed Org",
            "devices-TOTAL_FORMS": "0",
            "devices-INITIAL_FORMS": "0",
            "devices-MIN_NUM_FORMS": "0",
            "devices-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    organization.refresh_from_db()
    assert organization.name == "Renamed Org"
    entry = AuditEntry.objects.get(action="organization.update_by_staff")
    assert entry.actor == staff_client.staff
    assert (entry.before, entry.after) == ({"name": old_name}, {"name": "Renamed Org"})
    assert Organization.objects.count() == 1
    assert Customer.objects.count() == 1
