"""Issuing many invoices in one transaction (nightly renewals): the same rules as
invoices.invoice_finalize (gapless number, credit used first before VAT, VAT, bill-to
frozen, zero total paid at once), with a fixed number of queries per batch instead of
per invoice.

Locks, in the order every invoicing path takes them: the number sequence (once per
batch), then the customers' rows (credit). The caller already holds the subscriptions.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from djmoney.money import Money

from audit.services import audit_record_many
from billing.models import (
    CreditEntry,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Subscription,
)
from billing.money import round_money
from billing.services.invoices import invoice_amounts, invoice_bill_to
from billing.services.numbering import number_next_block
from billing.services.vat import vat_treatment_for


@dataclass(frozen=True)
class LineDraft:
    description: str
    quantity: int
    unit_price: Decimal  # in the invoice currency, per unit and per period
    period_start: date | None = None
    period_end: date | None = None


@dataclass
class InvoiceDraft:
    customer: Customer  # with its contact loaded (bill-to e-mail)
    kind: str
    lines: list[LineDraft]
    subscription: Subscription | None = None
    idempotency_key: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    extra: dict = field(default_factory=dict)


def invoices_issue_many(
    *, drafts: list[InvoiceDraft], actor: Any, issued_on: date | None = None
) -> list[Invoice]:
    """Creates and finalizes the invoices in the order given; returns them numbered."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoices_issue_many must run inside the caller's transaction")
    if not drafts:
        return []
    issued_on = issued_on or timezone.now().date()
    due_on = issued_on + timedelta(days=settings.BILLING_INVOICE_DUE_DAYS)
    numbers = number_next_block(
        series=settings.BILLING_INVOICE_PREFIX, year=issued_on.year, count=len(drafts)
    )
    customer_ids = sorted({d.customer.pk for d in drafts})
    # Lock the customers (their credit) in a fixed order: no deadlock between batches.
    balances = dict(
        Customer.objects.select_for_update()
        .filter(pk__in=customer_ids)
        .order_by("pk")
        .values_list("pk", "credit_balance")
    )
    treatments: dict[int, Any] = {}
    bill_tos: dict[int, dict] = {}
    used_by_customer: dict[int, Decimal] = defaultdict(Decimal)
    now = timezone.now()
    invoices: list[Invoice] = []
    amounts: list[list[Decimal]] = []
    for draft, number in zip(drafts, numbers, strict=True):
        customer = draft.customer
        currency = customer.currency
        if customer.pk not in treatments:
            treatments[customer.pk] = vat_treatment_for(
                country=customer.country, vat_number=customer.vat_number
            )
            bill_tos[customer.pk] = invoice_bill_to(customer=customer)
        treatment = treatments[customer.pk]
        line_amounts = [round_money(line.unit_price * line.quantity) for line in draft.lines]
        subtotal = sum(line_amounts, Decimal("0.00"))
        credit = min(balances[customer.pk], subtotal)
        balances[customer.pk] -= credit
        used_by_customer[customer.pk] += credit
        vat, total = invoice_amounts(subtotal=subtotal, credit=credit, vat_rate=treatment.rate)
        paid = total == 0
        invoices.append(
            Invoice(
                customer=customer,
                subscription=draft.subscription,
                kind=draft.kind,
                idempotency_key=draft.idempotency_key,
                number=number,
                status=InvoiceStatus.PAID if paid else InvoiceStatus.OPEN,
                currency=currency,
                subtotal=Money(subtotal, currency),
                credit_applied=Money(credit, currency),
                vat_rate=treatment.rate,
                vat_amount=Money(vat, currency),
                total=Money(total, currency),
                vat_note=treatment.note,
                bill_to=bill_tos[customer.pk],
                period_start=draft.period_start,
                period_end=draft.period_end,
                issued_on=issued_on,
                due_on=due_on,
                paid_at=now if paid else None,
            )
        )
        amounts.append(line_amounts)
    Invoice.objects.bulk_create(invoices, batch_size=1000)
    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                description=line.description,
                quantity=line.quantity,
                unit_price=Money(line.unit_price, invoice.currency),
                amount=Money(amount, invoice.currency),
                period_start=line.period_start,
                period_end=line.period_end,
            )
            for invoice, draft, line_amounts in zip(invoices, drafts, amounts, strict=True)
            for line, amount in zip(draft.lines, line_amounts, strict=True)
        ],
        batch_size=1000,
    )
    _credit_record_used(invoices=invoices, used_by_customer=used_by_customer)
    audit_record_many(
        actor=actor,
        entries=[
            (
                "invoice.finalize",
                invoice,
                {"status": InvoiceStatus.DRAFT},
                {"status": invoice.status, "number": invoice.number, "total": invoice.total},
            )
            for invoice in invoices
        ],
    )
    return invoices


def _credit_record_used(*, invoices: list[Invoice], used_by_customer: dict) -> None:
    """Moves the balances with F() (rows already locked) and writes the history."""
    for customer_id, used in used_by_customer.items():
        if used > 0:
            Customer.objects.filter(pk=customer_id).update(
                credit_balance=F("credit_balance") - used
            )
    entries = [
        CreditEntry(
            customer_id=invoice.customer_id,
            amount=-invoice.credit_applied.amount,
            invoice=invoice,
            reason=f"Used on invoice {invoice.number}",
        )
        for invoice in invoices
        if invoice.credit_applied.amount > 0
    ]
    if entries:
        CreditEntry.objects.bulk_create(entries)
