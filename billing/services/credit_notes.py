"""Credit notes: the only way to correct a finalized invoice. Own gapless series per year
(CN-2026-000001). A credit note is a customer document (page, PDF, e-mail).

The rule (money never paid is never credit), for a note of `amount` before VAT, in the
invoice's currency:
- At most what is left uncredited of the invoice's subtotal.
- The note covers the invoice's taxable base first (subtotal less the customer credit it
  used), then the part customer credit paid. VAT is added on the taxable part only, at the
  invoice's own rate, rounded half up; the note that credits the last of the taxable base
  takes exactly the VAT left, so the notes never exceed the invoice.
- Of the note's taxable part and its VAT, as much as the invoice still owes lowers its
  amount due (`applied_to_invoice`); at zero the invoice is void. Only the rest becomes
  customer credit (`credited`, before VAT, like all credit): the paid part of the invoice,
  and the part customer credit had paid.
- Drafts and void invoices cannot be credited.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from djmoney.money import Money

from audit.services import Actor, audit_record
from billing.errors import BillingError
from billing.models import CreditKind, CreditNote, Invoice, InvoiceStatus
from billing.money import round_money
from billing.notifications import notify_credit_note_issued
from billing.services.credit import credit_grant
from billing.services.invoices import invoice_reduce_due
from billing.services.locks import lock_customer, lock_invoice
from billing.services.numbering import number_next
from billing.services.vat import vat_amount

CREDIT_NOTE_SERIES = "CN"


@dataclass(frozen=True)
class CreditNoteAmounts:
    """A note's money in the invoice's currency, and where it goes."""

    subtotal: Decimal  # credited of the invoice's subtotal, before VAT
    taxable: Decimal  # of which within the invoice's taxable base
    vat: Decimal
    total: Decimal
    applied_to_invoice: Decimal  # lowers the amount due (VAT included)
    credited: Decimal  # to the customer's credit, before VAT
    voids_invoice: bool  # the amount due reaches zero


def _credited_so_far(invoice: Invoice) -> dict:
    sums = invoice.credit_notes.aggregate(
        subtotal=Sum("subtotal"), taxable=Sum("taxable"), vat=Sum("vat_amount")
    )
    return {key: value or Decimal(0) for key, value in sums.items()}


def credit_note_creditable(*, invoice: Invoice) -> Decimal:
    """What is left to credit on the invoice, before VAT."""
    return invoice.subtotal.amount - _credited_so_far(invoice)["subtotal"]


def credit_note_amounts(*, invoice: Invoice, amount: Decimal) -> CreditNoteAmounts:
    """Splits a note of `amount` (already validated) by the rule above. Writes nothing."""
    so_far = _credited_so_far(invoice)
    left = invoice.subtotal.amount - so_far["subtotal"]
    if amount > left:
        raise BillingError(
            f"Only {left} {invoice.currency} (before VAT) is left to credit on invoice "
            f"{invoice.number}.",
            code="credit_note_too_large",
        )
    taxable_left = invoice.subtotal.amount - invoice.credit_applied.amount - so_far["taxable"]
    taxable = min(amount, max(taxable_left, Decimal(0)))
    if taxable > 0 and taxable == taxable_left:
        vat = invoice.vat_amount.amount - so_far["vat"]
    else:
        vat = vat_amount(taxable=taxable, rate=invoice.vat_rate)
    due = invoice.amount_due.amount if invoice.status == InvoiceStatus.OPEN else Decimal("0.00")
    applied = min(taxable + vat, due)
    if applied == taxable + vat:
        credited = amount - taxable
    else:
        # The invoice was (partly) paid: what it no longer owes comes back as credit, before
        # VAT, in proportion.
        applied_before_vat = round_money(applied * 100 / (100 + invoice.vat_rate))
        credited = amount - applied_before_vat
    return CreditNoteAmounts(
        subtotal=amount,
        taxable=taxable,
        vat=vat,
        total=amount + vat,
        applied_to_invoice=applied,
        credited=credited,
        voids_invoice=due > 0 and applied == due,
    )


def credit_note_parse_amount(*, raw: object) -> Decimal:
    try:
        amount = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise BillingError(
            "Enter the amount to credit, e.g. 12.50.", code="amount_invalid"
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise BillingError("The amount to credit must be more than zero.", code="amount_invalid")
    if amount != round_money(amount):
        raise BillingError(
            "The amount to credit has at most two decimal places (cents).", code="amount_invalid"
        )
    return amount


def credit_note_check_creditable(*, invoice: Invoice) -> None:
    if invoice.status == InvoiceStatus.DRAFT:
        raise BillingError(
            "A draft invoice has no number yet: edit it instead of crediting it.",
            code="invoice_draft",
        )
    if invoice.status == InvoiceStatus.VOID:
        raise BillingError(
            f"Invoice {invoice.number} is void: there is nothing to credit.", code="invoice_void"
        )


def credit_note_preview(*, invoice: Invoice, amount: object) -> CreditNoteAmounts:
    """Validates a typed amount and computes the note, without writing anything."""
    credit_note_check_creditable(invoice=invoice)
    return credit_note_amounts(invoice=invoice, amount=credit_note_parse_amount(raw=amount))


@transaction.atomic
def credit_note_issue(
    *,
    invoice: Invoice,
    amount: object,
    reason: str,
    actor: Actor,
    issued_on: date | None = None,
    expected: CreditNoteAmounts | None = None,
    notify: bool = True,
    refund_paid_part: bool = False,
) -> CreditNote:
    """Issues the note; `expected` (what a preview showed) must still hold, or nothing is
    issued. Locks: customer, invoice, number sequence (services/locks.py). `notify=False`
    when the caller's own e-mail presents the note (a quantity change)."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError(
            "Say why the invoice is credited: the reason is printed on the note.",
            code="reason_missing",
        )
    lock_customer(pk=invoice.customer_id)
    invoice = lock_invoice(pk=invoice.pk)
    amounts = credit_note_preview(invoice=invoice, amount=amount)
    if expected is not None and amounts != expected:
        raise BillingError(
            f"Invoice {invoice.number} changed since the preview; check the amounts again.",
            code="preview_changed",
        )
    issued_on = issued_on or timezone.now().date()
    currency = invoice.currency
    note = CreditNote.objects.create(
        number=number_next(series=CREDIT_NOTE_SERIES, year=issued_on.year),
        customer_id=invoice.customer_id,
        invoice=invoice,
        reason=reason[:300],
        subtotal=Money(amounts.subtotal, currency),
        taxable=Money(amounts.taxable, currency),
        vat_amount=Money(amounts.vat, currency),
        total=Money(amounts.total, currency),
        applied_to_invoice=Money(amounts.applied_to_invoice, currency),
        credited=Money(Decimal(0) if refund_paid_part else amounts.credited, currency),
        refunded=amounts.credited if refund_paid_part else Decimal(0),
        issued_on=issued_on,
    )
    if amounts.applied_to_invoice > 0:
        invoice_reduce_due(
            invoice=invoice, by=amounts.applied_to_invoice, actor=actor, reason=note.number
        )
    if amounts.credited > 0 and not refund_paid_part:
        credit_grant(
            customer=invoice.customer,
            amount=amounts.credited,
            kind=CreditKind.CREDIT_NOTE,
            reason=f"Credit note {note.number} on {invoice.number}",
            invoice=invoice,
            subscription=invoice.subscription,
            credit_note=note,
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
            "applied_to_invoice": note.applied_to_invoice,
            "credited": note.credited,
            "refunded": note.refunded,
            "reason": note.reason,
            "voided_invoice": invoice.status == InvoiceStatus.VOID,
        },
    )
    if notify:
        notify_credit_note_issued(credit_note=note)
    return note
