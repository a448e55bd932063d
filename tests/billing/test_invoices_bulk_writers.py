"""invoices_issue_many has two writers: one set-based statement on PostgreSQL, bulk_create
and audit_record_many elsewhere. They must write the same invoices, lines, audit rows and
credit ledger, to the cent; and the array literals the set-based one sends must carry any
text unchanged."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction

from audit.models import AuditEntry
from billing.models import CreditEntry, Customer, Invoice, InvoiceKind, InvoiceLine
from billing.pg_arrays import pg_array, pg_text_array
from billing.services import invoices_bulk
from billing.services.credit import credit_grant_by_staff
from billing.services.invoices_bulk import InvoiceDraft, LineDraft, invoices_issue_many
from billing.services.renewals import renewal_draft
from tests.factories import CustomerFactory, PlanFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


class _RolledBack(Exception):
    pass


def _snapshot() -> dict:
    return {
        "invoices": list(
            Invoice.objects.order_by("number").values(
                "number",
                "customer_id",
                "subscription_id",
                "kind",
                "idempotency_key",
                "status",
                "currency",
                "subtotal",
                "credit_applied",
                "vat_rate",
                "vat_amount",
                "total",
                "amount_due",
                "amount_due_currency",
                "vat_note",
                "bill_to",
                "period_start",
                "period_end",
                "issued_on",
                "due_on",
                "collection_attempts",
                "next_collection_on",
            )
        ),
        "paid_at_set": [
            paid_at is not None
            for paid_at in Invoice.objects.order_by("number").values_list("paid_at", flat=True)
        ],
        "lines": list(
            InvoiceLine.objects.order_by("invoice__number", "pk").values(
                "invoice__number",
                "description",
                "quantity",
                "unit_price",
                "unit_price_currency",
                "amount",
                "amount_currency",
                "period_start",
                "period_end",
            )
        ),
        "audit": list(
            AuditEntry.objects.filter(action="invoice.finalize")
            .order_by("pk")
            .values("actor_label", "target_type", "target_repr", "before", "after")
        ),
        "credit": list(
            CreditEntry.objects.filter(kind="used")
            .order_by("pk")
            .values("customer_id", "amount", "balance_after", "reason", "invoice__number")
        ),
        "balances": list(Customer.objects.order_by("pk").values_list("pk", "credit_balance")),
    }


def _issue_with(monkeypatch, vendor: str, drafts) -> dict:
    """Issues the drafts with one writer and returns what it wrote, then rolls it back
    (the numbers go back with it, so both writers draw the same ones)."""
    monkeypatch.setattr(invoices_bulk, "_vendor", lambda: vendor)
    try:
        with transaction.atomic():
            issued = invoices_issue_many(drafts=drafts(), actor="nightly-billing")
            snapshot = _snapshot()
            snapshot["issued"] = [
                (i.number, i.status, i.credit_applied, i.total, i.currency) for i in issued
            ]
            snapshot["ids_ascending"] = [i.pk for i in issued] == sorted(i.pk for i in issued)
            raise _RolledBack
    except _RolledBack:
        pass
    return snapshot


@time_machine.travel("2026-12-01 00:00:05+00:00", tick=False)
def test_the_set_based_writer_writes_what_the_orm_writer_writes(on_postgres, monkeypatch):
    french = CustomerFactory(name='Quote "and" \\ backslash, {braces}')
    credit_grant_by_staff(customer=french, amount="50.00", reason="Goodwill", actor="staff")
    american = CustomerFactory(country="US", currency="USD")
    core = SubscriptionFactory(customer=french, quantity=7)
    other = SubscriptionFactory(customer=french, quantity=3)
    usd = SubscriptionFactory(customer=american, quantity=12)

    def drafts():
        plan = PlanFactory()
        start, end = date(2026, 12, 1), date(2027, 1, 1)
        return [
            renewal_draft(subscription=core, plan=plan, quantity=7, start=start, end=end),
            renewal_draft(subscription=other, plan=plan, quantity=3, start=start, end=end),
            renewal_draft(
                subscription=usd,
                plan=PlanFactory(currency="USD"),
                quantity=12,
                start=start,
                end=end,
            ),
            InvoiceDraft(
                customer=french,
                kind=InvoiceKind.ONE_OFF,
                lines=[
                    LineDraft(
                        description="Set-up, on site", quantity=2, unit_price=Decimal("9.99")
                    ),
                    LineDraft(
                        description="Training; 1/2 day", quantity=1, unit_price=Decimal("0.01")
                    ),
                ],
            ),
        ]

    written = _issue_with(monkeypatch, "postgresql", drafts)
    assert written == _issue_with(monkeypatch, "sqlite", drafts)
    # And what they wrote is the rule: credit first, then VAT, numbered in order.
    assert written["issued"] == [
        # 7 x 4.00 = 28.00, all from the 50.00 credit: nothing to pay, paid at issue
        ("CAJ-2026-000001", "paid", Decimal("28.00"), Decimal("0.00"), "EUR"),
        # 3 x 4.00 = 12.00 from the 22.00 left
        ("CAJ-2026-000002", "paid", Decimal("12.00"), Decimal("0.00"), "EUR"),
        # outside the EU: no VAT, no credit
        ("CAJ-2026-000003", "open", Decimal("0.00"), Decimal("48.00"), "USD"),
        # 19.98 + 0.01 = 19.99, 10.00 credit, 20 % VAT on 9.99 = 2.00
        ("CAJ-2026-000004", "open", Decimal("10.00"), Decimal("11.99"), "EUR"),
    ]
    assert written["balances"][0] == (french.pk, Decimal("0.00"))
    assert written["ids_ascending"]
    assert len(written["lines"]) == 5
    assert [row["after"]["number"] for row in written["audit"]] == [
        f"CAJ-2026-00000{n}" for n in range(1, 5)
    ]


def test_array_literals_carry_any_text_and_null(on_postgres):
    texts = ["plain", 'with "quotes"', "back\\slash", "comma, {brace}", "", None, "NULL", " sp "]
    numbers = [1, None, 3]
    days = [date(2026, 12, 1), None]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s::text[], %s::bigint[], %s::date[]",
            [pg_text_array(texts), pg_array(numbers), pg_array(days)],
        )
        assert cursor.fetchone() == (texts, numbers, days)
