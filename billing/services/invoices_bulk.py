"""Issuing many invoices in one transaction (nightly renewals): the same rules as
invoices.invoice_finalize (gapless number, credit used first before VAT, VAT, bill-to
frozen, zero total paid at once), with a fixed number of queries per batch instead of
per invoice.

Locks, in the order of services/locks.py: the caller holds the subscriptions; then the
customers' rows (their credit, in id order), then the number sequence (once per batch).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Case, DecimalField, Value, When
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import Actor, audit_actor_columns, audit_record_many
from billing.models import (
    CreditEntry,
    CreditKind,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Subscription,
)
from billing.money import round_money
from billing.services.bulk_insert import bulk_insert_rows
from billing.services.invoices import invoice_bill_to, invoice_settle
from billing.services.locks import lock_customers
from billing.services.numbering import number_next_block
from billing.services.vat import vat_treatment_for

_BALANCE = DecimalField(max_digits=14, decimal_places=2)


@dataclass(frozen=True)
class LineDraft:
    description: str
    quantity: int
    unit_price: Decimal  # in the invoice currency, per unit and per period
    period_start: date | None = None
    period_end: date | None = None


@dataclass(kw_only=True)
class InvoiceDraft:
    """Whom and what to invoice. The customer and the subscription are given as model
    instances or by id (nightly renewals read plain values): the customer's details
    (currency, VAT, bill-to) are read from its row locked by invoices_issue_many."""

    kind: str
    lines: list[LineDraft]
    customer: Customer | None = None
    customer_id: int | None = None
    subscription: Subscription | None = None
    subscription_id: int | None = None
    idempotency_key: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.customer is not None:
            self.customer_id = self.customer.pk
        if self.subscription is not None:
            self.subscription_id = self.subscription.pk
        if self.customer_id is None:
            raise ValueError("An invoice draft needs its customer")


@dataclass(frozen=True)
class IssuedInvoice:
    """What the caller needs of an invoice just issued (no model instance per row)."""

    pk: int
    number: str
    status: str
    customer_id: int
    credit_applied: Decimal
    total: Decimal
    currency: str

    def as_audit_target(self) -> tuple[str, int, str]:
        """(label, pk, text) for audit_record_many: no model instance per row."""
        return (Invoice._meta.label, self.pk, self.number)


def invoices_issue_many(
    *, drafts: list[InvoiceDraft], actor: Actor, issued_on: date | None = None
) -> list[IssuedInvoice]:
    """Creates and finalizes the invoices in the order given; returns them numbered."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoices_issue_many must run inside the caller's transaction")
    if not drafts:
        return []
    issued_on = issued_on or timezone.now().date()
    due_on = issued_on + timedelta(days=settings.BILLING_INVOICE_DUE_DAYS)
    # The customers (their credit) before the numbers, in id order: services/locks.py.
    # Their details (currency, VAT, bill-to) are read from these locked rows.
    customers = lock_customers(pks=(d.customer_id for d in drafts))
    balances = {pk: customer.credit_balance for pk, customer in customers.items()}
    locked_balances = dict(balances)
    numbers = number_next_block(
        series=settings.BILLING_INVOICE_PREFIX, year=issued_on.year, count=len(drafts)
    )
    treatments: dict[int, Any] = {}
    bill_tos: dict[int, dict] = {}
    used_by_customer: dict[int, Decimal] = defaultdict(Decimal)
    now = timezone.now()
    rows: list[dict] = []
    line_rows: list[list[dict]] = []
    for draft, number in zip(drafts, numbers, strict=True):
        customer = customers[draft.customer_id]
        currency = customer.currency
        if customer.pk not in treatments:
            treatments[customer.pk] = vat_treatment_for(
                country=customer.country, vat_number=customer.vat_number
            )
            bill_tos[customer.pk] = invoice_bill_to(customer=customer)
        treatment = treatments[customer.pk]
        lines = [
            {
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "unit_price_currency": currency,
                "amount": round_money(line.unit_price * line.quantity),
                "amount_currency": currency,
                "period_start": line.period_start,
                "period_end": line.period_end,
            }
            for line in draft.lines
        ]
        amounts = invoice_settle(
            subtotal=sum((line["amount"] for line in lines), Decimal("0.00")),
            credit_available=balances[customer.pk],
            vat_rate=treatment.rate,
        )
        subtotal, credit, vat, total = (
            amounts.subtotal,
            amounts.credit,
            amounts.vat,
            amounts.total,
        )
        balances[customer.pk] -= credit
        used_by_customer[customer.pk] += credit
        paid = total == 0
        rows.append(
            {
                "customer_id": customer.pk,
                "subscription_id": draft.subscription_id,
                "kind": draft.kind,
                "idempotency_key": draft.idempotency_key,
                "number": number,
                "status": InvoiceStatus.PAID if paid else InvoiceStatus.OPEN,
                "currency": currency,
                "subtotal": subtotal,
                "subtotal_currency": currency,
                "credit_applied": credit,
                "credit_applied_currency": currency,
                "vat_rate": treatment.rate,
                "vat_amount": vat,
                "vat_amount_currency": currency,
                "total": total,
                "total_currency": currency,
                "amount_due": Decimal("0.00") if paid else total,
                "amount_due_currency": currency,
                "vat_note": treatment.note,
                "bill_to": bill_tos[customer.pk],
                "period_start": draft.period_start,
                "period_end": draft.period_end,
                "issued_on": issued_on,
                "due_on": due_on,
                "paid_at": now if paid else None,
                "collection_attempts": 0,
                "next_collection_on": None,
                "created_at": now,
            }
        )
        line_rows.append(lines)
    ids = bulk_insert_rows(model=Invoice, rows=rows)
    bulk_insert_rows(
        model=InvoiceLine,
        rows=[
            {**line, "invoice_id": pk}
            for pk, lines in zip(ids, line_rows, strict=True)
            for line in lines
        ],
    )
    issued = [
        IssuedInvoice(
            pk=pk,
            number=row["number"],
            status=row["status"],
            customer_id=row["customer_id"],
            credit_applied=row["credit_applied"],
            total=row["total"],
            currency=row["currency"],
        )
        for pk, row in zip(ids, rows, strict=True)
    ]
    _credit_record_used(issued=issued, used_by_customer=used_by_customer, balances=locked_balances)
    _audit_finalized(actor=actor, issued=issued)
    return issued


def _audit_finalized(*, actor: Actor, issued: list[IssuedInvoice]) -> None:
    """One "invoice.finalize" audit row per invoice, as audit_record would write it. On
    PostgreSQL, set-based: INSERT ... SELECT from the invoices just written (the same
    values: numeric(14,2) as text is the Decimal's text), no row through Python."""
    connection = connections[router.db_for_write(AuditEntry)]
    if connection.vendor != "postgresql":
        audit_record_many(
            actor=actor,
            entries=[
                (
                    "invoice.finalize",
                    invoice.as_audit_target(),
                    {"status": InvoiceStatus.DRAFT},
                    {
                        "status": invoice.status,
                        "number": invoice.number,
                        "total": f"{invoice.total} {invoice.currency}",
                    },
                )
                for invoice in issued
            ],
        )
        return
    actor_id, label = audit_actor_columns(actor)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO audit_auditentry
                (created_at, actor_id, actor_label, action, target_type, target_id,
                 target_repr, before, after)
            SELECT %s, %s, %s, 'invoice.finalize', %s, id::text, left(number, 200),
                   jsonb_build_object('status', %s::text),
                   jsonb_build_object(
                       'status', status, 'number', number,
                       'total', total::text || ' ' || total_currency)
            FROM billing_invoice
            WHERE id = ANY(%s)
            ORDER BY billing_invoice.id
            """,
            [
                timezone.now(),
                actor_id,
                label,
                Invoice._meta.label,
                str(InvoiceStatus.DRAFT),
                [invoice.pk for invoice in issued],
            ],
        )


def _credit_record_used(
    *, issued: list["IssuedInvoice"], used_by_customer: dict, balances: dict[int, Decimal]
) -> None:
    """Moves the balances (rows locked by invoices_issue_many, `balances` read under that
    lock; exact Decimal writes, see credit.credit_balance_write), in one UPDATE, and writes
    the ledger rows, each with the balance after it, in the order the invoices used the
    credit."""
    balances = {pk: balances[pk] for pk, used in used_by_customer.items() if used > 0}
    if balances:
        Customer.objects.filter(pk__in=list(balances)).update(
            credit_balance=Case(
                *(
                    When(pk=pk, then=Value(balance - used_by_customer[pk], output_field=_BALANCE))
                    for pk, balance in balances.items()
                ),
                output_field=_BALANCE,
            )
        )
    entries = []
    for invoice in issued:
        if invoice.credit_applied > 0:
            balances[invoice.customer_id] -= invoice.credit_applied
            entries.append(
                CreditEntry(
                    customer_id=invoice.customer_id,
                    kind=CreditKind.USED,
                    amount=-invoice.credit_applied,
                    balance_after=balances[invoice.customer_id],
                    invoice_id=invoice.pk,
                    reason=f"Used on invoice {invoice.number}",
                )
            )
    if entries:
        CreditEntry.objects.bulk_create(entries)
