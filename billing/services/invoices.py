"""Invoice lifecycle: draft -> open -> paid | void. Finalized invoices never change
amounts; a mistake is corrected by a credit note."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from billing.errors import BillingError
from billing.models import Customer, Invoice, InvoiceKind, InvoiceLine, InvoiceStatus, Subscription
from billing.money import money, round_money, zero
from billing.notifications import notify_payment_received
from billing.services.credit import credit_consume
from billing.services.locks import lock_customer, lock_invoice
from billing.services.numbering import number_next
from billing.services.overdue import overdue_refresh_subscription
from billing.services.vat import VatTreatment, vat_amount, vat_treatment_for

# The allowed moves, in one place.
INVOICE_TRANSITIONS: dict[str, set[str]] = {
    InvoiceStatus.DRAFT: {InvoiceStatus.OPEN},
    InvoiceStatus.OPEN: {InvoiceStatus.PAID, InvoiceStatus.VOID},
    # Only a payment taken back by the bank (SEPA return, chargeback) reopens a paid
    # invoice: services/payments.py payment_reverse, audited.
    InvoiceStatus.PAID: {InvoiceStatus.OPEN},
    InvoiceStatus.VOID: set(),
}


def invoice_check_transition(*, invoice: Invoice, to: str) -> None:
    if to not in INVOICE_TRANSITIONS[invoice.status]:
        raise BillingError(
            f"Invoice {invoice} is {invoice.get_status_display().lower()}; "
            f"it cannot become {InvoiceStatus(to).label.lower()}."
        )


def invoice_create_draft(
    *,
    customer: Customer,
    subscription: Subscription | None = None,
    kind: str = InvoiceKind.ONE_OFF,
    idempotency_key: str | None = None,
    period_start: date | None = None,
    period_end: date | None = None,
) -> Invoice:
    return Invoice.objects.create(
        customer=customer,
        subscription=subscription,
        kind=kind,
        idempotency_key=idempotency_key,
        currency=customer.currency,
        subtotal=zero(customer.currency),
        credit_applied=zero(customer.currency),
        vat_amount=zero(customer.currency),
        total=zero(customer.currency),
        amount_due=zero(customer.currency),
        period_start=period_start,
        period_end=period_end,
    )


def invoice_add_line(
    *,
    invoice: Invoice,
    description: str,
    quantity: int,
    unit_price: Decimal,
    amount: Decimal | None = None,
    period_start: date | None = None,
    period_end: date | None = None,
) -> InvoiceLine:
    """Adds a line of `unit_price x quantity`, rounded once, half up, to the cent.

    A prorated line passes its `amount`, computed exactly by
    billing.services.proration.proration_amount (dividing last, so 4.05 x 1/30 = 0.135
    rounds to 0.14, not 0.13).
    """
    if invoice.is_finalized:
        raise BillingError(f"Invoice {invoice} is finalized; correct it with a credit note.")
    if amount is None:
        amount = unit_price * quantity
    return InvoiceLine.objects.create(
        invoice=invoice,
        description=description,
        quantity=quantity,
        unit_price=money(unit_price, invoice.currency),
        amount=money(round_money(amount), invoice.currency),
        period_start=period_start,
        period_end=period_end,
    )


@dataclass(frozen=True)
class InvoiceAmounts:
    """An invoice's money, in its currency: credit comes off the subtotal first, VAT is
    added on the rest."""

    subtotal: Decimal
    credit: Decimal  # customer credit used, before VAT
    vat: Decimal
    total: Decimal  # what the customer is asked to pay


def invoice_settle(*, subtotal: Decimal, credit_available: Decimal, vat_rate: Decimal):
    """The one place the rule "credit first, then VAT at `vat_rate` percent, rounded once,
    half up" lives: invoices (one by one and in bulk), the Edit Subscription preview and
    the renewal estimates all call it."""
    credit = min(max(credit_available, Decimal(0)), subtotal)
    taxable = subtotal - credit
    vat = vat_amount(taxable=taxable, rate=vat_rate)
    return InvoiceAmounts(subtotal=subtotal, credit=credit, vat=vat, total=taxable + vat)


def invoice_bill_to(*, customer: Customer) -> dict:
    """Who was billed, frozen on the invoice at finalization."""
    return {
        "name": customer.name,
        "address_line1": customer.address_line1,
        "address_line2": customer.address_line2,
        "postal_code": customer.postal_code,
        "city": customer.city,
        "country": customer.country,
        "vat_number": customer.vat_number,
        "email": customer.email,
    }


# A balance top-up is a payment on account for cloud instances: no VAT on the invoice.
TOP_UP_VAT = VatTreatment(Decimal("0.00"), "Payment on account of the prepaid cloud balance.")


def invoice_compute_totals(*, invoice: Invoice, credit_available: Decimal = Decimal(0)) -> None:
    """Subtotal from the lines, then invoice_settle."""
    subtotal = sum((line.amount.amount for line in invoice.lines.all()), Decimal("0.00"))
    treatment = (
        TOP_UP_VAT
        if invoice.kind == InvoiceKind.TOP_UP
        else vat_treatment_for(
            country=invoice.customer.country, vat_number=invoice.customer.vat_number
        )
    )
    amounts = invoice_settle(
        subtotal=subtotal, credit_available=credit_available, vat_rate=treatment.rate
    )
    invoice.subtotal = money(amounts.subtotal, invoice.currency)
    invoice.credit_applied = money(amounts.credit, invoice.currency)
    invoice.vat_rate = treatment.rate
    invoice.vat_note = treatment.note
    invoice.vat_amount = money(amounts.vat, invoice.currency)
    invoice.total = money(amounts.total, invoice.currency)
    invoice.amount_due = money(amounts.total, invoice.currency)


@transaction.atomic
def invoice_finalize(
    *, invoice: Invoice, actor: Actor, issued_on: date | None = None, use_credit: bool = True
) -> Invoice:
    """Numbers the invoice (gapless per year), freezes the bill-to details, opens it.

    The customer's credit is used first (before VAT). A zero-total invoice (fully covered
    by credit) is paid at once. Locks: customer, invoice, number sequence.
    """
    lock_customer(pk=invoice.customer_id)
    invoice = lock_invoice(pk=invoice.pk)
    invoice_check_transition(invoice=invoice, to=InvoiceStatus.OPEN)
    issued_on = issued_on or timezone.now().date()
    invoice.number = number_next(series=settings.BILLING_INVOICE_PREFIX, year=issued_on.year)
    subtotal = sum((line.amount.amount for line in invoice.lines.all()), Decimal("0.00"))
    credit = (
        credit_consume(customer=invoice.customer, up_to=subtotal, invoice=invoice)
        if use_credit
        else Decimal(0)
    )
    invoice_compute_totals(invoice=invoice, credit_available=credit)
    invoice.bill_to = invoice_bill_to(customer=invoice.customer)
    invoice.issued_on = issued_on
    invoice.due_on = issued_on + timedelta(days=settings.BILLING_INVOICE_DUE_DAYS)
    invoice.status = InvoiceStatus.OPEN
    if invoice.total.amount == 0:
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = timezone.now()
        invoice.amount_due = zero(invoice.currency)
    invoice.save()
    audit_record(
        actor=actor,
        action="invoice.finalize",
        target=invoice,
        before={"status": InvoiceStatus.DRAFT},
        after={"status": invoice.status, "number": invoice.number, "total": invoice.total},
    )
    return invoice


def _organization_refresh(*, invoice: Invoice, actor: Actor) -> None:
    """Its organization leaves read-only at once when no overdue invoice is left."""
    if invoice.subscription_id is not None:
        overdue_refresh_subscription(
            subscription=Subscription.objects.select_related("organization").get(
                pk=invoice.subscription_id
            ),
            actor=actor,
        )


@transaction.atomic
def invoice_mark_paid(*, invoice: Invoice, actor: Actor, paid_at=None, via: str = "") -> Invoice:
    """Marks an open invoice paid (`via`: how, e.g. "bank transfer", for the audit trail).

    In the same transaction, the subscription's organization leaves read-only at once if
    no other overdue invoice of that subscription remains.
    """
    lock_customer(pk=invoice.customer_id)
    invoice = lock_invoice(pk=invoice.pk)
    invoice_check_transition(invoice=invoice, to=InvoiceStatus.PAID)
    paid = invoice.amount_due
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = paid_at or timezone.now()
    invoice.amount_due = zero(invoice.currency)
    invoice.save(update_fields=["status", "paid_at", "amount_due", "amount_due_currency"])
    audit_record(
        actor=actor,
        action="invoice.paid",
        target=invoice,
        before={"status": InvoiceStatus.OPEN, "amount_due": paid},
        after={"status": InvoiceStatus.PAID, "amount_due": 0, **({"via": via} if via else {})},
    )
    _organization_refresh(invoice=invoice, actor=actor)
    notify_payment_received(invoice=invoice, via=via, amount=paid)
    return invoice


def invoice_reduce_due(*, invoice: Invoice, by: Decimal, actor: Actor, reason: str) -> Invoice:
    """Lowers an open invoice's amount due (a credit note applied to it). At zero nothing is
    owed any more: the invoice is paid if payments covered the rest, void otherwise.

    The caller holds the customer and the invoice locks (services/locks.py) and passes the
    locked invoice.
    """
    if invoice.status != InvoiceStatus.OPEN or by <= 0:
        raise BillingError(f"Invoice {invoice} has nothing due to reduce.", code="nothing_due")
    if by > invoice.amount_due.amount:
        raise BillingError(
            f"Invoice {invoice} owes only {invoice.amount_due}.", code="reduction_too_large"
        )
    before = {"status": invoice.status, "amount_due": invoice.amount_due}
    invoice.amount_due = money(invoice.amount_due.amount - by, invoice.currency)
    fields = ["amount_due", "amount_due_currency"]
    if invoice.amount_due.amount == 0:
        settled = (
            InvoiceStatus.PAID if invoice_has_payments(invoice=invoice) else InvoiceStatus.VOID
        )
        invoice_check_transition(invoice=invoice, to=settled)
        invoice.status = settled
        fields.append("status")
        if settled == InvoiceStatus.PAID:
            invoice.paid_at = timezone.now()
            fields.append("paid_at")
    invoice.save(update_fields=fields)
    audit_record(
        actor=actor,
        action="invoice.void" if invoice.status == InvoiceStatus.VOID else "invoice.reduce_due",
        target=invoice,
        before=before,
        after={"status": invoice.status, "amount_due": invoice.amount_due, "by": reason},
    )
    if invoice.status != InvoiceStatus.OPEN:
        _organization_refresh(invoice=invoice, actor=actor)
    return invoice


def invoice_has_payments(*, invoice: Invoice) -> bool:
    """Whether money was received on it (a succeeded payment attempt)."""
    return invoice.payments.filter(status="succeeded").exists()
