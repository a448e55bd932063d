"""Every billing event e-mails the billing contact once, on commit, as text and HTML; the
subject names the organization and the subscription id. Invoices go out with their PDF,
each at most once (Invoice.emailed_at), renewals from a task queued on commit."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from djmoney.money import Money

from billing.errors import BillingError
from billing.models import Invoice, InvoiceKind, SubscriptionStatus
from billing.notifications import notify_invoice_issued
from billing.services.credit import credit_grant_by_staff
from billing.services.customers import customer_change_contact
from billing.services.invoices import (
    invoice_add_line,
    invoice_create_draft,
    invoice_finalize,
    invoice_mark_paid,
)
from billing.services.quantity_change import subscription_change_quantity
from billing.services.reminders import reminders_send
from billing.services.renewals import renewals_renew_chunk
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_migrate_to_core,
    subscription_pause,
    subscription_resume,
)
from billing.tasks import email_issued_invoices
from tests.factories import CustomerFactory, PlanFactory, SubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db

DEC_1 = date(2026, 12, 1)


def _one_email(subscription, *, to=None):
    """The only e-mail sent: to the billing contact, naming the organization and the
    subscription id, with an HTML alternative."""
    (email,) = mail.outbox
    assert email.to == [to or subscription.customer.email]
    assert email.subject.startswith(f"{subscription.organization_name} ({subscription.public_id})")
    assert subscription.public_id in email.body
    assert subscription.organization_name in email.body
    ((html, mimetype),) = email.alternatives
    assert mimetype == "text/html" and subscription.public_id in html
    return email


def _pdf(email, invoice):
    ((name, content, mimetype),) = email.attachments
    assert (name, mimetype) == (f"{invoice.number}.pdf", "application/pdf")
    assert content.startswith(b"%PDF")


def _open_invoice(subscription, *, issued_on=date(2026, 11, 1)):
    draft = invoice_create_draft(customer=subscription.customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    return invoice_finalize(invoice=draft, actor=None, issued_on=issued_on)  # due 15 Nov


# ---- invoices issued --------------------------------------------------------------------


@time_machine.travel("2026-12-01 00:10:00+00:00", tick=False)
def test_a_renewal_invoice_is_emailed_after_commit_with_its_pdf(
    django_capture_on_commit_callbacks,
):
    subscription = SubscriptionFactory(organization_name="Acme Paris")
    with django_capture_on_commit_callbacks(execute=True):
        renewals_renew_chunk(subscription_ids=[subscription.pk], today=DEC_1)
    invoice = Invoice.objects.get(kind=InvoiceKind.RENEWAL)
    email = _one_email(subscription)
    assert (
        email.subject == f"Acme Paris ({subscription.public_id}): invoice {invoice.number} issued"
    )
    assert "Total:     48.00 EUR" in email.body
    _pdf(email, invoice)
    assert invoice.emailed_at is not None


@time_machine.travel("2026-12-01 00:10:00+00:00", tick=False)
def test_the_renewal_email_task_run_twice_sends_each_invoice_once(
    django_capture_on_commit_callbacks,
):
    subscriptions = [SubscriptionFactory() for _ in range(3)]
    # Not captured: the task queued on commit never runs, as if the worker died.
    renewals_renew_chunk(subscription_ids=[s.pk for s in subscriptions], today=DEC_1)
    ids = list(Invoice.objects.values_list("pk", flat=True))
    assert len(ids) == 3 and mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        assert email_issued_invoices(ids) == {"emailed": 3}
    with django_capture_on_commit_callbacks(execute=True):
        assert email_issued_invoices(ids) == {"emailed": 0}  # a retry: nothing again
    assert sorted(m.to[0] for m in mail.outbox) == sorted(s.customer.email for s in subscriptions)
    assert all(m.attachments[0][1].startswith(b"%PDF") for m in mail.outbox)


def test_a_proration_invoice_is_attached_to_the_change_email_once(
    django_capture_on_commit_callbacks,
):
    subscription = SubscriptionFactory(quantity=10)
    with django_capture_on_commit_callbacks(execute=True):
        change = subscription_change_quantity(
            subscription=subscription, quantity=12, actor=None, today=date(2026, 11, 16)
        )
    email = _one_email(subscription)
    assert change.invoice.number in email.body
    _pdf(email, change.invoice)
    with django_capture_on_commit_callbacks(execute=True):
        assert notify_invoice_issued(invoice=change.invoice) is False  # already e-mailed
    assert len(mail.outbox) == 1


def test_a_refused_quantity_change_sends_nothing_and_claims_nothing(
    django_capture_on_commit_callbacks,
):
    subscription = SubscriptionFactory(quantity=10)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(BillingError):
        subscription_change_quantity(
            subscription=subscription,
            quantity=12,
            actor=None,
            today=date(2026, 11, 16),
            expected_terms="not what the customer saw",
        )
    assert mail.outbox == [] and not Invoice.objects.exists()


# ---- subscription lifecycle -------------------------------------------------------------


@time_machine.travel("2026-12-10 09:00:00+00:00", tick=False)
def test_resume_sends_one_email_with_the_new_invoice(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(quantity=5, status=SubscriptionStatus.PAUSED)
    with django_capture_on_commit_callbacks(execute=True):
        subscription_resume(subscription=subscription, actor="staff")
    invoice = Invoice.objects.get()
    email = _one_email(subscription)
    assert email.subject.endswith(f": subscription resumed, invoice {invoice.number} issued")
    assert "24.00 EUR" in email.body
    _pdf(email, invoice)


def test_resume_of_an_active_subscription_sends_nothing(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(BillingError):
        subscription_resume(subscription=subscription, actor="staff")
    assert mail.outbox == []


def test_pause_sends_one_email(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory()
    with django_capture_on_commit_callbacks(execute=True):
        subscription_pause(subscription=subscription, actor="staff")
    assert _one_email(subscription).subject.endswith(": subscription paused")


def test_pausing_a_cancelled_subscription_sends_nothing(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(status=SubscriptionStatus.CANCELLED)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(BillingError):
        subscription_pause(subscription=subscription, actor="staff")
    assert mail.outbox == []


def test_cancel_sends_one_email_naming_the_erased_organization(
    django_capture_on_commit_callbacks,
):
    subscription = SubscriptionFactory(organization_name="Initech HQ")
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(BillingError):  # the wrong name: refused, nothing sent
            subscription_cancel(subscription=subscription, confirm_name="initech", actor="staff")
        assert mail.outbox == []
        subscription_cancel(subscription=subscription, confirm_name="Initech HQ", actor="staff")
    assert _one_email(subscription).subject.endswith(": subscription cancelled")


def test_migrate_sends_one_email_with_the_new_plan(django_capture_on_commit_callbacks):
    legacy = PlanFactory(kind="legacy", interval="month")
    core = PlanFactory(code="core-month-eur-2026", unit_price=Money("5.00", "EUR"))
    subscription = SubscriptionFactory(plan=legacy, quantity=1)
    with django_capture_on_commit_callbacks(execute=True):
        subscription_migrate_to_core(subscription=subscription, plan=core, actor="staff")
    email = _one_email(subscription)
    assert email.subject.endswith(f": moved to the {core.name} plan")
    assert "5.00 EUR each" in email.body


# ---- payments, credit, reminders --------------------------------------------------------


def test_payment_received_sends_one_email(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory()
    invoice = _open_invoice(subscription)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_mark_paid(invoice=invoice, actor="staff", via="bank transfer")
    email = _one_email(subscription)
    assert email.subject.endswith(f": payment received for invoice {invoice.number}")
    assert "We received 48.00 EUR by bank transfer" in email.body
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(BillingError):
        invoice_mark_paid(invoice=invoice, actor="staff")  # paid already: refused
    assert len(mail.outbox) == 1


def test_staff_credit_grant_sends_one_email(django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory()
    customer = subscription.customer
    with django_capture_on_commit_callbacks(execute=True):
        credit_grant_by_staff(customer=customer, amount="25", reason="Outage", actor="staff")
    (email,) = mail.outbox
    assert email.subject == f"{customer.name}: credit of 25.00 EUR added to your account"
    assert subscription.public_id in email.body and subscription.organization_name in email.body
    assert "Reason: Outage" in email.body and email.alternatives[0][1] == "text/html"


@pytest.mark.parametrize(
    ("today", "subject", "says"),
    [
        (
            "2026-11-13",
            "invoice {number} is due on 15 November 2026",
            "still unpaid on 16 November 2026, Acme Paris ({id}) becomes read-only",
        ),
        (
            "2026-11-18",
            "is read-only: invoice {number} is overdue",
            "Acme Paris ({id}) is read-only in the MDM since 16 November 2026",
        ),
    ],
)
def test_reminders_name_the_organization_and_when_it_is_read_only(
    django_capture_on_commit_callbacks, settings, today, subject, says
):
    settings.BILLING_REMINDER_DAYS = [-2, 3]
    subscription = SubscriptionFactory(organization_name="Acme Paris")
    invoice = _open_invoice(subscription)
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders_send(today=date.fromisoformat(today)) == 1
    email = _one_email(subscription)
    assert subject.format(number=invoice.number) in email.subject
    assert says.format(id=f"subscription {subscription.public_id}") in email.body
    assert "Acme Paris" in email.alternatives[0][0]


# ---- the billing contact ----------------------------------------------------------------


def test_a_contact_change_writes_to_the_old_and_the_new_address(
    django_capture_on_commit_callbacks,
):
    subscription = SubscriptionFactory(customer=CustomerFactory(contact__email="old@acme.example"))
    customer = subscription.customer
    with django_capture_on_commit_callbacks(execute=True):
        customer_change_contact(customer=customer, email="new@acme.example", actor="staff")
    assert [m.to for m in mail.outbox] == [["old@acme.example"], ["new@acme.example"]]
    for email in mail.outbox:
        assert email.subject == f"{customer.name}: billing contact changed to new@acme.example"
        assert subscription.public_id in email.body
        assert subscription.organization_name in email.body
        assert email.alternatives[0][1] == "text/html"
    assert "no longer receives" in mail.outbox[0].body
    assert "is now the billing contact" in mail.outbox[1].body


def test_a_contact_change_to_an_address_in_use_sends_nothing(django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    other = UserFactory(email="taken@acme.example")
    CustomerFactory(contact=other)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(BillingError):
        customer_change_contact(customer=customer, email="taken@acme.example", actor="staff")
    assert mail.outbox == []
