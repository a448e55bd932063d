"""Account Information (company details, password) and the staff change of billing contact."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from billing.errors import BillingError
from billing.models import Customer
from billing.services.customers import customer_change_contact
from tests.factories import CustomerFactory, StaffUserFactory, UserFactory
from tests.portal.conftest import code_from_mail

pytestmark = pytest.mark.django_db

VALID = {
    "name": "Acme Group SAS",
    "address_line1": "2 avenue de l'Opéra",
    "address_line2": "Bâtiment B",
    "postal_code": "75001",
    "city": "Paris",
    "country": "FR",
    "vat_number": "FR 40 303 265 045",
}


def snapshot(customer: Customer) -> dict:
    customer.refresh_from_db()
    fields = (*VALID, "currency", "contact_id", "pending_country", "pending_vat_number")
    return {field: getattr(customer, field) for field in fields}


def test_account_page_shows_the_details_and_how_to_change_the_contact(client, customer):
    client.force_login(customer.contact)
    body = client.get(reverse("portal:account")).content.decode()
    assert 'value="Acme SAS"' in body
    assert 'data-field="currency">EUR<' in body
    assert 'data-field="contact">billing@acme.example<' in body
    assert "billing@caj.example" in body
    assert 'name="currency"' not in body and 'name="email"' not in body
    assert reverse("portal:account_password") in body


def test_an_edit_is_saved_and_audited(client, customer):
    client.force_login(customer.contact)
    response = client.post(reverse("portal:account"), VALID, follow=True)
    body = response.content.decode()
    assert "Your account information is saved." in body
    customer.refresh_from_db()
    assert customer.name == "Acme Group SAS"
    assert customer.address_line2 == "Bâtiment B"
    # The VAT number is a tax identity: proposed, not applied until staff verify it.
    assert customer.vat_number == ""
    assert (customer.pending_country, customer.pending_vat_number) == ("FR", "FR40303265045")
    assert customer.tax_identity_requested_at is not None
    assert "Pending verification: country France, VAT number FR40303265045" in body
    entry = AuditEntry.objects.get(action="customer.update_account")
    assert entry.actor == customer.contact
    assert entry.before == {
        "name": "Acme SAS",
        "address_line1": "1 rue du Test",
        "address_line2": "",
    }
    assert set(entry.after) == {"name", "address_line1", "address_line2"}
    request = AuditEntry.objects.get(action="customer.tax_identity_request")
    assert request.before == {"country": "FR", "vat_number": ""}
    assert request.after["pending_vat_number"] == "FR40303265045"
    # Saving the same values again changes nothing and writes no audit row.
    client.post(reverse("portal:account"), VALID)
    assert AuditEntry.objects.filter(action="customer.update_account").count() == 1
    assert AuditEntry.objects.filter(action="customer.tax_identity_request").count() == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vat_number": "FR12345678901"}, "FR12345678901 is not a valid EU VAT number."),
        ({"vat_number": "DE136695976"}, "The VAT number DE136695976 is from another country"),
        ({"name": "  "}, "This field is required."),
        ({"country": "XX"}, "Select a valid choice."),
    ],
)
def test_invalid_input_changes_nothing(client, customer, change, message):
    client.force_login(customer.contact)
    before = snapshot(customer)
    response = client.post(reverse("portal:account"), {**VALID, **change})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert snapshot(customer) == before
    assert not AuditEntry.objects.exclude(action="customer.create").exists()


def test_first_password_asks_the_new_one_twice_then_the_current_one(client, customer):
    client.force_login(customer.contact)
    url = reverse("portal:account_password")
    body = client.get(url).content.decode()
    assert 'name="old_password"' not in body
    assert body.count('type="password"') == 2

    response = client.post(url, {"new_password1": "acme", "new_password2": "acme"})
    assert response.status_code == 400
    assert "This password is too short." in response.content.decode()
    customer.contact.refresh_from_db()
    assert not customer.contact.has_usable_password()

    response = client.post(
        url, {"new_password1": "tulip-orbit-42", "new_password2": "tulip-orbit-43"}
    )
    assert "The two password fields didn’t match." in response.content.decode()

    response = client.post(
        url, {"new_password1": "tulip-orbit-42", "new_password2": "tulip-orbit-42"}, follow=True
    )
    assert "Your password is set." in response.content.decode()
    customer.contact.refresh_from_db()
    assert customer.contact.check_password("tulip-orbit-42")
    # Still logged in.
    assert client.get(reverse("portal:account")).status_code == 200
    assert AuditEntry.objects.filter(action="user.password_set").count() == 1

    body = client.get(url).content.decode()
    assert 'name="old_password"' in body
    response = client.post(
        url,
        {
            "old_password": "wrong",
            "new_password1": "meadow-cobalt-77",
            "new_password2": "meadow-cobalt-77",
        },
    )
    assert "Your old password was entered incorrectly." in response.content.decode()
    customer.contact.refresh_from_db()
    assert customer.contact.check_password("tulip-orbit-42")
    response = client.post(
        url,
        {
            "old_password": "tulip-orbit-42",
            "new_password1": "meadow-cobalt-77",
            "new_password2": "meadow-cobalt-77",
        },
    )
    assert response["Location"] == reverse("portal:account")
    customer.contact.refresh_from_db()
    assert customer.contact.check_password("meadow-cobalt-77")
    assert client.get(reverse("portal:account")).status_code == 200
    assert AuditEntry.objects.filter(action="user.password_change").count() == 1


def test_changing_the_password_ends_the_other_sessions(customer):
    customer.contact.set_password("tulip-orbit-42")
    customer.contact.save()
    here, elsewhere = Client(), Client()
    here.force_login(customer.contact)
    elsewhere.force_login(customer.contact)
    here.post(
        reverse("portal:account_password"),
        {
            "old_password": "tulip-orbit-42",
            "new_password1": "meadow-cobalt-77",
            "new_password2": "meadow-cobalt-77",
        },
    )
    assert here.get(reverse("portal:account")).status_code == 200
    assert elsewhere.get(reverse("portal:account")).status_code == 302


# ---- staff change the billing contact ------------------------------------------------


def test_staff_change_the_contact_with_a_confirmation(staff_client, customer):
    old_session = Client()
    old_session.force_login(customer.contact)
    assert old_session.get(reverse("portal:subscriptions")).status_code == 200
    url = reverse("admin:billing_customer_change_contact", args=[customer.pk])
    change_page = staff_client.get(reverse("admin:billing_customer_change", args=[customer.pk]))
    assert url in change_page.content.decode()

    review = staff_client.post(url, {"email": "New.Billing@Acme.example"})
    body = review.content.decode()
    assert "Please confirm" in body and "new.billing@acme.example" in body
    customer.refresh_from_db()
    assert customer.contact.email == "billing@acme.example"  # nothing yet

    done = staff_client.post(url, {"email": "new.billing@acme.example", "confirm": "yes"})
    assert done["Location"] == reverse("admin:billing_customer_change", args=[customer.pk])
    customer.refresh_from_db()
    assert customer.contact.email == "new.billing@acme.example"
    entry = AuditEntry.objects.get(action="customer.change_contact")
    assert entry.actor == staff_client.staff
    assert entry.before == {"contact": "billing@acme.example"}
    assert entry.after == {"contact": "new.billing@acme.example"}

    # The previous contact's session ended at once; the old address logs in no more.
    assert old_session.get(reverse("portal:subscriptions")).status_code == 302
    visitor = Client()
    visitor.post(reverse("portal:login"), {"email": "billing@acme.example"})
    assert mail.outbox == []
    # The new address does.
    visitor.post(reverse("portal:login"), {"email": "new.billing@acme.example"})
    response = visitor.post(
        reverse("portal:login_code"), {"code": code_from_mail("new.billing@acme.example")}
    )
    assert response.status_code == 302
    assert visitor.get(reverse("portal:account")).status_code == 200


def test_the_old_password_stops_working_after_a_contact_change(customer):
    customer.contact.set_password("tulip-orbit-42")
    customer.contact.save()
    customer_change_contact(customer=customer, email="new@acme.example", actor=None)
    response = Client().post(
        reverse("portal:login_password"),
        {"email": "billing@acme.example", "password": "tulip-orbit-42"},
    )
    assert "do not match" in response.content.decode()


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-address", "Enter a valid email address."),
        ("billing@acme.example", "is already the billing contact of Acme SAS"),
        ("other@customer.example", "already used by another account"),
        ("staff@caj.example", "already used by another account"),
    ],
)
def test_staff_change_refused_changes_nothing(staff_client, customer, email, message):
    CustomerFactory(contact=UserFactory(email="other@customer.example"))
    StaffUserFactory(email="staff@caj.example")
    url = reverse("admin:billing_customer_change_contact", args=[customer.pk])
    response = staff_client.post(url, {"email": email, "confirm": "yes"})
    assert response.status_code == 200
    assert message in response.content.decode()
    customer.refresh_from_db()
    assert customer.contact.email == "billing@acme.example"
    assert not AuditEntry.objects.filter(action="customer.change_contact").exists()


def test_the_admin_action_opens_the_change_for_one_customer(staff_client, customer):
    other = CustomerFactory()
    changelist = reverse("admin:billing_customer_changelist")
    response = staff_client.post(
        changelist, {"action": "change_billing_contact", "_selected_action": [customer.pk]}
    )
    assert response["Location"] == reverse(
        "admin:billing_customer_change_contact", args=[customer.pk]
    )
    response = staff_client.post(
        changelist,
        {"action": "change_billing_contact", "_selected_action": [customer.pk, other.pk]},
        follow=True,
    )
    assert "Select exactly one customer" in response.content.decode()


def test_a_former_contact_can_be_taken_back_and_proves_the_address_again(customer):
    old = customer.contact
    old.set_password("tulip-orbit-42")
    old.save()
    customer_change_contact(customer=customer, email="new@acme.example", actor=None)
    customer_change_contact(customer=customer, email="billing@acme.example", actor=None)
    customer.refresh_from_db()
    assert customer.contact_id == old.pk
    assert not customer.contact.has_usable_password()
    with pytest.raises(BillingError, match="already used by another account"):
        customer_change_contact(
            customer=CustomerFactory(), email="billing@acme.example", actor=None
        )
