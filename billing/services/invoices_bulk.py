"""Issuing many invoices in one transaction (nightly renewals): the same rules as
invoices.invoice_finalize (gapless number, credit used first before VAT, VAT, bill-to
frozen, zero total paid at once), with a fixed number of queries per batch instead of
per invoice. The amounts are computed in Python once per distinct set of terms; on
PostgreSQL one set-based statement writes the rows (_write_postgresql), elsewhere
bulk_create (_write_orm): tests/billing/test_invoices_bulk_writers.py holds them equal.

Locks, in the order of services/locks.py: the caller holds the subscriptions; then the
customers' rows (their credit, in id order), then the number sequence (once per batch).
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import Case, DecimalField, Value, When
from django.utils import timezone

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
from billing.pg_arrays import pg_array, pg_text_array
from billing.services.bulk_insert import bulk_insert_rows
from billing.services.invoices import invoice_bill_to, invoice_settle
from billing.services.locks import lock_customers
from billing.services.numbering import number_next_block
from billing.services.vat import VatTreatment, vat_treatment_for

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


@dataclass(frozen=True)
class _Terms:
    """What an invoice says besides whom it bills and its number: its lines and amounts.
    Computed once per distinct (kind, currency, VAT treatment, lines, credit available,
    period): most of a night's invoices share a handful."""

    kind: str
    currency: str
    treatment: VatTreatment
    lines: tuple[dict, ...]  # column values of each line, currency and invoice aside
    subtotal: Decimal
    credit: Decimal
    vat: Decimal
    total: Decimal
    period_start: date | None
    period_end: date | None
    paid: bool  # nothing to pay: paid at issue
    status: str


def _terms(*, draft: InvoiceDraft, currency: str, treatment: VatTreatment, available: Decimal):
    lines = tuple(
        {
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "amount": round_money(line.unit_price * line.quantity),
            "period_start": line.period_start,
            "period_end": line.period_end,
        }
        for line in draft.lines
    )
    amounts = invoice_settle(
        subtotal=sum((line["amount"] for line in lines), Decimal("0.00")),
        credit_available=available,
        vat_rate=treatment.rate,
    )
    return _Terms(
        kind=draft.kind,
        currency=currency,
        treatment=treatment,
        lines=lines,
        subtotal=amounts.subtotal,
        credit=amounts.credit,
        vat=amounts.vat,
        total=amounts.total,
        period_start=draft.period_start,
        period_end=draft.period_end,
        paid=amounts.total == 0,
        status=InvoiceStatus.PAID if amounts.total == 0 else InvoiceStatus.OPEN,
    )


@dataclass(slots=True)
class _Planned:
    """One invoice to write: whom it bills, its terms (an index) and, once drawn, its
    number."""

    customer_id: int
    subscription_id: int | None
    idempotency_key: str | None
    terms: int
    number: str = ""


def invoices_issue_many(
    *, drafts: list[InvoiceDraft], actor: Actor, issued_on: date | None = None
) -> list[IssuedInvoice]:
    """Creates and finalizes the invoices in the order given; returns them numbered."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoices_issue_many must run inside the caller's transaction")
    if not drafts:
        return []
    issued_on = issued_on or timezone.now().date()
    # The customers (their credit) before the numbers, in id order: services/locks.py.
    # Their details (currency, VAT, bill-to) are read from these locked rows.
    customers = lock_customers(pks=(d.customer_id for d in drafts))
    balances = {pk: customer.credit_balance for pk, customer in customers.items()}
    locked_balances = dict(balances)
    treatments: dict[int, VatTreatment] = {}
    bill_tos: dict[int, dict] = {}
    terms: list[_Terms] = []
    terms_index: dict[tuple, int] = {}
    planned: list[_Planned] = []
    used_by_customer: dict[int, Decimal] = defaultdict(Decimal)
    for draft in drafts:
        customer = customers[draft.customer_id]
        if customer.pk not in treatments:
            treatments[customer.pk] = vat_treatment_for(
                country=customer.country, vat_number=customer.vat_number
            )
            bill_tos[customer.pk] = invoice_bill_to(customer=customer)
        treatment = treatments[customer.pk]
        available = max(balances[customer.pk], Decimal(0))
        key = (
            draft.kind,
            customer.currency,
            treatment,
            tuple(draft.lines),
            available,
            draft.period_start,
            draft.period_end,
        )
        index = terms_index.get(key)
        if index is None:
            index = terms_index[key] = len(terms)
            terms.append(
                _terms(
                    draft=draft,
                    currency=customer.currency,
                    treatment=treatment,
                    available=available,
                )
            )
        credit = terms[index].credit
        if credit:
            balances[customer.pk] -= credit
            used_by_customer[customer.pk] += credit
        planned.append(
            _Planned(
                customer_id=customer.pk,
                subscription_id=draft.subscription_id,
                idempotency_key=draft.idempotency_key,
                terms=index,
            )
        )
    # The numbers last, just before the write: the sequence stays locked until commit
    # and every invoice issued meanwhile, anywhere, waits for it.
    numbers = number_next_block(
        series=settings.BILLING_INVOICE_PREFIX, year=issued_on.year, count=len(drafts)
    )
    for invoice, number in zip(planned, numbers, strict=True):
        invoice.number = number
    write = _write_postgresql if _vendor() == "postgresql" else _write_orm
    ids = write(
        actor=actor,
        planned=planned,
        terms=terms,
        bill_tos=bill_tos,
        issued_on=issued_on,
        due_on=issued_on + timedelta(days=settings.BILLING_INVOICE_DUE_DAYS),
        now=timezone.now(),
    )
    issued = [
        IssuedInvoice(
            pk=pk,
            number=invoice.number,
            status=terms[invoice.terms].status,
            customer_id=invoice.customer_id,
            credit_applied=terms[invoice.terms].credit,
            total=terms[invoice.terms].total,
            currency=terms[invoice.terms].currency,
        )
        for pk, invoice in zip(ids, planned, strict=True)
    ]
    _credit_record_used(issued=issued, used_by_customer=used_by_customer, balances=locked_balances)
    return issued


def _vendor() -> str:
    return connections[router.db_for_write(Invoice)].vendor


def _invoice_row(*, invoice: _Planned, terms: _Terms, bill_to: dict, issued_on, due_on, now):
    currency = terms.currency
    return {
        "customer_id": invoice.customer_id,
        "subscription_id": invoice.subscription_id,
        "kind": terms.kind,
        "idempotency_key": invoice.idempotency_key,
        "number": invoice.number,
        "status": terms.status,
        "currency": currency,
        "subtotal": terms.subtotal,
        "subtotal_currency": currency,
        "credit_applied": terms.credit,
        "credit_applied_currency": currency,
        "vat_rate": terms.treatment.rate,
        "vat_amount": terms.vat,
        "vat_amount_currency": currency,
        "total": terms.total,
        "total_currency": currency,
        "amount_due": Decimal("0.00") if terms.paid else terms.total,
        "amount_due_currency": currency,
        "vat_note": terms.treatment.note,
        "bill_to": bill_to,
        "period_start": terms.period_start,
        "period_end": terms.period_end,
        "issued_on": issued_on,
        "due_on": due_on,
        "paid_at": now if terms.paid else None,
        "collection_attempts": 0,
        "next_collection_on": None,
        "created_at": now,
    }


def _write_orm(*, actor, planned, terms, bill_tos, issued_on, due_on, now) -> list[int]:
    """Any database: the invoices and their lines through bulk_create, the "invoice.finalize"
    audit rows through audit_record_many."""
    ids = bulk_insert_rows(
        model=Invoice,
        rows=[
            _invoice_row(
                invoice=invoice,
                terms=terms[invoice.terms],
                bill_to=bill_tos[invoice.customer_id],
                issued_on=issued_on,
                due_on=due_on,
                now=now,
            )
            for invoice in planned
        ],
    )
    bulk_insert_rows(
        model=InvoiceLine,
        rows=[
            {
                **line,
                "unit_price_currency": terms[invoice.terms].currency,
                "amount_currency": terms[invoice.terms].currency,
                "invoice_id": pk,
            }
            for pk, invoice in zip(ids, planned, strict=True)
            for line in terms[invoice.terms].lines
        ],
    )
    audit_record_many(
        actor=actor,
        entries=[
            (
                "invoice.finalize",
                (Invoice._meta.label, pk, invoice.number),
                {"status": InvoiceStatus.DRAFT},
                {
                    "status": terms[invoice.terms].status,
                    "number": invoice.number,
                    "total": f"{terms[invoice.terms].total} {terms[invoice.terms].currency}",
                },
            )
            for pk, invoice in zip(ids, planned, strict=True)
        ],
    )
    return ids


# PostgreSQL: one statement writes the invoices, their lines and their "invoice.finalize"
# audit rows, set-based. Python sends what differs per invoice as arrays (customer,
# subscription, key, number, terms) and each distinct terms once, as JSON; amounts travel
# as text so they stay exact. Ids come from the invoices' own sequence, in the order given.
_INSERT_SQL = """
WITH terms AS (
    SELECT * FROM jsonb_to_recordset(%(terms)s::jsonb) AS t(
        terms_id int, kind text, status text, currency text, subtotal numeric,
        credit numeric, vat_rate numeric, vat numeric, total numeric, amount_due numeric,
        vat_note text, period_start date, period_end date, paid boolean)
), lines AS (
    SELECT * FROM jsonb_to_recordset(%(lines)s::jsonb) AS l(
        terms_id int, position int, description text, quantity int, unit_price numeric,
        amount numeric, period_start date, period_end date)
), bill AS (
    SELECT * FROM jsonb_to_recordset(%(bill_tos)s::jsonb) AS b(customer_id bigint, bill_to jsonb)
), v AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('billing_invoice', 'id')) AS id, u.*
    FROM unnest(%(customers)s::bigint[], %(subscriptions)s::bigint[], %(keys)s::text[],
                %(numbers)s::text[], %(terms_ids)s::int[]) WITH ORDINALITY
         AS u(customer_id, subscription_id, idempotency_key, number, terms_id, n)
    ORDER BY u.n
), invoices AS (
    INSERT INTO billing_invoice
        (id, customer_id, subscription_id, kind, idempotency_key, number, status, currency,
         subtotal, subtotal_currency, credit_applied, credit_applied_currency, vat_rate,
         vat_amount, vat_amount_currency, total, total_currency, amount_due,
         amount_due_currency, vat_note, bill_to, period_start, period_end, issued_on, due_on,
         paid_at, collection_attempts, next_collection_on, created_at)
    SELECT v.id, v.customer_id, v.subscription_id, t.kind, v.idempotency_key, v.number,
           t.status, t.currency, t.subtotal, t.currency, t.credit, t.currency, t.vat_rate,
           t.vat, t.currency, t.total, t.currency, t.amount_due, t.currency, t.vat_note,
           b.bill_to, t.period_start, t.period_end, %(issued_on)s, %(due_on)s,
           CASE WHEN t.paid THEN %(now)s::timestamptz END, 0, NULL, %(now)s
    FROM v JOIN terms t USING (terms_id) JOIN bill b USING (customer_id)
    ORDER BY v.n
), invoice_lines AS (
    INSERT INTO billing_invoiceline
        (invoice_id, description, quantity, unit_price, unit_price_currency, amount,
         amount_currency, period_start, period_end)
    SELECT v.id, l.description, l.quantity, l.unit_price, t.currency, l.amount, t.currency,
           l.period_start, l.period_end
    FROM v JOIN terms t USING (terms_id) JOIN lines l USING (terms_id)
    ORDER BY v.n, l.position
), audit AS (
    INSERT INTO audit_auditentry
        (created_at, actor_id, actor_label, action, target_type, target_id, target_repr,
         before, after)
    SELECT %(now)s, %(actor_id)s, %(actor_label)s, 'invoice.finalize', %(target_type)s,
           v.id::text, left(v.number, 200), jsonb_build_object('status', %(draft)s::text),
           jsonb_build_object(
               'status', t.status, 'number', v.number,
               'total', t.total::numeric(14, 2)::text || ' ' || t.currency)
    FROM v JOIN terms t USING (terms_id)
    ORDER BY v.n
)
SELECT id FROM v ORDER BY n
"""


def _write_postgresql(*, actor, planned, terms, bill_tos, issued_on, due_on, now) -> list[int]:
    def text(value) -> str | None:
        return None if value is None else str(value)

    actor_id, actor_label = audit_actor_columns(actor)
    params = {
        "terms": json.dumps(
            [
                {
                    "terms_id": index,
                    "kind": t.kind,
                    "status": t.status,
                    "currency": t.currency,
                    "subtotal": str(t.subtotal),
                    "credit": str(t.credit),
                    "vat_rate": str(t.treatment.rate),
                    "vat": str(t.vat),
                    "total": str(t.total),
                    "amount_due": "0.00" if t.paid else str(t.total),
                    "vat_note": t.treatment.note,
                    "period_start": text(t.period_start),
                    "period_end": text(t.period_end),
                    "paid": t.paid,
                }
                for index, t in enumerate(terms)
            ]
        ),
        "lines": json.dumps(
            [
                {
                    "terms_id": index,
                    "position": position,
                    "description": line["description"],
                    "quantity": line["quantity"],
                    "unit_price": str(line["unit_price"]),
                    "amount": str(line["amount"]),
                    "period_start": text(line["period_start"]),
                    "period_end": text(line["period_end"]),
                }
                for index, t in enumerate(terms)
                for position, line in enumerate(t.lines)
            ]
        ),
        "bill_tos": json.dumps(
            [{"customer_id": pk, "bill_to": bill_to} for pk, bill_to in bill_tos.items()]
        ),
        "customers": pg_array(invoice.customer_id for invoice in planned),
        "subscriptions": pg_array(invoice.subscription_id for invoice in planned),
        "keys": pg_text_array(invoice.idempotency_key for invoice in planned),
        "numbers": pg_text_array(invoice.number for invoice in planned),
        "terms_ids": pg_array(invoice.terms for invoice in planned),
        "issued_on": issued_on,
        "due_on": due_on,
        "now": now,
        "actor_id": actor_id,
        "actor_label": actor_label,
        "target_type": Invoice._meta.label,
        "draft": str(InvoiceStatus.DRAFT),
    }
    with connections[router.db_for_write(Invoice)].cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)
        return [row[0] for row in cursor.fetchall()]


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
