"""Pay all open invoices at once, over HTTP: one gateway charge of their sum (one Payment
row, one idempotency key, one allocation per invoice), through the sandbox and through
the real Stripe SDK against tests/fakes/stripe_server.py. Every refusal is checked to
charge nothing and change nothing."""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from billing.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentAllocation,
    PaymentStatus,
    SandboxKind,
    SandboxRecord,
)
from billing.services.credit_notes import credit_note_issue
from billing.services.payments import payment_record_bank_transfer, payment_reverse
from tests.billing.payment_helpers import post_stripe, saved_method, stripe_event
from tests.factories import SubscriptionFactory
from tests.portal.test_payment_pages import body, open_invoice, save_card, save_method

pytestmark = pytest.mark.django_db

PAY_ALL = reverse("portal:invoices_pay_all")


@pytest.fixture
def acme(client):
    subscription = SubscriptionFactory(organization_name="Acme Paris")
    client.force_login(subscription.customer.contact)
    client.customer = subscription.customer
    client.subscription = subscription
    return client


def three_invoices(customer) -> list[Invoice]:
    """48.00 EUR each (10 x 4.00 + 20% VAT): 144.00 EUR in all."""
    return [open_invoice(customer) for _ in range(3)]


def shown_terms(client) -> dict:
    """The hidden fields of the page's first form, as the page shows them now."""
    page = body(client.get(PAY_ALL))
    return {
        "terms": re.search(r'name="terms" value="([^"]*)"', page).group(1),
        "total": re.search(r'name="total" value="([^"]*)"', page).group(1),
    }


def pay_saved(client, terms: dict):
    method = client.customer.payment_methods.filter(kind__in=["card", "sepa_debit"]).first()
    return client.post(PAY_ALL, {"how": "saved", "method": method.pk, **terms})


def receipts() -> list:
    return [m for m in mail.outbox if "payment received" in m.subject]


def sandbox_charges() -> int:
    return SandboxRecord.objects.filter(kind=SandboxKind.CHARGE).count()


def assert_nothing_charged(invoices, *, payments_before: int) -> None:
    assert Payment.objects.count() == payments_before
    assert sandbox_charges() == 0
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.OPEN
        assert invoice.amount_due == invoice.total
    assert receipts() == []


def test_the_overview_and_the_invoices_page_offer_to_pay_all_from_two_invoices(acme):
    open_invoice(acme.customer)
    for page in (reverse("portal:subscriptions"), reverse("portal:invoices")):
        assert "data-pay-all-link" not in body(acme.get(page))
    open_invoice(acme.customer)
    for page in (reverse("portal:subscriptions"), reverse("portal:invoices")):
        assert "Pay all 2 open invoices at once: 96.00 EUR" in body(acme.get(page))


def test_pay_all_with_the_saved_card_is_one_charge_and_pays_every_invoice(
    acme, django_capture_on_commit_callbacks
):
    save_card(acme)
    invoices = three_invoices(acme.customer)
    page = body(acme.get(PAY_ALL))
    assert "144.00 EUR" in page
    for invoice in invoices:
        assert f'data-pay-all-invoice="{invoice.number}"' in page
    # Not PayPal (said), and the bank transfer quotes every number.
    assert "PayPal pays one invoice at a time" in page
    quoted = re.search(r"data-transfer-reference>([^<]*)<", page).group(1)
    assert quoted.split() == [invoice.number for invoice in invoices]
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = pay_saved(acme, shown_terms(acme))

    assert response["Location"] == reverse("portal:invoices")
    numbers = ", ".join(invoice.number for invoice in invoices)
    assert f"Thank you: 144.00 EUR received. Invoices {numbers} are paid." in body(
        acme.get(response["Location"])
    )
    payment = Payment.objects.get()
    assert (payment.amount, payment.status, payment.invoice) == (
        Decimal("144.00"),
        PaymentStatus.SUCCEEDED,
        None,
    )
    assert payment.idempotency_key == f"test:customer-{acme.customer.pk}-invoices-pay-1"
    assert sandbox_charges() == 1
    charge = SandboxRecord.objects.get(kind=SandboxKind.CHARGE)
    assert charge.payload["amount"] == "144.00"
    assert sorted(payment.allocations.values_list("invoice_id", "amount")) == [
        (invoice.pk, Decimal("48.00")) for invoice in invoices
    ]
    for invoice in invoices:
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.PAID, 0)
    # One receipt per invoice, each once.
    assert sorted(m.subject.rsplit(" ", 1)[1] for m in receipts()) == [i.number for i in invoices]
    assert not acme.customer.credit_entries.exists()

    # The Payments page shows the one payment and the invoices it paid.
    page = body(acme.get(reverse("portal:payments")))
    assert page.count("data-payment=") == 1
    for invoice in invoices:
        assert f'data-allocation="{invoice.number}"' in page
    # Each invoice's page lists it, said to be one payment of three invoices.
    page = body(acme.get(reverse("portal:invoice_detail", args=[invoices[0].number])))
    assert "one payment of 3 invoices" in page
    # The receipt says what it paid.
    assert acme.get(reverse("portal:payment_receipt", args=[payment.pk])).status_code == 200


def test_pay_all_with_a_new_card_on_the_hosted_page(acme, django_capture_on_commit_callbacks):
    from billing.gateways import sandbox

    three_invoices(acme.customer)
    terms = shown_terms(acme)
    response = acme.post(PAY_ALL, {"how": "new_card", **terms})
    session_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    sandbox.sandbox_payment_pay(
        session_id, card_number="4242 4242 4242 4242", exp_month=12, exp_year=2034
    )
    success = sandbox.sandbox_success_url(sandbox.sandbox_session(session_id))
    assert success.startswith("http://testserver/invoices/pay-all/card/?session_id=")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        page = body(acme.get(success.removeprefix("http://testserver"), follow=True))
    assert "144.00 EUR received" in page
    assert Payment.objects.get().status == PaymentStatus.SUCCEEDED
    assert all(
        i.status == InvoiceStatus.PAID for i in Invoice.objects.filter(customer=acme.customer)
    )
    assert len(receipts()) == 3


def test_pay_all_through_stripe_is_one_payment_intent_of_the_sum(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory()
    customer = subscription.customer
    client.force_login(customer.contact)
    client.customer = customer
    saved_method(customer, "pm_card_visa")
    invoices = three_invoices(customer)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = pay_saved(client, shown_terms(client))

    assert response["Location"] == reverse("portal:invoices")
    (sent,) = fake_stripe.requests_to("POST", "/v1/payment_intents")
    assert sent.params["amount"] == "14400"  # 144.00 EUR in cents, exactly
    assert sent.params["currency"] == "eur"
    payment = Payment.objects.get()
    assert sent.idempotency_key == payment.idempotency_key
    assert sent.idempotency_key == f"test:customer-{customer.pk}-invoices-pay-1"
    assert sent.params["metadata"]["reference"] == f"PAY-{payment.pk}"
    assert sent.params["metadata"]["invoices"] == ",".join(i.number for i in invoices)
    assert all(i.status == InvoiceStatus.PAID for i in Invoice.objects.filter(customer=customer))
    assert len(receipts()) == 3

    # Stripe's webhook for the same charge comes later: nothing twice.
    with django_capture_on_commit_callbacks(execute=True):
        intent = {
            "id": payment.gateway_ref,
            "object": "payment_intent",
            "amount": 14400,
            "currency": "eur",
            "metadata": {"payment": str(payment.pk)},
        }
        assert (
            post_stripe(client, stripe_event("payment_intent.succeeded", intent)).status_code == 200
        )
    assert len(receipts()) == 3
    assert len(fake_stripe.requests_to("POST", "/v1/payment_intents")) == 1
    assert not customer.credit_entries.exists()


def _paid_meanwhile(invoices):
    payment_record_bank_transfer(invoice=invoices[1], amount=Decimal("48.00"), actor="staff")


def _on_its_way_meanwhile(invoices):
    Payment.objects.create(
        customer=invoices[1].customer,
        invoice=invoices[1],
        method_kind="sepa_debit",
        gateway="sandbox",
        amount=Decimal("48.00"),
        currency="EUR",
        status=PaymentStatus.PENDING,
        idempotency_key="test:elsewhere-1",
    )


def _credited_meanwhile(invoices):
    credit_note_issue(
        invoice=invoices[1], amount=Decimal("12.00"), reason="goodwill", actor="staff"
    )


@pytest.mark.parametrize(
    "change",
    [_paid_meanwhile, _on_its_way_meanwhile, _credited_meanwhile],
    ids=lambda f: f.__name__,
)
def test_a_stale_preview_is_refused_and_nothing_is_charged(
    acme, change, django_capture_on_commit_callbacks
):
    save_card(acme)
    invoices = three_invoices(acme.customer)
    terms = shown_terms(acme)
    change(invoices)
    untouched = [invoices[0], invoices[2]]
    payments_before = Payment.objects.count()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = pay_saved(acme, terms)

    assert response["Location"] == PAY_ALL
    page = body(acme.get(PAY_ALL))
    assert f"Invoice {invoices[1].number} changed since the page was shown" in page
    assert "Nothing was charged" in page
    assert not PaymentAllocation.objects.exists()
    assert_nothing_charged(untouched, payments_before=payments_before)


def test_another_customers_invoice_in_the_post_is_a_404_and_nothing_is_charged(acme):
    save_card(acme)
    mine = three_invoices(acme.customer)
    theirs = open_invoice(SubscriptionFactory(organization_name="Bravo HQ").customer)
    terms = shown_terms(acme)
    terms["terms"] += f" {theirs.number}=48.00"
    terms["total"] = "192.00"
    mail.outbox.clear()

    assert pay_saved(acme, terms).status_code == 404

    assert_nothing_charged([*mine, theirs], payments_before=0)


def test_paypal_is_refused_saying_why_and_nothing_is_charged(acme):
    invoices = three_invoices(acme.customer)
    terms = shown_terms(acme)
    response = acme.post(PAY_ALL, {"how": "paypal", **terms})
    assert response["Location"] == PAY_ALL
    assert "PayPal pays one invoice at a time" in body(acme.get(PAY_ALL))
    assert_nothing_charged(invoices, payments_before=0)


def test_a_sepa_debit_of_all_is_on_its_way_then_a_bank_return_reopens_each_invoice(
    acme, django_capture_on_commit_callbacks
):
    save_method(acme, "sepa_debit", iban="DE89 3704 0044 0532 0130 00", holder="Acme")
    invoices = three_invoices(acme.customer)
    page = body(acme.get(pay_saved(acme, shown_terms(acme))["Location"]))
    assert "is on its way: your bank confirms it within a few days" in page
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.PENDING
    # Each invoice says a payment is on its way, and pay-all offers nothing more.
    page = body(acme.get(reverse("portal:invoice_pay", args=[invoices[0].number])))
    assert "already on its way" in page
    assert "data-pay-all-unavailable" in body(acme.get(PAY_ALL))

    from billing.gateways import interface as gw
    from billing.services.payments import payment_record_result

    payment_record_result(
        payment=payment,
        result=gw.ChargeResult(
            status=gw.SUCCEEDED,
            gateway_ref=payment.gateway_ref,
            amount=payment.amount,
            currency="EUR",
        ),
        actor="test",
    )
    assert all(
        i.status == InvoiceStatus.PAID for i in Invoice.objects.filter(customer=acme.customer)
    )
    payment_reverse(payment=payment, reason="debit failed at the bank", actor="test")
    for invoice in invoices:
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.OPEN, Decimal("48.00"))
