"""Access is strictly per customer. Customer A, logged in, tries every portal URL with
customer B's ids and gets 404 (never 403, never B's data); every page without ids shows A's
data only; the admin sends A to its login page.

Self-checking: the tables below must name every pattern of the `portal` namespace. A new
page that is in neither table fails `test_every_portal_url_is_in_a_table` with what to add.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing.models import (
    Customer,
    Invoice,
    Payment,
    PaymentMethod,
    PaymentMethodKind,
    Subscription,
)
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.payment_methods import payment_method_add_offline
from billing.services.payments import payment_record_bank_transfer
from fleet.models import Instance, InstancePackage, Organization
from tests.factories import CustomerFactory, StaffUserFactory, SubscriptionFactory, UserFactory
from tests.portal.conftest import code_from_mail

pytestmark = pytest.mark.django_db


@dataclass
class Holdings:
    """One customer's things, whose ids the other customer tries."""

    customer: Customer
    subscription: Subscription
    organization: Organization
    invoice: Invoice
    method: PaymentMethod

    def markers(self) -> list[str]:
        """Text that only this customer's pages show."""
        return [
            self.customer.name,
            self.customer.email,
            self.subscription.public_id,
            self.subscription.organization_name,
            self.invoice.number,
        ]


def instance_of(h: Holdings) -> Instance:
    """The customer's cloud instance (made on first use)."""
    package, _ = InstancePackage.objects.get_or_create(
        code="basic", defaults={"name": "Basic", "daily_price": Decimal("1.00")}
    )
    instance = Instance.objects.filter(customer=h.customer).first()
    return instance or Instance.objects.create(
        customer=h.customer, name=f"{h.customer.name} DMS", package=package
    )


def payment_of(h: Holdings) -> Payment:
    """A payment the customer made (a bank transfer received for part of its invoice)."""
    payment = Payment.objects.filter(customer=h.customer).first()
    return payment or payment_record_bank_transfer(
        invoice=h.invoice, amount=Decimal("1.00"), actor="test"
    )


# URL name -> the kwargs that point at customer B's object. Customer A must get 404 for
# each, by GET and by POST. Add a row for every new portal URL that takes ids.
PAGES_WITH_IDS: dict[str, Callable[[Holdings], dict]] = {
    "portal:subscription_edit": lambda b: {"public_id": b.subscription.public_id},
    "portal:subscription_preview": lambda b: {"public_id": b.subscription.public_id},
    "portal:invoice_detail": lambda b: {"number": b.invoice.number},
    "portal:invoice_pdf": lambda b: {"number": b.invoice.number},
    "portal:organization": lambda b: {"pk": b.organization.pk},
    "portal:invoice_pay": lambda b: {"number": b.invoice.number},
    "portal:invoice_pay_authenticated": lambda b: {"number": b.invoice.number},
    "portal:invoice_pay_card_return": lambda b: {"number": b.invoice.number},
    "portal:invoice_pay_paypal_return": lambda b: {"number": b.invoice.number},
    "portal:invoice_pay_cancelled": lambda b: {"number": b.invoice.number},
    "portal:payment_method_default": lambda b: {"pk": b.method.pk},
    "portal:payment_method_remove": lambda b: {"pk": b.method.pk},
    "portal:instance_enable": lambda b: {"pk": instance_of(b).pk},
    "portal:instance_disable": lambda b: {"pk": instance_of(b).pk},
    "portal:instance_edit": lambda b: {"pk": instance_of(b).pk},
    "portal:payment_receipt": lambda b: {"pk": payment_of(b).pk},
}

# URL names without ids: GET as customer A shows A's data only (or redirects, or refuses
# the method). Values: text of A's that the page must show (empty: nothing in particular).
PAGES_WITHOUT_IDS: dict[str, Callable[[Holdings], list[str]]] = {
    "portal:home": lambda a: [a.subscription.public_id],
    "portal:login": lambda a: [a.customer.name],
    "portal:login_code": lambda a: [a.customer.name],
    "portal:login_code_resend": lambda a: [],
    "portal:login_password": lambda a: [a.customer.name],
    "portal:logout": lambda a: [],
    # Public pages (sign-up and Contact Us): a logged-in customer sees them with its header.
    "portal:signup": lambda a: [a.customer.name],
    "portal:signup_sent": lambda a: [a.customer.name],
    "portal:signup_resend": lambda a: [],
    "portal:signup_confirm": lambda a: [a.customer.name],
    "portal:signup_welcome": lambda a: [a.customer.name, a.customer.email],
    "portal:contact": lambda a: [a.customer.name],
    "portal:subscriptions": lambda a: [a.subscription.public_id, a.subscription.organization_name],
    "portal:invoices": lambda a: [a.invoice.number],
    # Pay all: A's own open invoices; the returns find no payment of A's and say so.
    "portal:invoices_pay_all": lambda a: [a.customer.name],
    "portal:invoices_pay_all_authenticated": lambda a: [],
    "portal:invoices_pay_all_card_return": lambda a: [],
    "portal:invoices_pay_all_cancelled": lambda a: [],
    "portal:payment_method": lambda a: [a.customer.name],
    "portal:payment_method_add": lambda a: [],
    "portal:payment_method_added": lambda a: [a.customer.name],
    "portal:payment_method_cancelled": lambda a: [a.customer.name],
    "portal:payment_method_add_offline": lambda a: [],
    "portal:balance": lambda a: [a.customer.name],
    "portal:balance_top_up": lambda a: [],  # POST only
    "portal:balance_top_up_return": lambda a: [a.customer.name],  # no payment: "not found"
    "portal:balance_ledger_csv": lambda a: [],  # a CSV of A's ledger (no names in it)
    "portal:balance_auto_top_up": lambda a: [a.customer.name],  # GET: back to the balance
    "portal:credit": lambda a: [a.customer.name],
    "portal:payments": lambda a: [a.customer.name],  # test_payments_page.py: with payments
    "portal:instances": lambda a: [a.customer.name],
    "portal:account": lambda a: [a.customer.name, a.customer.email],
    "portal:account_password": lambda a: [a.customer.name],
}


def portal_url_patterns() -> dict[str, list[str]]:
    """Every named pattern of the `portal` namespace, with the kwargs its route takes."""
    _prefix, resolver = get_resolver().namespace_dict["portal"]
    found: dict[str, list[str]] = {}

    def walk(patterns, namespace: str, inherited: list[str]):
        for entry in patterns:
            kwargs = inherited + _route_kwargs(entry)
            if isinstance(entry, URLResolver):
                inner = f"{namespace}:{entry.namespace}" if entry.namespace else namespace
                walk(entry.url_patterns, inner, kwargs)
            elif isinstance(entry, URLPattern):
                assert entry.name, f"{entry.pattern} in the {namespace} namespace has no name"
                found[f"{namespace}:{entry.name}"] = sorted(kwargs)

    walk(resolver.url_patterns, "portal", [])
    return found


def _route_kwargs(entry) -> list[str]:
    pattern = entry.pattern
    if hasattr(pattern, "converters"):  # path()
        return list(pattern.converters)
    return list(pattern.regex.groupindex)  # re_path()


def holdings(name: str) -> Holdings:
    subscription = SubscriptionFactory(
        customer=CustomerFactory(name=f"{name} Corp"), organization_name=f"{name} HQ"
    )
    invoice = invoice_create_draft(customer=subscription.customer, subscription=subscription)
    invoice_add_line(
        invoice=invoice, description="Core monthly", quantity=3, unit_price=Decimal("4.00")
    )
    invoice = invoice_finalize(invoice=invoice, actor=None)
    method = payment_method_add_offline(
        customer=subscription.customer, kind=PaymentMethodKind.BANK_TRANSFER, actor=None
    )
    return Holdings(
        customer=subscription.customer,
        subscription=subscription,
        organization=subscription.organization,
        invoice=invoice,
        method=method,
    )


@pytest.fixture
def a_and_b(client):
    a, b = holdings("Alpha"), holdings("Bravo")
    client.force_login(a.customer.contact)
    return client, a, b


def test_customer_a_gets_404_for_customer_b_credit_note(a_and_b):
    """Credit notes share the invoices' URLs (/invoices/CN-…/): same scoping."""
    client, a, b = a_and_b
    note = credit_note_issue(invoice=b.invoice, amount="2.00", reason="Goodwill", actor=None)
    for name in ("portal:invoice_detail", "portal:invoice_pdf"):
        url = reverse(name, kwargs={"number": note.number})
        response = client.get(url)
        assert response.status_code == 404, f"{name} as A with B's {note.number}"
        body = response.content.decode(errors="replace")
        for marker in [*b.markers(), note.number, "Goodwill"]:
            assert marker not in body, f"{name} shows B's {marker!r}"
        owner = Client()
        owner.force_login(b.customer.contact)
        assert owner.get(url).status_code == 200
    for name in ("portal:invoices", "portal:credit"):
        body = client.get(reverse(name)).content.decode()
        assert note.number not in body and "Goodwill" not in body, name


def test_every_portal_url_is_in_a_table():
    patterns = portal_url_patterns()
    problems = []
    for name, kwargs in sorted(patterns.items()):
        if kwargs and name not in PAGES_WITH_IDS:
            problems.append(
                f"{name} takes {kwargs} but is not in PAGES_WITH_IDS of "
                "tests/portal/test_access_scoping.py: add a row giving customer B's ids "
                "(customer A must get 404)."
            )
        if not kwargs and name not in PAGES_WITHOUT_IDS:
            problems.append(
                f"{name} is not in PAGES_WITHOUT_IDS of tests/portal/test_access_scoping.py: "
                "add a row with what of customer A's it shows."
            )
    for name in sorted({*PAGES_WITH_IDS, *PAGES_WITHOUT_IDS} - set(patterns)):
        problems.append(f"{name} is in a table but not in portal.urls: remove its row.")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(PAGES_WITH_IDS))
def test_customer_a_gets_404_for_customer_b_ids(a_and_b, name):
    client, a, b = a_and_b
    kwargs = PAGES_WITH_IDS[name](b)
    assert sorted(kwargs) == portal_url_patterns()[name], f"{name}: kwargs differ from the route"
    url = reverse(name, kwargs=kwargs)
    answered = []
    for method in (client.get, client.post):
        response = method(url)
        if response.status_code == 405:
            continue
        answered.append(response.status_code)
        body = response.content.decode(errors="replace")
        assert response.status_code == 404, f"{name} as A with B's ids: {response.status_code}"
        for marker in b.markers():
            assert marker not in body, f"{name} shows B's {marker!r}"
    assert answered, f"{name} answered neither GET nor POST"
    # B's own ids work for B: the 404 is about ownership, not a broken row.
    owner = Client()
    owner.force_login(b.customer.contact)
    assert owner.get(url).status_code in (200, 302, 405)


@pytest.mark.parametrize("name", sorted(PAGES_WITHOUT_IDS))
def test_pages_without_ids_show_only_the_customer_s_own_data(a_and_b, name):
    client, a, b = a_and_b
    response = client.get(reverse(name), follow=True)
    assert response.status_code in (200, 405), f"{name}: {response.status_code}"
    body = response.content.decode()
    for marker in b.markers():
        assert marker not in body, f"{name} shows B's {marker!r}"
    if response.status_code == 200:
        for marker in PAGES_WITHOUT_IDS[name](a):
            assert marker in body, f"{name} does not show A's {marker!r}"


def test_a_customer_never_reaches_the_admin(a_and_b):
    _client, a, b = a_and_b
    # Logged in the real way: by code, so the session is OTP-verified (django-otp).
    client = Client()
    contact = a.customer.contact
    contact.set_password("tulip-orbit-42")
    contact.save()
    client.post(reverse("portal:login"), {"email": contact.email})
    client.post(reverse("portal:login_code"), {"code": code_from_mail(contact.email)})
    assert client.get(reverse("portal:subscriptions")).status_code == 200
    for url in (
        reverse("admin:index"),
        reverse("admin:billing_customer_changelist"),
        reverse("admin:billing_customer_change", args=[a.customer.pk]),
        reverse("admin:billing_customer_change", args=[b.customer.pk]),
        reverse("admin:billing_invoice_change", args=[b.invoice.pk]),
        reverse("admin:billing_customer_change_contact", args=[a.customer.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    # Nor with the portal password on the admin's login form.
    response = client.post(
        reverse("admin:login"),
        {"email": contact.email, "password": "tulip-orbit-42", "code": "123456"},
    )
    assert response.status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302


def test_staff_and_orphan_users_are_not_customers_in_the_portal(client):
    holdings("Alpha")
    for user in (StaffUserFactory(), UserFactory()):
        client.force_login(user)
        for name in ("portal:subscriptions", "portal:invoices", "portal:account"):
            assert client.get(reverse(name)).status_code == 404, (user, name)
