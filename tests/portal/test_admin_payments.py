"""The back office's payment tools: the Payments and Webhook events lists (read-only),
and the Refund action (amount, destination, reason, a preview, then the refund)."""

from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from audit.models import AuditEntry
from billing.models import (
    CreditEntry,
    CreditKind,
    CreditNote,
    Payment,
    PaymentStatus,
    Refund,
    WebhookEvent,
)
from billing.services.payments import payment_charge_method, payment_record_bank_transfer
from tests.billing.payment_helpers import open_invoice, saved_method
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

PAYMENTS = reverse("admin:billing_payment_changelist")
EVENTS = reverse("admin:billing_webhookevent_changelist")


def _stripe_payment():
    """48.00 EUR charged on a Visa card at the fake Stripe: the invoice is paid."""
    invoice = open_invoice(CustomerFactory(name="Initech SAS"))
    method = saved_method(invoice.customer, "pm_card_visa")
    payment = payment_charge_method(invoice=invoice, method=method, actor="test", off_session=True)
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


def _listed(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


# ---- lists ------------------------------------------------------------------------------


def test_the_payments_list_shows_searches_and_filters(staff_client, fake_stripe):
    card = _stripe_payment()
    transfer_invoice = open_invoice(CustomerFactory(name="Globex Inc"))
    transfer = payment_record_bank_transfer(
        invoice=transfer_invoice, amount=Decimal("20.00"), actor="staff", reference="VIR-778"
    )

    page = _listed(staff_client, PAYMENTS)
    for text in ("Initech SAS", card.invoice.number, "48.00 EUR", "Card", "Stripe", "Succeeded"):
        assert text in page
    assert "Globex Inc" in page and "Bank transfer" in page

    def only(page, payment, other):
        change = reverse("admin:billing_payment_change", args=[payment.pk])
        other_change = reverse("admin:billing_payment_change", args=[other.pk])
        return change in page and other_change not in page

    assert only(_listed(staff_client, PAYMENTS, q=card.invoice.number), card, transfer)
    assert only(_listed(staff_client, PAYMENTS, q=card.gateway_ref), card, transfer)
    assert only(_listed(staff_client, PAYMENTS, q="VIR-778"), transfer, card)
    assert only(_listed(staff_client, PAYMENTS, q="Globex"), transfer, card)
    assert only(_listed(staff_client, PAYMENTS, gateway="stripe"), card, transfer)
    assert only(_listed(staff_client, PAYMENTS, method_kind="bank_transfer"), transfer, card)
    assert only(
        _listed(staff_client, PAYMENTS, status="succeeded", gateway="offline"), transfer, card
    )


def test_payments_are_read_only(staff_client, fake_stripe):
    payment = _stripe_payment()
    assert staff_client.get(reverse("admin:billing_payment_add")).status_code == 403
    change = reverse("admin:billing_payment_change", args=[payment.pk])
    page = staff_client.get(change).content.decode()
    assert 'name="_save"' not in page
    assert reverse("admin:billing_payment_refund", args=[payment.pk]) in page
    staff_client.post(change, {"amount": "1.00", "status": "failed"})
    payment.refresh_from_db()
    assert (payment.amount, payment.status) == (Decimal("48.00"), PaymentStatus.SUCCEEDED)
    delete = reverse("admin:billing_payment_delete", args=[payment.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert Payment.objects.count() == 1


def test_the_webhook_events_list_shows_and_searches(staff_client):
    WebhookEvent.objects.create(
        provider="stripe",
        event_id="evt_1AAA",
        type="payment_intent.succeeded",
        payload={},
        outcome="payment 1: succeeded",
    )
    WebhookEvent.objects.create(
        provider="paypal",
        event_id="WH-2BBB",
        type="PAYMENT.CAPTURE.COMPLETED",
        payload={},
        outcome="ignored: no such payment",
    )
    page = _listed(staff_client, EVENTS)
    for text in ("evt_1AAA", "payment_intent.succeeded", "payment 1: succeeded", "WH-2BBB"):
        assert text in page
    by_id = _listed(staff_client, EVENTS, q="evt_1AAA")
    assert "evt_1AAA" in by_id and "WH-2BBB" not in by_id
    by_type = _listed(staff_client, EVENTS, q="PAYMENT.CAPTURE")
    assert "WH-2BBB" in by_type and "evt_1AAA" not in by_type
    paypal = _listed(staff_client, EVENTS, provider="paypal")
    assert "WH-2BBB" in paypal and "evt_1AAA" not in paypal
    assert staff_client.get(reverse("admin:billing_webhookevent_add")).status_code == 403


# ---- refund -----------------------------------------------------------------------------


def _refund_url(payment):
    return reverse("admin:billing_payment_refund", args=[payment.pk])


def test_refund_to_the_card_previews_then_refunds_at_stripe(staff_client, fake_stripe):
    payment = _stripe_payment()
    url = _refund_url(payment)
    form = {"amount": "12.00", "destination": "method", "reason": "Licences unused"}

    preview = staff_client.post(url, {**form, "_preview": "1"}).content.decode()
    assert "10.00 EUR + VAT 2.00 EUR" in preview
    assert "<strong>12.00 EUR</strong> goes back to the payment method" in preview
    assert not fake_stripe.requests_to("POST", "/v1/refunds")
    assert not Refund.objects.exists() and not CreditNote.objects.exists()

    response = staff_client.post(url, {**form, "_confirm": "1"})
    assert response.status_code == 302
    (sent,) = fake_stripe.requests_to("POST", "/v1/refunds")
    assert sent.params == {"payment_intent": payment.gateway_ref, "amount": "1200"}
    assert sent.idempotency_key == f"test:refund-{payment.pk}-1"
    refund = Refund.objects.get()
    assert (refund.amount, refund.destination) == (Decimal("12.00"), Refund.TO_METHOD)
    assert refund.gateway_ref.startswith("re_")
    note = refund.credit_note
    assert note.total.amount == Decimal("12.00")
    assert note.refunded == Decimal("10.00")
    assert note.credited.amount == 0
    assert not CreditEntry.objects.exists()  # the money went back to the card
    payment.refresh_from_db()
    assert payment.refunded == Decimal("12.00")
    assert AuditEntry.objects.filter(actor=staff_client.staff, action="payment.refund").exists()


def test_refund_as_credit_adds_a_credit_entry(staff_client, fake_stripe):
    payment = _stripe_payment()
    response = staff_client.post(
        _refund_url(payment),
        {"amount": "24.00", "destination": "credit", "reason": "Goodwill", "_confirm": "1"},
    )
    assert response.status_code == 302
    assert not fake_stripe.requests_to("POST", "/v1/refunds")  # no money moves
    refund = Refund.objects.get()
    assert refund.destination == Refund.TO_CREDIT
    entry = CreditEntry.objects.get()
    assert (entry.kind, entry.amount) == (CreditKind.CREDIT_NOTE, Decimal("20.00"))
    assert entry.credit_note == refund.credit_note
    payment.customer.refresh_from_db()
    assert payment.customer.credit_balance == Decimal("20.00")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"amount": "abc", "destination": "method", "reason": "x"}, "Enter the amount"),
        ({"amount": "0", "destination": "method", "reason": "x"}, "more than zero"),
        ({"amount": "1.001", "destination": "method", "reason": "x"}, "at most two decimals"),
        ({"amount": "48.01", "destination": "method", "reason": "x"}, "Only 48.00 EUR"),
        ({"amount": "5.00", "destination": "", "reason": "x"}, "Choose where the money goes"),
        ({"amount": "5.00", "destination": "method", "reason": " "}, "Say why"),
    ],
)
@pytest.mark.parametrize("step", ["_preview", "_confirm"])
def test_bad_refund_input_changes_nothing(staff_client, fake_stripe, form, message, step):
    payment = _stripe_payment()
    response = staff_client.post(_refund_url(payment), {**form, step: "1"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not fake_stripe.requests_to("POST", "/v1/refunds")
    _nothing_refunded(payment)


def _nothing_refunded(payment) -> None:
    """No refund, credit note or credit; the payment and its invoice as they were."""
    assert not Refund.objects.exists() and not CreditNote.objects.exists()
    assert not CreditEntry.objects.exists()
    payment.refresh_from_db()
    assert payment.refunded == 0
    assert payment.invoice.status == "paid"
    payment.customer.refresh_from_db()
    assert payment.customer.credit_balance == 0


def test_the_gateway_failing_a_refund_says_so_and_changes_nothing(
    staff_client, fake_stripe, django_capture_on_commit_callbacks
):
    payment = _stripe_payment()
    fake_stripe.fail_next(3)  # the first try and both SDK retries: 500
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            _refund_url(payment),
            {"amount": "12.00", "destination": "method", "reason": "Unused", "_confirm": "1"},
            follow=True,
        )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Stripe had a problem; try again later." in page
    _nothing_refunded(payment)
    assert mail.outbox == []
    assert not AuditEntry.objects.filter(action="payment.refund").exists()


def test_a_bank_transfer_is_not_refunded_to_its_method(staff_client):
    invoice = open_invoice()
    payment = payment_record_bank_transfer(invoice=invoice, amount=Decimal("48.00"), actor="s")
    response = staff_client.post(
        _refund_url(payment),
        {"amount": "12.00", "destination": "method", "reason": "x", "_confirm": "1"},
    )
    assert "A bank transfer is refunded by the bank" in response.content.decode()
    _nothing_refunded(payment)
