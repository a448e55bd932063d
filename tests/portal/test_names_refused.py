"""A name with a line break or a control character is refused by every form a person
types one into (accounts/text.py), with one clear message and nothing saved or sent:
sign-up, Contact Us, Account Information, a new instance, and the admin's customer
(add and change), subscription and organization forms."""

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import ContactRequest, SignUp
from audit.models import AuditEntry
from billing.models import Customer, Subscription
from fleet.models import Instance, Organization
from tests.billing.instance_helpers import package
from tests.factories import CustomerFactory, PlanFactory

pytestmark = pytest.mark.django_db

# CR, LF, CRLF, NUL, TAB, NEL (a C1 line break) and the Unicode line separator, inside the
# name (a form trims them at the ends).
BAD = ["Acme\rSAS", "Acme\nSAS", "Acme\r\nBcc: x@evil.example", "Acme\x00SAS", "Acme\tSAS",
       "Acme\x85SAS", "Acme\u2028SAS"]  # fmt: skip


def _says(response, label: str) -> bool:
    return f"The {label} cannot contain line breaks or control characters." in (
        response.content.decode()
    )


@pytest.mark.parametrize("name", BAD)
def test_sign_up_refuses_the_company_name(client, name):
    response = client.post(
        reverse("portal:signup"),
        {"email": "founder@newco.example", "company_name": name, "country": "FR"},
    )
    assert response.status_code == 200 and _says(response, "company name")
    assert not SignUp.objects.exists() and mail.outbox == []


@pytest.mark.parametrize("field", ["name", "company"])
@pytest.mark.parametrize("name", BAD)
def test_contact_us_refuses_the_name_and_the_company(client, field, name):
    data = {
        "name": "Jeanne Martin",
        "company": "Bigcorp SA",
        "email": "jeanne@bigcorp.example",
        "message": "Hello",
        field: name,
    }
    response = client.post(reverse("portal:contact"), data)
    assert response.status_code == 200
    assert _says(response, {"name": "name", "company": "company name"}[field])
    assert not ContactRequest.objects.exists() and mail.outbox == []


@pytest.mark.parametrize("name", BAD)
def test_account_information_refuses_the_company_name(client, customer, name):
    client.force_login(customer.contact)
    response = client.post(
        reverse("portal:account"),
        {
            "name": name,
            "address_line1": "2 avenue de l'Opéra",
            "postal_code": "75001",
            "city": "Paris",
            "country": customer.country,
            "vat_number": customer.vat_number,
        },
    )
    assert response.status_code == 400 and _says(response, "company name")
    assert Customer.objects.get(pk=customer.pk).name == "Acme SAS"
    assert not AuditEntry.objects.exists() and mail.outbox == []


@pytest.mark.parametrize("name", BAD)
def test_a_new_instance_refuses_the_name(client, customer, name):
    client.force_login(customer.contact)
    basic = package("basic", "10")
    response = client.post(
        "/instances/", {"name": name, "package": basic.pk, "expected_cpe_devices": "1"}
    )
    assert response.status_code == 400 and _says(response, "instance name")
    assert not Instance.objects.exists() and not AuditEntry.objects.exists()


def _customer_form(customer, **changes) -> dict:
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


@pytest.mark.parametrize("name", BAD)
def test_the_admin_customer_forms_refuse_the_company_name(staff_client, name):
    customer = CustomerFactory(name="Acme SAS")
    changed = staff_client.post(
        reverse("admin:billing_customer_change", args=[customer.pk]),
        _customer_form(customer, name=name),
    )
    assert changed.status_code == 200 and _says(changed, "company name")
    assert Customer.objects.get(pk=customer.pk).name == "Acme SAS"
    added = staff_client.post(
        reverse("admin:billing_customer_add"),
        {**_customer_form(customer, name=name), "contact_email": "new@acme.example"},
    )
    assert added.status_code == 200 and _says(added, "company name")
    assert Customer.objects.count() == 1
    assert not AuditEntry.objects.exclude(actor=None).exists()


@pytest.mark.parametrize("name", BAD)
def test_the_admin_subscription_and_organization_forms_refuse_the_name(staff_client, name):
    customer = CustomerFactory()
    added = staff_client.post(
        reverse("admin:billing_subscription_add"),
        {
            "customer": customer.pk,
            "organization_name": name,
            "plan": PlanFactory().pk,
            "quantity": "3",
            "start": "2026-11-01",
        },
    )
    assert added.status_code == 200 and _says(added, "organization name")
    assert not Subscription.objects.exists() and not Organization.objects.exists()
    organization = Organization.objects.create(name="Initech HQ")
    changed = staff_client.post(
        reverse("admin:fleet_organization_change", args=[organization.pk]),
        {
            "name": name,
            "devices-TOTAL_FORMS": "0",
            "devices-INITIAL_FORMS": "0",
            "devices-MIN_NUM_FORMS": "0",
            "devices-MAX_NUM_FORMS": "1000",
        },
    )
    assert changed.status_code == 200 and _says(changed, "organization name")
    assert Organization.objects.get(pk=organization.pk).name == "Initech HQ"
    assert not AuditEntry.objects.exclude(actor=None).exists()
