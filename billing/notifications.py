"""What the billing contact is told, by e-mail, of every event that changes their bill.

One function per event; each renders templates/billing/emails/<event>.txt and .html and
sends on commit (billing/emails.py), so a refused or rolled-back action sends nothing.
Subjects name the organization and the subscription id when there is one: customers
quote the id, and find it in these e-mails.

An invoice is e-mailed at most once: the e-mail claims it first (Invoice.emailed_at,
set by a conditional UPDATE in the sender's transaction). Renewal invoices, issued by
the thousand, are e-mailed by a Celery task queued on commit (billing/tasks.py), so
no PDF is rendered inside the renewal transaction.
"""

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.emails import Attachment, customer_email_send
from billing.models import (
    CreditEntry,
    CreditNote,
    Customer,
    Invoice,
    Subscription,
    SubscriptionStatus,
)
from billing.money import money_format
from billing.pdf import invoice_pdf_render


def _label(*, customer: Customer, subscription: Subscription | None) -> str:
    """How a subject starts: "Acme Paris (SUB-ABCD2345)", or the company's name when the
    event concerns no one subscription."""
    if subscription is not None:
        return f"{subscription.organization_name} ({subscription.public_id})"
    return customer.name


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def _subscriptions_of(customer: Customer) -> list[Subscription]:
    """For e-mails about the whole account: the subscriptions it pays for."""
    return list(
        customer.subscriptions.exclude(status=SubscriptionStatus.CANCELLED).order_by(
            "organization_name", "pk"
        )
    )


# ---- invoices ---------------------------------------------------------------------------


def invoice_email_claim(*, invoice_id: int) -> bool:
    """True once per invoice: whoever sets emailed_at sends its e-mail. Runs in the
    sender's transaction, so a rolled-back send leaves the invoice unclaimed."""
    return (
        Invoice.objects.filter(pk=invoice_id, emailed_at__isnull=True).update(
            emailed_at=timezone.now()
        )
        == 1
    )


def invoice_email_release(*, invoice_id: int) -> None:
    """The e-mail carrying the invoice could not be sent (the mail server refused or was
    down): the claim is given back, so the sweep (services/sweeps.py) sends it later."""
    Invoice.objects.filter(pk=invoice_id).update(emailed_at=None)


def invoice_pdf_attachments(*, invoice: Invoice | None) -> list[Attachment]:
    """The invoice's PDF, for the e-mail that announces it, claiming the invoice: [] if
    there is none or it was already e-mailed. An action that issues an invoice (a
    proration, a resume) attaches it to its own e-mail: one e-mail per action."""
    if invoice is None or not invoice_email_claim(invoice_id=invoice.pk):
        return []
    return [(f"{invoice.number}.pdf", invoice_pdf_render(invoice=invoice), "application/pdf")]


def notify_invoice_issued(*, invoice: Invoice) -> bool:
    """The invoice, its PDF attached. False (nothing sent) if it was already e-mailed."""
    attachments = invoice_pdf_attachments(invoice=invoice)
    if not attachments:
        return False
    subscription = invoice.subscription
    customer_email_send(
        customer=invoice.customer,
        subject=(
            f"{_label(customer=invoice.customer, subscription=subscription)}: "
            f"invoice {invoice.number} issued"
        ),
        template="invoice_issued",
        context={"invoice": invoice, "subscription": subscription},
        attachments=attachments,
        on_failure=lambda: invoice_email_release(invoice_id=invoice.pk),
    )
    return True


def invoices_email_issued(*, invoice_ids: list[int]) -> int:
    """E-mails each invoice not e-mailed yet, each in its own transaction (the claim and
    the send commit together); returns how many were sent. Safe to run again."""
    sent = 0
    for pk in invoice_ids:
        with transaction.atomic():
            invoice = (
                Invoice.objects.select_related("customer__contact", "subscription")
                .filter(pk=pk, emailed_at__isnull=True)
                .first()
            )
            if (
                invoice is not None
                and invoice.is_finalized
                and notify_invoice_issued(invoice=invoice)
            ):
                sent += 1
    return sent


def notify_invoices_issued_later(*, invoice_ids: list[int]) -> None:
    """Bulk issuing (renewals): the e-mails go out from a worker once the invoices are
    committed, never from inside the issuing transaction."""
    if not invoice_ids:
        return
    from billing.tasks import email_issued_invoices  # the tasks module imports services

    ids = list(invoice_ids)
    transaction.on_commit(lambda: email_issued_invoices.delay(ids))


def notify_payment_received(*, invoice: Invoice, via: str = "", amount=None) -> None:
    """`amount`: what the payment settled (the amount due before it)."""
    subscription = invoice.subscription
    customer_email_send(
        customer=invoice.customer,
        subject=(
            f"{_label(customer=invoice.customer, subscription=subscription)}: "
            f"payment received for invoice {invoice.number}"
        ),
        template="payment_received",
        context={
            "invoice": invoice,
            "subscription": subscription,
            "via": via,
            "amount": amount if amount is not None else invoice.total,
        },
    )


def notify_payment_failed(*, invoice: Invoice, payment, retry_on: date | None, url: str) -> None:
    """Automatic collection failed: why, when we try again (if we do), and a link to pay."""
    customer_email_send(
        customer=invoice.customer,
        subject=(
            f"{_label(customer=invoice.customer, subscription=invoice.subscription)}: "
            f"payment of invoice {invoice.number} failed"
        ),
        template="payment_failed",
        context={
            "invoice": invoice,
            "subscription": invoice.subscription,
            "payment": payment,
            "retry_on": retry_on,
            "url": url,
        },
    )


def notify_sepa_prenotification(*, invoice: Invoice, method, amount, debit_on: date) -> None:
    """The SEPA pre-notification of an automatic debit (SEPA Core rulebook): the amount,
    the debit date, the mandate reference and our creditor identifier. Sent as the
    collection starts (docs/RULES.md: the late pre-notification the customer agrees to)."""
    customer_email_send(
        customer=invoice.customer,
        subject=(
            f"{_label(customer=invoice.customer, subscription=invoice.subscription)}: "
            f"SEPA direct debit of {money_format(amount)} for invoice {invoice.number}"
        ),
        template="sepa_prenotification",
        context={
            "invoice": invoice,
            "subscription": invoice.subscription,
            "method": method,
            "amount": amount,
            "debit_on": _day(debit_on),
            "creditor_id": settings.BILLING_SEPA_CREDITOR_ID,
        },
    )


def notify_payment_action_required(*, invoice: Invoice, payment, url: str) -> None:
    """Your bank wants to confirm the payment (3-D Secure): the link completes it."""
    customer_email_send(
        customer=invoice.customer,
        subject=(
            f"{_label(customer=invoice.customer, subscription=invoice.subscription)}: "
            f"confirm the payment of invoice {invoice.number}"
        ),
        template="payment_action_required",
        context={
            "invoice": invoice,
            "subscription": invoice.subscription,
            "payment": payment,
            "url": url,
        },
    )


def notify_invoice_reminder(*, invoice: Invoice, today: date, stage_days: int) -> None:
    """A reminder before, on or after the due date. The organization of the invoice's
    subscription is read-only from the day after the due date while it stays unpaid
    (services/overdue.py): the e-mail names it and gives that date."""
    subscription = invoice.subscription
    overdue_days = (today - invoice.due_on).days
    read_only_on = invoice.due_on + timedelta(days=1)
    organization = (
        subscription.organization_name
        if subscription is not None and subscription.organization_id is not None
        else ""
    )
    label = _label(customer=invoice.customer, subscription=subscription)
    if overdue_days > 0:
        subject = (
            f"{label} is read-only: invoice {invoice.number} is overdue"
            if organization
            else f"{label}: invoice {invoice.number} is overdue"
        )
    elif overdue_days == 0:
        subject = f"{label}: invoice {invoice.number} is due today"
    else:
        subject = f"{label}: invoice {invoice.number} is due on {_day(invoice.due_on)}"
    customer_email_send(
        customer=invoice.customer,
        subject=subject,
        template="invoice_reminder",
        context={
            "invoice": invoice,
            "subscription": subscription,
            "organization": organization,
            "read_only_on": read_only_on,
            "overdue_days": overdue_days,
            "stage_days": stage_days,
        },
    )


# ---- credit -----------------------------------------------------------------------------


def notify_credit_note_issued(*, credit_note: CreditNote) -> None:
    invoice = credit_note.invoice
    subscription = invoice.subscription
    customer_email_send(
        customer=credit_note.customer,
        subject=(
            f"{_label(customer=credit_note.customer, subscription=subscription)}: "
            f"credit note {credit_note.number} on invoice {invoice.number}"
        ),
        template="credit_note_issued",
        context={"credit_note": credit_note, "invoice": invoice, "subscription": subscription},
    )


def notify_credit_granted(*, entry: CreditEntry) -> None:
    """Staff's "Grant credit"."""
    customer = entry.customer
    subscription = entry.subscription
    customer_email_send(
        customer=customer,
        subject=(
            f"{_label(customer=customer, subscription=subscription)}: credit of "
            f"{money_format(entry.amount, customer.currency)} added to your account"
        ),
        template="credit_granted",
        context={
            "entry": entry,
            "subscription": subscription,
            "subscriptions": _subscriptions_of(customer),
        },
    )


# ---- subscriptions ----------------------------------------------------------------------


def _subscription_email(*, subscription: Subscription, what: str, template: str) -> None:
    customer_email_send(
        customer=subscription.customer,
        subject=f"{_label(customer=subscription.customer, subscription=subscription)}: {what}",
        template=template,
        context={"subscription": subscription},
    )


def notify_subscription_paused(*, subscription: Subscription) -> None:
    _subscription_email(
        subscription=subscription, what="subscription paused", template="subscription_paused"
    )


def notify_subscription_resumed(
    *, subscription: Subscription, invoice: Invoice | None = None
) -> None:
    """With the new period's invoice attached (one e-mail for the action)."""
    attachments = invoice_pdf_attachments(invoice=invoice)
    what = "subscription resumed"
    if attachments:
        what += f", invoice {invoice.number} issued"
    customer_email_send(
        customer=subscription.customer,
        subject=f"{_label(customer=subscription.customer, subscription=subscription)}: {what}",
        template="subscription_resumed",
        context={"subscription": subscription, "invoice": invoice if attachments else None},
        attachments=attachments,
        on_failure=(lambda: invoice_email_release(invoice_id=invoice.pk)) if attachments else None,
    )


def notify_subscription_cancelled(*, subscription: Subscription) -> None:
    _subscription_email(
        subscription=subscription,
        what="subscription cancelled",
        template="subscription_cancelled",
    )


def notify_subscription_migrated(*, subscription: Subscription) -> None:
    _subscription_email(
        subscription=subscription,
        what=f"moved to the {subscription.plan.name} plan",
        template="subscription_migrated",
    )


# ---- the account ------------------------------------------------------------------------


def notify_contact_changed(*, customer: Customer, old_email: str, new_email: str) -> None:
    """Two e-mails: the previous address learns it no longer receives the bills (and can
    no longer log in), the new one that it now does."""
    subject = f"{customer.name}: billing contact changed to {new_email}"
    context = {
        "old_email": old_email,
        "new_email": new_email,
        "subscriptions": _subscriptions_of(customer),
    }
    for to, is_new in ((old_email, False), (new_email, True)):
        customer_email_send(
            customer=customer,
            subject=subject,
            template="contact_changed",
            context={**context, "is_new": is_new},
            to=to,
        )


def notify_payment_method_removed(
    *, customer: Customer, method, why: str, choose_another: bool, url: str
) -> None:
    """A saved method can no longer be charged (mandate revoked at the bank, removed at
    the gateway); `choose_another` when it was the default and invoices are open."""
    customer_email_send(
        customer=customer,
        subject=f"{customer.name}: {method} can no longer be used",
        template="payment_method_removed",
        context={"method": method, "why": why, "choose_another": choose_another, "url": url},
    )
