"""A hosted session belongs to the customer who opened it (docs/RULES.md), over HTTP:
customer B, logged in, comes back to each return page with customer A's real session,
order or charge id, finished at the gateway. The page says so, and nothing changes for
either customer: no payment method, no payment recorded, no invoice paid, no balance or
credit entry, no audit row, no e-mail (on-commit callbacks run). Each runs on the sandbox
and on Stripe through the real SDK against tests/fakes/stripe_server.py (PayPal: the
sandbox and tests/fakes/paypal_server.py). A's own return is then honoured, to show the
id was a live one."""

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from billing.gateways import sandbox
from billing.models import PaymentMethod, PaymentStatus
from tests.factories import CustomerFactory
from tests.ownership_helpers import (
    NOT_YOURS,
    hosted_payment,
    paypal_payment,
    setup_session_finished,
    snapshot,
    three_d_secure_payment,
    top_up_payment,
)
from tests.portal.test_payment_pages import body, open_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna():
    return CustomerFactory(name="Anna SAS")


@pytest.fixture
def bruno_client():
    bruno = CustomerFactory(name="Bruno SARL")
    client = Client()
    client.force_login(bruno.contact)
    client.customer = bruno
    return client


def client_of(customer) -> Client:
    client = Client()
    client.force_login(customer.contact)
    return client


def visit_changes_nothing(client, url, query, capture) -> str:
    """B's visit, with on-commit callbacks run: returns the page B ends on and checks
    that nothing changed and no e-mail went out."""
    before = snapshot()
    mail.outbox = []
    with capture(execute=True):
        page = body(client.get(url, query, follow=True))
    assert snapshot() == before
    assert mail.outbox == []
    return page


@pytest.mark.parametrize("kind", ["card", "sepa_debit"])
def test_payment_method_added_refuses_another_customers_session(
    anna, bruno_client, card_fake, kind, django_capture_on_commit_callbacks
):
    session_id = setup_session_finished(anna, kind=kind, fake_stripe=card_fake)
    url = reverse("portal:payment_method_added")
    page = visit_changes_nothing(
        bruno_client, url, {"session_id": session_id}, django_capture_on_commit_callbacks
    )
    assert f"{NOT_YOURS} Nothing was saved." in page
    assert not PaymentMethod.objects.exists()
    if card_fake is not None:  # A's method is still A's at Stripe: not detached
        anna.refresh_from_db()
        method = card_fake.payment_methods["pm_card_visa" if kind == "card" else "pm_sepa_debit"]
        assert method["customer"] == anna.gateway_customer_ref
    # A's own return saves it: the id B presented was a live one.
    page = body(client_of(anna).get(url, {"session_id": session_id}, follow=True))
    assert "is saved" in page
    assert PaymentMethod.objects.get().customer == anna


def test_invoice_card_return_refuses_another_customers_session(
    anna, bruno_client, card_fake, django_capture_on_commit_callbacks
):
    a_invoice = open_invoice(anna)
    a_payment = hosted_payment(a_invoice, fake_stripe=card_fake)
    b_invoice = open_invoice(bruno_client.customer)
    hosted_payment(b_invoice, fake_stripe=card_fake, pay=False)  # B's own attempt, open
    query = {"session_id": a_payment.gateway_ref}
    url = reverse("portal:invoice_pay_card_return", args=[b_invoice.number])
    page = visit_changes_nothing(bruno_client, url, query, django_capture_on_commit_callbacks)
    assert "This payment was not found." in page
    a_url = reverse("portal:invoice_pay_card_return", args=[a_invoice.number])
    assert bruno_client.get(a_url, query).status_code == 404  # A's invoice is not B's
    a_payment.refresh_from_db()
    assert a_payment.status == PaymentStatus.REQUIRES_ACTION
    client_of(anna).get(a_url, query)
    a_payment.refresh_from_db()
    assert a_payment.status == PaymentStatus.SUCCEEDED


def test_top_up_return_refuses_another_customers_session(
    anna, bruno_client, card_fake, django_capture_on_commit_callbacks
):
    a_payment = top_up_payment(anna, fake_stripe=card_fake)
    top_up_payment(bruno_client.customer, fake_stripe=card_fake, pay=False)
    query = {"payment": a_payment.pk, "session_id": a_payment.gateway_ref}
    url = reverse("portal:balance_top_up_return")
    page = visit_changes_nothing(bruno_client, url, query, django_capture_on_commit_callbacks)
    assert "This top-up was not found." in page
    a_payment.refresh_from_db()
    assert a_payment.status == PaymentStatus.REQUIRES_ACTION
    client_of(anna).get(url, query)
    anna.refresh_from_db()
    assert anna.balance == 50


def test_paypal_return_refuses_another_customers_order(
    anna, bruno_client, paypal_fake, django_capture_on_commit_callbacks
):
    a_invoice = open_invoice(anna)
    a_payment = paypal_payment(a_invoice, fake_paypal=paypal_fake)
    b_invoice = open_invoice(bruno_client.customer)
    paypal_payment(b_invoice, fake_paypal=paypal_fake, approve=False)
    query = {"token": a_payment.gateway_ref}
    url = reverse("portal:invoice_pay_paypal_return", args=[b_invoice.number])
    page = visit_changes_nothing(bruno_client, url, query, django_capture_on_commit_callbacks)
    assert "This PayPal payment was not found." in page
    # A's order was not captured at the gateway either.
    if paypal_fake is not None:
        assert paypal_fake.calls("/capture") == []
    else:
        assert sandbox.sandbox_order(a_payment.gateway_ref).payload["status"] == "APPROVED"
    a_url = reverse("portal:invoice_pay_paypal_return", args=[a_invoice.number])
    client_of(anna).get(a_url, query)
    a_payment.refresh_from_db()
    assert a_payment.status == PaymentStatus.SUCCEEDED


def test_three_d_secure_return_refuses_another_customers_charge(
    anna, bruno_client, card_fake, django_capture_on_commit_callbacks
):
    a_invoice = open_invoice(anna)
    a_payment = three_d_secure_payment(a_invoice, fake_stripe=card_fake)
    b_invoice = open_invoice(bruno_client.customer)
    three_d_secure_payment(b_invoice, fake_stripe=card_fake, authenticate=False)
    query = {"payment_intent": a_payment.gateway_ref}
    url = reverse("portal:invoice_pay_authenticated", args=[b_invoice.number])
    page = visit_changes_nothing(bruno_client, url, query, django_capture_on_commit_callbacks)
    assert "This payment was not found." in page
    a_url = reverse("portal:invoice_pay_authenticated", args=[a_invoice.number])
    assert bruno_client.get(a_url, query).status_code == 404
    client_of(anna).get(a_url, query)
    a_payment.refresh_from_db()
    assert a_payment.status == PaymentStatus.SUCCEEDED
