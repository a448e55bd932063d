"""Tax identity is not self-service: a customer proposes a new country or VAT number in
Account Information; invoices keep the verified ones until staff verify the proposal
(admin action, audited) or reject it."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_client():
    """The customer's browser, apart from staff_client's."""
    return Client()


ACCOUNT = {
    "name": "Acme SAS",
    "address_line1": "1 rue du Test",
    "address_line2": "",
    "postal_code": "75001",
    "city": "Paris",
    "country": "FR",
    "vat_number": "",
}


def _next_invoice(customer):
    customer.refresh_from_db()
    draft = invoice_create_draft(customer=customer)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    return invoice_finalize(invoice=draft, actor=None)


def _propose(client, customer, **changes):
    client.force_login(customer.contact)
    return client.post(reverse("portal:account"), {**ACCOUNT, **changes}, follow=True)


def _verify(staff_client, customer):
    customer.refresh_from_db()
    return staff_client.post(
        reverse("admin:billing_customer_verify_tax_identity", args=[customer.pk]),
        {"country": customer.pending_country, "vat_number": customer.pending_vat_number},
    )


@pytest.mark.parametrize(
    ("changes", "rate_after"),
    [
        ({"country": "US"}, Decimal("0.00")),  # outside the EU: export
        ({"country": "DE", "vat_number": "DE136695976"}, Decimal("0.00")),  # reverse charge
    ],
)
def test_a_proposed_tax_identity_changes_the_vat_only_once_staff_verify_it(
    customer_client, staff_client, customer, changes, rate_after
):
    body = _propose(customer_client, customer, **changes).content.decode()
    assert "Pending verification" in body
    assert "takes effect once we have verified it" in body
    customer.refresh_from_db()
    assert (customer.country, customer.vat_number) == ("FR", "")
    assert customer.pending_country == changes["country"]
    assert customer.tax_identity_requested_at is not None
    # The form shows the proposal, so saving the page again keeps it.
    assert f'<option value="{changes["country"]}" selected>' in body

    assert _next_invoice(customer).vat_rate == Decimal("20.00")

    response = _verify(staff_client, customer)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.country == changes["country"]
    assert customer.vat_number == changes.get("vat_number", "")
    assert (customer.pending_country, customer.tax_identity_requested_at) == ("", None)
    entry = AuditEntry.objects.get(action="customer.tax_identity_verify")
    assert entry.actor == staff_client.staff
    assert entry.before == {"country": "FR", "vat_number": ""}
    assert entry.after["country"] == changes["country"]

    assert _next_invoice(customer).vat_rate == rate_after
    page = customer_client.get(reverse("portal:account")).content.decode()
    assert "Pending verification" not in page


def test_address_changes_still_save_directly(customer_client, customer):
    _propose(customer_client, customer, city="Lyon", country="US")
    customer.refresh_from_db()
    assert (customer.city, customer.country, customer.pending_country) == ("Lyon", "FR", "US")


def test_proposing_the_verified_values_again_withdraws_the_proposal(customer_client, customer):
    _propose(customer_client, customer, country="US")
    _propose(customer_client, customer, country="FR")
    customer.refresh_from_db()
    assert (customer.pending_country, customer.tax_identity_requested_at) == ("", None)
    assert AuditEntry.objects.filter(action="customer.tax_identity_withdraw").count() == 1


def test_an_invalid_vat_number_is_still_refused_and_nothing_is_pending(customer_client, customer):
    response = _propose(customer_client, customer, country="DE", vat_number="DE123")
    assert "DE123 is not a valid EU VAT number" in response.content.decode()
    customer.refresh_from_db()
    assert customer.tax_identity_requested_at is None
    assert not AuditEntry.objects.filter(action="customer.tax_identity_request").exists()


def test_staff_reject_with_a_reason(customer_client, staff_client, customer):
    _propose(customer_client, customer, country="US")
    url = reverse("admin:billing_customer_reject_tax_identity", args=[customer.pk])
    page = staff_client.get(url).content.decode()
    assert "United States" in page

    refused = staff_client.post(url, {"reason": "  "})
    assert "Say why the new country or VAT number is rejected." in refused.content.decode()
    customer.refresh_from_db()
    assert customer.pending_country == "US"

    assert staff_client.post(url, {"reason": "No US entity found"}).status_code == 302
    customer.refresh_from_db()
    assert (customer.country, customer.pending_country) == ("FR", "")
    assert customer.tax_identity_requested_at is None
    entry = AuditEntry.objects.get(action="customer.tax_identity_reject")
    assert entry.actor == staff_client.staff
    assert entry.before["pending_country"] == "US"
    assert entry.after["reason"] == "No US entity found"
    assert _next_invoice(customer).vat_rate == Decimal("20.00")


def test_verify_applies_only_the_proposal_staff_were_shown(customer_client, staff_client, customer):
    _propose(customer_client, customer, country="US")
    url = reverse("admin:billing_customer_verify_tax_identity", args=[customer.pk])
    assert "United States" in staff_client.get(url).content.decode()
    _propose(customer_client, customer, country="CH")  # changed meanwhile
    response = staff_client.post(url, {"country": "US", "vat_number": ""})
    assert response.status_code == 200
    assert "changed the proposal since this page was shown" in response.content.decode()
    customer.refresh_from_db()
    assert (customer.country, customer.pending_country) == ("FR", "CH")
    assert not AuditEntry.objects.filter(action="customer.tax_identity_verify").exists()


def test_verify_without_a_proposal_says_so(staff_client):
    customer = CustomerFactory()
    url = reverse("admin:billing_customer_verify_tax_identity", args=[customer.pk])
    assert "no new country or VAT number waiting" in staff_client.get(url).content.decode()
    response = staff_client.post(url, {"country": "US", "vat_number": ""})
    assert "no new country or VAT number waiting" in response.content.decode()
    customer.refresh_from_db()
    assert customer.country == "FR"
    assert not AuditEntry.objects.exclude(action="customer.create").exists()


def test_the_customer_list_filters_pending_tax_identities(customer_client, staff_client, customer):
    CustomerFactory(name="Globex")
    _propose(customer_client, customer, country="US")
    url = reverse("admin:billing_customer_changelist")
    pending = staff_client.get(url, {"tax_identity": "pending"}).content.decode()
    assert "Acme SAS" in pending and "Globex" not in pending
    change = staff_client.get(
        reverse("admin:billing_customer_change", args=[customer.pk])
    ).content.decode()
    assert "Pending verification since" in change
    assert reverse("admin:billing_customer_verify_tax_identity", args=[customer.pk]) in change
