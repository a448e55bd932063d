"""SEPA direct debit: the mandate reference stored with the method (sandbox and Stripe),
shown on the Payment Method and Payments pages, and the pre-notification e-mailed before
each automatic debit (amount, debit date, mandate reference, creditor identifier)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse

from billing.models import Payment, PaymentMethod, PaymentStatus
from billing.services.collection import collection_attempt, collection_start
from billing.services.payments import payment_record_bank_transfer
from tests.billing.payment_helpers import open_invoice, saved_method
from tests.factories import SubscriptionFactory
from tests.portal.test_payment_pages import body, save_method

pytestmark = pytest.mark.django_db

IBAN = "DE89 3704 0044 0532 0130 00"


def _start(invoice, capture):
    with capture(execute=True), transaction.atomic():
        collection_start(invoice_ids=[invoice.pk], today=invoice.issued_on)
    invoice.refresh_from_db()
    return invoice


def _prenotifications():
    return [m for m in mail.outbox if "SEPA direct debit of" in m.subject]


def test_a_sepa_mandate_saved_in_the_sandbox_has_a_reference_shown_on_both_pages(client, settings):
    settings.BILLING_SEPA_CREDITOR_ID = "FR12ZZZ123456"
    subscription = SubscriptionFactory()
    client.force_login(subscription.customer.contact)
    save_method(client, "sepa_debit", iban=IBAN, holder="Acme")
    method = PaymentMethod.objects.get()
    assert len(method.mandate_ref) == 16 and method.mandate_ref.isalnum()

    page = body(client.get(reverse("portal:payment_method")))
    assert f"Mandate reference <code>{method.mandate_ref}</code>" in page
    assert "creditor identifier <code>FR12ZZZ123456</code>" in page

    from billing.services.payments import payment_charge_method

    payment_charge_method(
        invoice=open_invoice(subscription.customer), method=method, actor=None, off_session=False
    )
    page = body(client.get(reverse("portal:payments")))
    assert f"mandate {method.mandate_ref}" in page


def test_a_sepa_mandate_saved_through_stripe_keeps_its_reference(client, fake_stripe):
    subscription = SubscriptionFactory()
    customer = subscription.customer
    client.force_login(customer.contact)
    response = client.post(reverse("portal:payment_method_add"), {"kind": "sepa_debit"})
    (session_id,) = fake_stripe.sessions
    fake_stripe.complete_checkout(session_id, "pm_sepa_debit")
    assert response.status_code == 302
    client.get(reverse("portal:payment_method_added"), {"session_id": session_id})
    method = PaymentMethod.objects.get(customer=customer)
    assert (method.kind, method.mandate_ref) == ("sepa_debit", "FAKEMANDATE00001")


def test_an_automatic_sepa_debit_is_prenotified_as_it_starts(
    fake_stripe, settings, django_capture_on_commit_callbacks
):
    settings.BILLING_SEPA_CREDITOR_ID = "FR12ZZZ123456"
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_sepa_debit")
    PaymentMethod.objects.filter(pk=method.pk).update(mandate_ref="MANDATE0000000042")
    mail.outbox.clear()

    invoice = _start(invoice, django_capture_on_commit_callbacks)

    assert Payment.objects.get().status == PaymentStatus.PENDING  # the debit was sent
    (notice,) = _prenotifications()
    assert notice.to == [invoice.customer.email]
    assert f"SEPA direct debit of 48.00 EUR for invoice {invoice.number}" in notice.subject
    day = invoice.issued_on
    assert f"on {day.day} {day:%B %Y}" in notice.body
    assert "Mandate reference: MANDATE0000000042" in notice.body
    assert "Creditor identifier: FR12ZZZ123456" in notice.body
    assert "ending 4242" in notice.body


def test_each_retry_of_a_sepa_debit_is_prenotified_again(
    fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    saved_method(invoice.customer, "pm_sepa_debit")
    _start(invoice, django_capture_on_commit_callbacks)
    Payment.objects.update(status=PaymentStatus.FAILED)  # the bank refused it
    retry_on = invoice.issued_on + timedelta(days=1)
    invoice.__class__.objects.filter(pk=invoice.pk).update(next_collection_on=retry_on)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        collection_attempt(invoice_id=invoice.pk, today=retry_on)

    (notice,) = _prenotifications()
    assert f"on {retry_on.day} {retry_on:%B %Y}" in notice.body
    assert Payment.objects.count() == 2


def test_a_card_collection_sends_no_sepa_notice_and_nothing_due_sends_none(
    fake_stripe, django_capture_on_commit_callbacks
):
    card_invoice = open_invoice()
    saved_method(card_invoice.customer, "pm_card_visa")
    mail.outbox.clear()
    _start(card_invoice, django_capture_on_commit_callbacks)
    assert _prenotifications() == []

    paid = open_invoice()
    saved_method(paid.customer, "pm_sepa_debit")
    payment_record_bank_transfer(invoice=paid, amount=paid.total.amount, actor="staff")
    mail.outbox.clear()
    _start(paid, django_capture_on_commit_callbacks)
    assert _prenotifications() == []
    assert Payment.objects.filter(customer=paid.customer).count() == 1  # the transfer only
