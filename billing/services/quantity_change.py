"""Edit Subscription, confirmed: applies a new licence quantity exactly as the preview
the customer (or staff, on their behalf) saw it, or refuses.

One transaction, locks in the order of services/locks.py: the subscription, then the
customer (the credit the charge reads), then the invoices and numbers, then the
organization. Under those locks the preview is computed again and must give the same
terms as the one confirmed (quantity it starts from, credit used, amount now, open
invoices lowered, credit gained); the invoice it issues must total what was previewed.
So two tabs, two subscriptions sharing one credit, or a renewal using that credit at the
same moment can never charge more than the customer saw.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from billing.emails import customer_email_send
from billing.errors import PREVIEW_CHANGED, PREVIEW_CHANGED_MESSAGE, BillingError
from billing.models import CreditNote, Invoice, InvoiceKind, Subscription
from billing.notifications import invoice_email_release, invoice_pdf_attachments
from billing.services.collection import collection_start
from billing.services.credit_notes import credit_note_issue
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.locks import lock_customer, lock_subscription
from billing.services.proration import (
    DECREASE,
    INCREASE,
    SCHEDULED_DECREASE,
    QuantityPreview,
    subscription_quantity_preview,
)
from fleet.selectors import organization_in_field_count
from fleet.services.organizations import organization_set_billing_state


@dataclass(frozen=True)
class QuantityChange:
    """What a confirmed change did: the preview it applied, and its documents."""

    preview: QuantityPreview
    invoice: Invoice | None  # the proration invoice of an increase
    # A monthly decrease: one note per invoice of the period it lowers or credits.
    credit_notes: tuple[CreditNote, ...]


def _refuse_changed() -> BillingError:
    return BillingError(PREVIEW_CHANGED_MESSAGE, code=PREVIEW_CHANGED)


@transaction.atomic
def subscription_change_quantity(
    *,
    subscription: Subscription,
    quantity: int,
    actor: Actor,
    today: date | None = None,
    expected_terms: str | None = None,
) -> QuantityChange:
    """`expected_terms` is `QuantityPreview.terms` of the preview confirmed; pages and the
    admin always pass it. An increase is invoiced now, pro rata; a monthly decrease is
    credited on the invoices of the period (open ones lowered first, paid parts to credit);
    a yearly decrease waits for the renewal."""
    today = today or timezone.now().date()
    subscription = lock_subscription(pk=subscription.pk)
    subscription.customer = lock_customer(pk=subscription.customer_id)
    preview = subscription_quantity_preview(
        subscription=subscription, quantity=quantity, today=today
    )
    if expected_terms is not None and preview.terms != expected_terms:
        raise _refuse_changed()
    before = {"quantity": subscription.quantity, "pending_quantity": subscription.pending_quantity}

    if preview.change == SCHEDULED_DECREASE:
        subscription.pending_quantity = quantity
    else:
        subscription.quantity = preview.licences_now
        subscription.pending_quantity = None
    subscription.save(update_fields=["quantity", "pending_quantity"])

    invoice = None
    notes: list[CreditNote] = []
    if preview.change == INCREASE and preview.subtotal > 0:
        invoice = _proration_invoice_issue(
            subscription=subscription, preview=preview, actor=actor, today=today
        )
        if (invoice.total.amount, invoice.credit_applied.amount) != (
            preview.total_now,
            preview.credit_used,
        ):
            raise _refuse_changed()
        collection_start(invoice_ids=[invoice.pk], today=today)
    elif preview.change == DECREASE:
        notes = _decrease_apply(preview=preview, actor=actor, today=today)

    organization = subscription.organization
    if preview.licences_now != organization.licence_count:
        organization_set_billing_state(
            organization=organization, actor=actor, licence_count=preview.licences_now
        )
        # Counted again under the organization's lock (the one device moves take): a
        # device moved into the field since the preview must not go unlicensed.
        in_field = organization_in_field_count(organization=organization)
        if in_field > preview.licences_now:
            raise BillingError(
                f"{in_field} devices are now in the field in {organization.name}: move "
                f"{in_field - preview.licences_now} back to stock first, or keep at least "
                f"{in_field} licences.",
                code="quantity_below_in_field",
            )

    audit_record(
        actor=actor,
        action="subscription.change_quantity",
        target=subscription,
        before=before,
        after={
            "quantity": subscription.quantity,
            "pending_quantity": subscription.pending_quantity,
            "change": preview.change,
            "invoice": invoice.number if invoice else None,
            "credit_notes": [note.number for note in notes],
            "credit": str(preview.credit_gained) if notes else None,
        },
    )
    attachments = invoice_pdf_attachments(invoice=invoice)
    customer_email_send(
        customer=subscription.customer,
        subject=(
            f"{subscription.organization_name} ({subscription.public_id}): {quantity} "
            f"licences from {preview.effective_on:%d %b %Y}"
            if preview.change == SCHEDULED_DECREASE
            else f"{subscription.organization_name} ({subscription.public_id}): now "
            f"{quantity} licences"
        ),
        template="subscription_changed",
        context={
            "subscription": subscription,
            "preview": preview,
            "invoice": invoice,
            "credit_notes": notes,
        },
        attachments=attachments,
        # Not sent: the invoice is given back to the sweep, which e-mails it alone later.
        on_failure=(lambda: invoice_email_release(invoice_id=invoice.pk)) if attachments else None,
    )
    return QuantityChange(preview=preview, invoice=invoice, credit_notes=tuple(notes))


def _decrease_apply(*, preview: QuantityPreview, actor: Actor, today: date) -> list[CreditNote]:
    """One credit note per invoice of the period, as previewed: open invoices are lowered,
    the paid parts become credit."""
    notes = [
        credit_note_issue(
            invoice=Invoice.objects.get(pk=reduction.invoice_id),
            amount=reduction.amounts.subtotal,
            reason=preview.lines[0].description,
            actor=actor,
            issued_on=today,
            expected=reduction.amounts,
            notify=False,  # the change's e-mail lists its credit notes
        )
        for reduction in preview.reductions
    ]
    if sum((note.credited.amount for note in notes), Decimal(0)) != preview.credit_gained:
        raise _refuse_changed()
    return notes


def _proration_invoice_issue(
    *, subscription: Subscription, preview: QuantityPreview, actor: Actor, today: date
) -> Invoice:
    """The invoice of an increase, issued at once; the customer's credit is used first."""
    invoice = invoice_create_draft(
        customer=subscription.customer,
        subscription=subscription,
        kind=InvoiceKind.PRORATION,
        period_start=preview.effective_on,
        period_end=subscription.current_period_end,
    )
    for line in preview.lines:
        invoice_add_line(
            invoice=invoice,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
    return invoice_finalize(invoice=invoice, actor=actor, issued_on=today)
