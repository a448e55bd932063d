"""The lifecycle real Stripe payments go through, by signed webhooks through the real SDK
(the fake Stripe answers the calls they make): a SEPA debit refused after it was pending,
disputes, refunds made in Stripe's dashboard, abandoned attempts, mandates and cards that
change, amounts that are not ours, a refused card that slipped through Checkout. Each
event acts once, replayed or out of order; failure paths change nothing."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client

from audit.models import AuditEntry
from billing.models import (
    BalanceEntry,
    BalanceKind,
    CreditNote,
    Customer,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    WebhookEvent,
)
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.payments import (
    payment_charge_method,
    payment_hosted_finish,
    payment_hosted_start,
)
from billing.services.top_ups import top_up_finish, top_up_start
from fleet.models import OrganizationMode
from tests.billing.payment_helpers import (
    intent_object,
    open_invoice,
    post_stripe,
    saved_method,
    stripe_event,
)
from tests.factories import CustomerFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _post(client, callbacks, type_, obj, **kwargs):
    with callbacks(execute=True):
        response = post_stripe(client, stripe_event(type_, obj, **kwargs))
    assert response.status_code == 200, response.content
    return response.content.decode()


def _staff_mail():
    return [m for m in mail.outbox if m.to == [settings.STAFF_ALERT_EMAIL]]


def _customer_mail(subject_part: str):
    return [
        m for m in mail.outbox if m.to != [settings.STAFF_ALERT_EMAIL] and subject_part in m.subject
    ]


def _audits(action: str, target) -> int:
    return AuditEntry.objects.filter(action=action, target_id=str(target.pk)).count()


@pytest.fixture
def card_paid(fake_stripe):
    """A 48.00 EUR invoice paid by a saved Visa card (the fake charges it at once)."""
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_card_visa")
    payment = payment_charge_method(invoice=invoice, method=method, actor="test", off_session=True)
    assert payment.status == PaymentStatus.SUCCEEDED
    mail.outbox.clear()
    return payment


def _dispute(payment, *, status="needs_response", dispute_id="dp_1"):
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": int(payment.amount * 100),
        "currency": "eur",
        "charge": "ch_1",
        "payment_intent": payment.gateway_ref,
        "reason": "fraudulent",
        "status": status,
    }


# ---- 1. a SEPA debit from the pay page, refused by the bank later ----------------------


def test_a_pay_page_sepa_debit_refused_later_emails_payment_failed_once(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_sepa_debit")
    payment = payment_charge_method(
        invoice=invoice, method=method, actor="customer", off_session=False
    )
    assert payment.status == PaymentStatus.PENDING
    mail.outbox.clear()
    failed = intent_object(
        payment,
        status="requires_payment_method",
        last_payment_error={"code": "insufficient_funds", "message": "The account is empty."},
    )
    body = stripe_event("payment_intent.payment_failed", failed, event_id="evt_sepa_failed")
    with django_capture_on_commit_callbacks(execute=True):
        assert post_stripe(client, body).content == f"payment {payment.pk}: failed".encode()
        assert post_stripe(client, body).content == b"duplicate"
    # The same failure under another event id (Stripe's payment_intent.payment_failed and
    # a retried one): the payment is final already, nobody is e-mailed twice.
    _post(client, django_capture_on_commit_callbacks, "payment_intent.payment_failed", failed)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    [email] = _customer_mail("failed")
    assert f"/invoices/{invoice.number}/" in email.body
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.OPEN
    assert invoice.amount_due.amount == Decimal("48.00")


def test_a_sepa_debit_returned_after_success_reopens_and_emails_once(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_sepa_debit")
    payment = payment_charge_method(invoice=invoice, method=method, actor="test", off_session=True)
    _post(
        client,
        django_capture_on_commit_callbacks,
        "payment_intent.succeeded",
        intent_object(payment),
    )
    mail.outbox.clear()
    returned = intent_object(
        payment,
        status="requires_payment_method",
        last_payment_error={"code": "sepa_debit_failed", "message": "Account closed."},
    )
    outcomes = [  # the second under another event id
        _post(client, django_capture_on_commit_callbacks, "payment_intent.payment_failed", returned)
        for _ in range(2)
    ]
    assert outcomes == [
        f"payment {payment.pk}: reversed",
        f"ignored: payment {payment.pk} already reversed",
    ]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.OPEN, Decimal("48.00"))
    [email] = _customer_mail("failed")
    assert f"/invoices/{invoice.number}/" in email.body


# ---- 2. disputes ----------------------------------------------------------------------


def test_a_dispute_reopens_the_invoice_alerts_staff_and_is_won_back(
    client, card_paid, django_capture_on_commit_callbacks
):
    payment = card_paid
    opened = _post(
        client, django_capture_on_commit_callbacks, "charge.dispute.created", _dispute(payment)
    )
    assert opened == f"payment {payment.pk}: reversed"
    payment.refresh_from_db()
    invoice = payment.invoice
    assert payment.status == PaymentStatus.REVERSED
    assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.OPEN, Decimal("48.00"))
    [alert] = _staff_mail()
    assert "dp_1" in alert.body and invoice.number in alert.body
    assert _audits("payment.dispute_opened", payment) == 1
    # Replayed under another id: reversed once, one alert.
    _post(client, django_capture_on_commit_callbacks, "charge.dispute.created", _dispute(payment))
    assert len(_staff_mail()) == 1
    assert _audits("payment.reversed", payment) == 1

    mail.outbox.clear()
    won = _post(
        client,
        django_capture_on_commit_callbacks,
        "charge.dispute.closed",
        _dispute(payment, status="won"),
    )
    assert won == f"payment {payment.pk}: dispute won, succeeded again"
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.PAID, Decimal("0.00"))
    assert len(_customer_mail("payment received")) == 1  # not "please pay"
    # Won replayed: paid once.
    _post(
        client,
        django_capture_on_commit_callbacks,
        "charge.dispute.closed",
        _dispute(payment, status="won"),
    )
    assert AuditEntry.objects.filter(action="invoice.paid", target_id=str(invoice.pk)).count() == 2
    assert _audits("payment.dispute_won", payment) == 1


def test_a_lost_dispute_stays_reversed_and_is_audited(
    client, card_paid, django_capture_on_commit_callbacks
):
    payment = card_paid
    _post(client, django_capture_on_commit_callbacks, "charge.dispute.created", _dispute(payment))
    for step in ("charge.dispute.funds_withdrawn",):
        assert _post(client, django_capture_on_commit_callbacks, step, _dispute(payment)) == (
            f"payment {payment.pk}: dispute funds_withdrawn"
        )
    _post(
        client,
        django_capture_on_commit_callbacks,
        "charge.dispute.closed",
        _dispute(payment, status="lost"),
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REVERSED
    assert payment.invoice.status == InvoiceStatus.OPEN
    assert _audits("payment.dispute_lost", payment) == 1
    assert _audits("payment.dispute_funds_withdrawn", payment) == 1


def test_a_dispute_won_arriving_before_its_opening_reverses_nothing(
    client, card_paid, django_capture_on_commit_callbacks
):
    payment = card_paid
    _post(
        client,
        django_capture_on_commit_callbacks,
        "charge.dispute.closed",
        _dispute(payment, status="won"),
    )
    late = _post(
        client, django_capture_on_commit_callbacks, "charge.dispute.created", _dispute(payment)
    )
    assert late == "ignored: dispute dp_1 already closed"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.invoice.status == InvoiceStatus.PAID
    assert _staff_mail() == []
    assert _audits("payment.reversed", payment) == 0


@time_machine.travel("2026-11-20 10:00:00+00:00", tick=False)
def test_a_dispute_makes_the_overdue_organization_read_only_and_winning_it_active(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory()
    draft = invoice_create_draft(customer=subscription.customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=1, unit_price=Decimal("4"))
    invoice = invoice_finalize(invoice=draft, actor=None, issued_on=date(2026, 11, 1))
    method = saved_method(subscription.customer, "pm_card_visa")
    payment = payment_charge_method(invoice=invoice, method=method, actor="test", off_session=True)
    assert payment.status == PaymentStatus.SUCCEEDED

    def mode():
        subscription.organization.refresh_from_db()
        return subscription.organization.mode

    assert mode() == OrganizationMode.ACTIVE
    _post(client, django_capture_on_commit_callbacks, "charge.dispute.created", _dispute(payment))
    assert mode() == OrganizationMode.READ_ONLY  # due 15 November, unpaid again
    _post(
        client,
        django_capture_on_commit_callbacks,
        "charge.dispute.closed",
        _dispute(payment, status="won"),
    )
    assert mode() == OrganizationMode.ACTIVE


# ---- 7. a top-up charged back ------------------------------------------------------------


def test_a_top_up_charged_back_takes_what_the_balance_holds_and_flags_the_rest(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    started = top_up_start(
        customer=customer, amount="50.00", actor="test", success_url="https://x/", cancel_url="x"
    )
    session = fake_stripe.complete_checkout(started.payment.gateway_ref)
    completed = {
        "id": session["id"],
        "object": "checkout.session",
        "mode": "payment",
        "payment_intent": session["payment_intent"],
        "metadata": {"payment": str(started.payment.pk), "kind": "top_up"},
    }
    _post(client, django_capture_on_commit_callbacks, "checkout.session.completed", completed)
    payment = Payment.objects.get(pk=started.payment.pk)
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("50.00")
    # 30.00 of it spent meanwhile (a staff adjustment stands in for instance charges).
    from billing.services.balance import balance_write

    balance_write(
        customer_id=customer.pk,
        amount=Decimal("-30.00"),
        kind=BalanceKind.STAFF_ADJUSTMENT,
        key="spent",
        reason="spent",
    )
    mail.outbox.clear()
    _post(client, django_capture_on_commit_callbacks, "charge.dispute.created", _dispute(payment))
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("0.00")
    entry = BalanceEntry.objects.get(kind=BalanceKind.CHARGEBACK)
    assert entry.amount == Decimal("-20.00")
    [alert] = _staff_mail()
    assert "30.00" in alert.body
    audit = AuditEntry.objects.get(action="balance.chargeback")
    assert audit.after["missing"] == "30.00"

    _post(
        client,
        django_capture_on_commit_callbacks,
        "charge.dispute.closed",
        _dispute(payment, status="won"),
    )
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("20.00")
    assert "no longer owed" in _staff_mail()[-1].body


# ---- 3. refunds made in Stripe's dashboard ----------------------------------------------


def _refund(payment, *, refund_id="re_dash_1", amount=1200, status="succeeded"):
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "currency": "eur",
        "payment_intent": payment.gateway_ref,
        "status": status,
    }


def test_a_dashboard_refund_issues_a_credit_note_once_per_refund_id(
    client, card_paid, django_capture_on_commit_callbacks
):
    payment = card_paid
    first = _post(client, django_capture_on_commit_callbacks, "refund.created", _refund(payment))
    assert first == f"payment {payment.pk}: refunded 12.00"
    again = _post(
        client, django_capture_on_commit_callbacks, "charge.refund.updated", _refund(payment)
    )
    assert again == f"payment {payment.pk}: refund re_dash_1 already recorded"
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": payment.gateway_ref,
        "amount_refunded": 1200,
        "refunds": {"object": "list", "data": [_refund(payment)]},
    }
    _post(client, django_capture_on_commit_callbacks, "charge.refunded", charge)
    refund = Refund.objects.get()
    assert (refund.gateway_ref, refund.amount) == ("re_dash_1", Decimal("12.00"))
    assert CreditNote.objects.count() == 1
    payment.refresh_from_db()
    assert payment.refunded == Decimal("12.00")


def test_a_sepa_refund_is_recorded_only_once_it_succeeds(
    client, card_paid, django_capture_on_commit_callbacks
):
    payment = card_paid
    pending = _post(
        client,
        django_capture_on_commit_callbacks,
        "refund.created",
        _refund(payment, status="pending"),
    )
    assert pending.endswith("pending, not recorded yet")
    assert not Refund.objects.exists() and not CreditNote.objects.exists()
    failed = _post(
        client,
        django_capture_on_commit_callbacks,
        "refund.failed",
        _refund(payment, refund_id="re_dash_2", status="failed"),
    )
    assert failed == f"payment {payment.pk}: refund re_dash_2 failed"
    assert not Refund.objects.exists() and _audits("payment.refund_failed", payment) == 1
    _post(client, django_capture_on_commit_callbacks, "refund.updated", _refund(payment))
    assert Refund.objects.get().gateway_ref == "re_dash_1"


# ---- 4. abandoned attempts --------------------------------------------------------------


def _hosted(invoice):
    return payment_hosted_start(
        invoice=invoice, actor="customer", success_url="https://x/ok", cancel_url="https://x/no"
    ).payment


def test_an_expired_checkout_session_closes_the_attempt(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    payment = _hosted(invoice)
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    fake_stripe.expire_checkout(payment.gateway_ref)
    session = {
        "id": payment.gateway_ref,
        "object": "checkout.session",
        "mode": "payment",
        "status": "expired",
        "metadata": {"payment": str(payment.pk)},
    }
    outcome = _post(client, django_capture_on_commit_callbacks, "checkout.session.expired", session)
    assert outcome == f"payment {payment.pk}: failed"
    payment.refresh_from_db()
    assert (payment.status, payment.error_code) == (PaymentStatus.FAILED, "session_expired")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.OPEN, Decimal("48.00"))


def test_a_canceled_payment_intent_closes_the_attempt(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_card_authenticationRequired")
    payment = payment_charge_method(
        invoice=invoice, method=method, actor="customer", off_session=False
    )
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    _post(
        client,
        django_capture_on_commit_callbacks,
        "payment_intent.canceled",
        intent_object(payment, status="canceled"),
    )
    payment.refresh_from_db()
    assert (payment.status, payment.error_code) == (PaymentStatus.FAILED, "payment_canceled")


# ---- 6. amounts ---------------------------------------------------------------------------


def test_an_amount_received_that_is_not_ours_is_flagged_not_settled(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_sepa_debit")
    payment = payment_charge_method(invoice=invoice, method=method, actor="test", off_session=True)
    mail.outbox.clear()
    short = intent_object(payment, status="succeeded", amount_received=4700)
    outcome = _post(client, django_capture_on_commit_callbacks, "payment_intent.succeeded", short)
    assert outcome == f"payment {payment.pk}: flagged, amount mismatch"
    payment.refresh_from_db()
    assert (payment.status, payment.error_code) == (PaymentStatus.PENDING, "amount_mismatch")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.OPEN, Decimal("48.00"))
    assert _audits("payment.amount_mismatch", payment) == 1
    assert len(_staff_mail()) == 1
    assert _customer_mail("received") == []


# ---- 8. a card we refuse, paid on Checkout ----------------------------------------------


def test_an_amex_card_paid_on_checkout_is_refunded_at_once_and_pays_nothing(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    payment = _hosted(invoice)
    session = fake_stripe.complete_checkout(payment.gateway_ref, payment_method="pm_card_amex")
    mail.outbox.clear()
    completed = {
        "id": session["id"],
        "object": "checkout.session",
        "mode": "payment",
        "payment_intent": session["payment_intent"],
        "metadata": {"payment": str(payment.pk)},
    }
    body = stripe_event("checkout.session.completed", completed)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = post_stripe(client, body).content.decode()
        replay = post_stripe(client, body).content
    assert outcome == f"payment {payment.pk}: card not accepted, refunded"
    assert replay == b"duplicate"
    payment.refresh_from_db()
    assert (payment.status, payment.error_code) == (PaymentStatus.FAILED, "card_not_accepted")
    assert payment.refunded == Decimal("48.00")
    assert len(fake_stripe.requests_to("POST", "/v1/refunds")) == 1
    assert Refund.objects.get().credit_note is None
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.OPEN, Decimal("48.00"))
    assert len(_customer_mail("failed")) == 1


def test_a_prepaid_card_back_on_the_return_page_then_by_webhook_is_refunded_once(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    payment = _hosted(invoice)
    session = fake_stripe.complete_checkout(
        payment.gateway_ref, payment_method="pm_card_visa_prepaid"
    )
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        back = payment_hosted_finish(
            customer=invoice.customer, session_id=payment.gateway_ref, actor="customer"
        )
    assert (back.status, back.error_code) == (PaymentStatus.FAILED, "card_not_accepted")
    completed = {
        "id": session["id"],
        "object": "checkout.session",
        "mode": "payment",
        "payment_intent": session["payment_intent"],
        "metadata": {"payment": str(payment.pk)},
    }
    _post(client, django_capture_on_commit_callbacks, "checkout.session.completed", completed)
    assert len(fake_stripe.refunds) == 1  # the same key twice: one refund at Stripe
    assert Refund.objects.count() == 1
    payment.refresh_from_db()
    assert payment.refunded == Decimal("48.00")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.OPEN, Decimal("48.00"))
    assert len(_customer_mail("failed")) == 1


def test_a_top_up_paid_by_amex_credits_nothing_and_is_refunded_once(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    started = top_up_start(
        customer=customer, amount="50.00", actor="test", success_url="https://x/", cancel_url="x"
    )
    session = fake_stripe.complete_checkout(started.payment.gateway_ref, "pm_card_amex")
    back = top_up_finish(customer=customer, payment_id=started.payment.pk, actor="customer")
    assert (back.status, back.error_code) == (PaymentStatus.FAILED, "card_not_accepted")
    completed = {
        "id": session["id"],
        "object": "checkout.session",
        "mode": "payment",
        "payment_intent": session["payment_intent"],
        "metadata": {"payment": str(started.payment.pk), "kind": "top_up"},
    }
    _post(client, django_capture_on_commit_callbacks, "checkout.session.completed", completed)
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("0.00")
    assert not BalanceEntry.objects.exists()
    assert len(fake_stripe.refunds) == 1 and Refund.objects.count() == 1


# ---- 9. Stripe asked outside the transaction; a failure leaves the event to retry ---------


def test_stripe_unreachable_leaves_the_event_unprocessed_and_its_retry_acts_once(
    fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    payment = _hosted(invoice)
    session = fake_stripe.complete_checkout(payment.gateway_ref)
    completed = {
        "id": session["id"],
        "object": "checkout.session",
        "mode": "payment",
        "payment_intent": session["payment_intent"],
        "metadata": {"payment": str(payment.pk)},
    }
    body = stripe_event("checkout.session.completed", completed, event_id="evt_retry")
    client = Client(raise_request_exception=False)
    fake_stripe.fail_next(5)
    assert post_stripe(client, body).status_code == 500
    stored = WebhookEvent.objects.get()
    assert stored.processed_at is None
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    with django_capture_on_commit_callbacks(execute=True):
        again = post_stripe(client, body)
    assert again.content == f"payment {payment.pk}: succeeded".encode()
    assert post_stripe(client, body).content == b"duplicate"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


# ---- 5. mandates and cards ----------------------------------------------------------------


def test_a_revoked_mandate_removes_the_default_method_and_asks_for_another(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_sepa_debit")
    mandate = {
        "id": "mandate_1",
        "object": "mandate",
        "payment_method": "pm_sepa_debit",
        "status": "inactive",
    }
    outcome = _post(client, django_capture_on_commit_callbacks, "mandate.updated", mandate)
    assert outcome == f"payment method {method.pk}: removed"
    method.refresh_from_db()
    assert method.removed_at is not None and not method.is_default
    [email] = _customer_mail("can no longer be used")
    assert "invoices are open: choose another way to pay them" in email.body
    _post(client, django_capture_on_commit_callbacks, "mandate.updated", mandate)
    assert len(_customer_mail("can no longer be used")) == 1


def test_an_active_mandate_update_changes_nothing(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_sepa_debit")
    mandate = {
        "id": "m",
        "object": "mandate",
        "payment_method": "pm_sepa_debit",
        "status": "active",
    }
    _post(client, django_capture_on_commit_callbacks, "mandate.updated", mandate)
    method.refresh_from_db()
    assert method.removed_at is None and method.is_default
    assert mail.outbox == []


def test_a_card_updated_by_the_network_gets_its_new_expiry_and_last4(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    method = saved_method(customer, "pm_card_visa")
    card = {"brand": "visa", "last4": "1881", "exp_month": 3, "exp_year": 2031}
    obj = {"id": "pm_card_visa", "object": "payment_method", "type": "card", "card": card}
    _post(client, django_capture_on_commit_callbacks, "payment_method.automatically_updated", obj)
    method.refresh_from_db()
    assert (method.last4, method.exp_month, method.exp_year) == ("1881", 3, 2031)
    assert _audits("payment_method.updated", method) == 1


def test_a_detached_method_disappears_and_is_no_longer_the_default(
    client, fake_stripe, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    method = saved_method(customer, "pm_card_visa")
    obj = {"id": "pm_card_visa", "object": "payment_method", "type": "card"}
    _post(client, django_capture_on_commit_callbacks, "payment_method.detached", obj)
    method.refresh_from_db()
    assert method.removed_at is not None and not method.is_default
    [email] = _customer_mail("can no longer be used")
    assert "invoices are open" not in email.body  # none is
    assert PaymentMethod.objects.filter(customer=customer, removed_at__isnull=True).count() == 0


def test_a_short_amount_read_back_by_the_pending_poll_is_flagged_not_settled(
    fake_stripe, django_capture_on_commit_callbacks
):
    """The same check when no webhook comes: the poll reads the PaymentIntent back."""
    from billing.services.collection import payment_refresh_pending

    invoice = open_invoice()
    method = saved_method(invoice.customer, "pm_sepa_debit")
    payment = payment_charge_method(invoice=invoice, method=method, actor="test", off_session=True)
    assert payment.status == PaymentStatus.PENDING
    intent = fake_stripe.payment_intents[payment.gateway_ref]
    intent["status"], intent["amount_received"] = "succeeded", 4700  # the bank's answer
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_refresh_pending(payment_id=payment.pk)
    assert (payment.status, payment.error_code) == (PaymentStatus.PENDING, "amount_mismatch")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due.amount) == (InvoiceStatus.OPEN, Decimal("48.00"))
    assert _audits("payment.amount_mismatch", payment) == 1
    assert _customer_mail("received") == []
