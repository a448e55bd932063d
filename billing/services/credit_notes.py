"""Credit notes: the only way to correct a finalized invoice. Own gapless series per year
(CN-2026-000001), drawn under the same row lock as invoice numbers.

Rules chosen here (DESIGN.md is silent):
- `amount` is before VAT, in the invoice's currency, and at most what is left uncredited
  of the invoice's taxable base (subtotal minus the customer credit it used, minus earlier
  credit notes). VAT is added at the invoice's own rate, rounded half up; the note that
  credits the last cent takes exactly the VAT left, so the notes never exceed the invoice.
- Paid invoice: the amount before VAT goes to the customer's credit balance, which the
  next invoices use before VAT (so the VAT comes back with it).
- Open invoice credited in full by one note: the invoice becomes void (nothing is owed),
  the customer credit it had used is given back, and its organization leaves read-only
  if that was its last overdue invoice.
- Open invoice credited in part: the invoice stays open (a finalized invoice never
  changes) and the amount goes to the credit balance, used by the next invoices.
- Drafts and void invoices cannot be credited.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from djmoney.money import Money

from audit.services import audit_record
from billing.errors import BillingError
from billing.models import CreditNote, Invoice, InvoiceStatus, Subscription
from billing.money import round_money
from billing.services.credit import credit_grant
from billing.services.invoices import invoice_check_transition
from billing.services.numbering import number_next
from billing.services.overdue import overdue_refresh_subscription
from billing.services.vat import vat_amount

CREDIT_NOTE_SERIES = "CN"


@dataclass(frozen=True)
class CreditNoteAmounts:
    subtotal: Decimal
    vat: Decimal
    total: Decimal
    voids_invoice: bool


def credit_note_creditable(*, invoice: Invoice) -> Decimal:
    """What is left to credit on the invoice, before VAT."""
    base = invoice.subtotal.amount - invoice.credit_applied.amount
    credited = invoice.credit_notes.aggregate(s=Sum("subtotal"))["s"] or Decimal(0)
    return base - credited


def credit_note_preview(*, invoice: Invoice, amount: Any) -> CreditNoteAmounts:
    """Validates the amount and computes the note, without writing anything."""
    if invoice.status == InvoiceStatus.DRAFT:
        raise BillingError("A draft invoice has no number yet: edit it instead of crediting it.")
    if invoice.status == InvoiceStatus.VOID:
        raise BillingError(f"Invoice {invoice.number} is void: there is nothing to credit.")
    try:
        amount = Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        raise BillingError("Enter the amount to credit, e.g. 12.50.") from None
    if not amount.is_finite() or amount <= 0:
        raise BillingError("The amount to credit must be more than zero.")
    if amount != round_money(amount):
        raise BillingError("The amount to credit has at most two decimal places (cents).")
    left = credit_note_creditable(invoice=invoice)
    if amount > left:
        raise BillingError(
            f"Only {left} {invoice.currency} (before VAT) is left to credit on invoice "
            f"{invoice.number}."
        )
    if amount == left:
        vat_credited = invoice.credit_notes.aggregate(s=Sum("vat_amount"))["s"] or Decimal(0)
        vat = invoice.vat_amount.amount - vat_credited
    else:
        vat = vat_amount(taxable=amount, rate=invoice.vat_rate)
    voids = (
        invoice.status == InvoiceStatus.OPEN
        and amount == left
        and not invoice.credit_notes.exists()
    )
    return CreditNoteAmounts(subtotal=amount, vat=vat, total=amount + vat, voids_invoice=voids)


@transaction.atomic
def credit_note_issue(
    *, invoice: Invoice, amount: Any, reason: str, actor: Any, issued_on: date | None = None
) -> CreditNote:
    reason = (reason or "").strip()
    if not reason:
        raise BillingError("Say why the invoice is credited: the reason is printed on the note.")
    # Lock order as for invoices: the invoice, then the number sequence, then the customer.
    invoice = Invoice.objects.select_for_update().select_related("customer").get(pk=invoice.pk)
    amounts = credit_note_preview(invoice=invoice, amount=amount)
    issued_on = issued_on or timezone.now().date()
    currency = invoice.currency
    note = CreditNote.objects.create(
        number=number_next(series=CREDIT_NOTE_SERIES, year=issued_on.year),
        customer=invoice.customer,
        invoice=invoice,
        reason=reason[:300],
        subtotal=Money(amounts.subtotal, currency),
        vat_amount=Money(amounts.vat, currency),
        total=Money(amounts.total, currency),
        issued_on=issued_on,
    )
    if amounts.voids_invoice:
        invoice_check_transition(invoice=invoice, to=InvoiceStatus.VOID)
        invoice.status = InvoiceStatus.VOID
        invoice.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="invoice.void",
            target=invoice,
            before={"status": InvoiceStatus.OPEN},
            after={"status": InvoiceStatus.VOID, "credit_note": note.number},
        )
        if invoice.credit_applied.amount > 0:
            credit_grant(
                customer=invoice.customer,
                amount=invoice.credit_applied.amount,
                reason=f"Credit used on {invoice.number}, given back by {note.number}",
                invoice=invoice,
            )
        if invoice.subscription_id is not None:
            overdue_refresh_subscription(
                subscription=Subscription.objects.select_related("organization").get(
                    pk=invoice.subscription_id
                ),
                actor=actor,
            )
    else:
        credit_grant(
            customer=invoice.customer,
            amount=amounts.subtotal,
            reason=f"Credit note {note.number} on {invoice.number}",
            invoice=invoice,
            subscription=invoice.subscription,
        )
    audit_record(
        actor=actor,
        action="credit_note.issue",
        target=note,
        after={
            "invoice": invoice.number,
            "subtotal": note.subtotal,
            "vat": note.vat_amount,
            "total": note.total,
            "reason": note.reason,
            "voided_invoice": amounts.voids_invoice,
        },
    )
    return note
