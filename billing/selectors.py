from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.utils import timezone
from djmoney.money import Money

from billing.models import (
    CreditEntry,
    CreditNote,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from fleet.models import DeviceState, Organization


def subscriptions_for_customer(*, customer: Customer) -> QuerySet[Subscription]:
    return customer.subscriptions.select_related("plan", "organization").order_by(
        "organization_name", "id"
    )


def invoice_overdue_condition(*, today: date) -> Q:
    """The overdue rule, in one place: still open after its due date (UTC); the due date
    itself is the last day to pay."""
    return Q(status=InvoiceStatus.OPEN, due_on__lt=today)


def _payments_pending_of_outer_invoice() -> QuerySet[Payment]:
    """Payments on their way for the outer invoice: its own, or a payment of several
    invoices at once that includes it (PaymentAllocation)."""
    return Payment.objects.filter(
        Q(invoice=OuterRef("pk")) | Q(allocations__invoice=OuterRef("pk")),
        status=PaymentStatus.PENDING,
    )


def _with_overdue_flag(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Adds `is_overdue` (as of today, UTC) so pages never judge dates themselves, and
    `payment_pending`: a payment is on its way (a SEPA debit the bank has not confirmed),
    so the page says so instead of asking to pay again."""
    condition = invoice_overdue_condition(today=timezone.now().date())
    pending = _payments_pending_of_outer_invoice()
    return invoices.annotate(
        is_overdue=ExpressionWrapper(condition, output_field=BooleanField()),
        payment_pending=Exists(pending),
    )


def invoices_for_customer(*, customer: Customer) -> QuerySet[Invoice]:
    """Finalized invoices only (drafts are internal), each with `is_overdue`."""
    return _with_overdue_flag(
        customer.invoices.exclude(status=InvoiceStatus.DRAFT).select_related("subscription")
    )


def subscription_for_customer(*, customer: Customer, public_id: str) -> Subscription:
    return Subscription.objects.select_related("plan", "organization").get(
        customer=customer, public_id=public_id
    )


def invoice_for_customer(*, customer: Customer, number: str) -> Invoice:
    return _with_overdue_flag(Invoice.objects.exclude(status=InvoiceStatus.DRAFT)).get(
        customer=customer, number=number
    )


def customer_credit_balance(*, customer: Customer) -> Decimal:
    """The credit as stored now (the balance moves with F(), so a loaded row may be stale)."""
    return Customer.objects.values_list("credit_balance", flat=True).get(pk=customer.pk)


def subscriptions_with_device_counts(subscriptions) -> list[Subscription]:
    """The given subscriptions (e.g. one page) with their devices counted, in one grouped
    query on the (organization, state) index: `in_field` (licences in use) and
    `devices_total` (what a legacy yearly plan bills)."""
    from fleet.selectors import organizations_device_totals

    subscriptions = list(subscriptions)
    totals = organizations_device_totals(
        organization_ids=[s.organization_id for s in subscriptions if s.organization_id]
    )
    for subscription in subscriptions:
        counted = totals.get(subscription.organization_id, {})
        subscription.in_field = counted.get(DeviceState.IN_THE_FIELD.value, 0)
        subscription.devices_total = counted.get("all", 0)
    return subscriptions


def subscriptions_overview_for_customer(*, customer: Customer) -> list[Subscription]:
    """All the customer's subscriptions with their devices counted (see
    subscriptions_with_device_counts; pages paginate subscriptions_for_customer instead)."""
    return subscriptions_with_device_counts(subscriptions_for_customer(customer=customer))


def next_renewals_for_customer(*, customer: Customer, limit: int) -> list[Subscription]:
    """The `limit` active subscriptions that renew first (soonest billing date), with
    their devices counted: what the overview's "Next renewals" lists."""
    soonest = (
        subscriptions_for_customer(customer=customer)
        .filter(status=SubscriptionStatus.ACTIVE)
        .order_by("current_period_end", "organization_name", "id")[:limit]
    )
    return subscriptions_with_device_counts(soonest)


def invoices_for_customer_filtered(
    *, customer: Customer, status: str = "", year: int | None = None
) -> QuerySet[Invoice]:
    """Finalized invoices, newest first, optionally of one status and one year of issue."""
    invoices = invoices_for_customer(customer=customer)
    if status:
        invoices = invoices.filter(status=status)
    if year:
        invoices = invoices.filter(issued_on__year=year)
    return invoices.order_by("-issued_on", "-id")


def invoice_years_for_customer(*, customer: Customer) -> list[int]:
    """Years of the customer's billing history, newest first (for the filter): from the
    first to the last year it was invoiced or credited, read from both ends of the
    (customer, issued_on) indexes, whatever the length of the history. Drafts have no
    issue date, so Min/Max skip them."""
    ends = (
        Customer.objects.filter(pk=customer.pk)
        .annotate(
            invoice_first=Subquery(_first_or_last_issue(Invoice, customer, "issued_on")),
            invoice_last=Subquery(_first_or_last_issue(Invoice, customer, "-issued_on")),
            note_first=Subquery(_first_or_last_issue(CreditNote, customer, "issued_on")),
            note_last=Subquery(_first_or_last_issue(CreditNote, customer, "-issued_on")),
        )
        .values("invoice_first", "invoice_last", "note_first", "note_last")
        .get()
    )
    days = [day for day in ends.values() if day is not None]
    if not days:
        return []
    return list(range(max(days).year, min(days).year - 1, -1))


def _first_or_last_issue(model, customer: Customer, order: str) -> QuerySet:
    return (
        model.objects.filter(customer=customer, issued_on__isnull=False)
        .order_by(order)
        .values("issued_on")[:1]
    )


def organization_for_customer(*, customer: Customer, pk: int) -> Organization:
    """One of the customer's organizations (through its subscriptions); DoesNotExist for
    another customer's organization or an erased one."""
    return Organization.objects.get(pk=pk, subscription__customer=customer)


def invoice_by_number(*, number: str) -> Invoice | None:
    """A finalized invoice by its number as a person types it (case and spaces forgiven),
    e.g. the reference of a bank transfer."""
    cleaned = "".join((number or "").split()).upper()
    if not cleaned:
        return None
    return (
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
        .select_related("customer", "subscription")
        .filter(number=cleaned)
        .first()
    )


# Credit notes are customer documents, numbered in their own series (CN-2026-000001): the
# portal shows them next to the invoices, at /invoices/<number>/ like an invoice.
CREDIT_NOTE_PREFIX = "CN-"
# The history's status filter also offers credit notes alone (they have no status).
CREDIT_NOTES_ONLY = "credit_note"


def is_credit_note_number(number: str) -> bool:
    return number.upper().startswith(CREDIT_NOTE_PREFIX)


def credit_notes_for_customer(*, customer: Customer) -> QuerySet[CreditNote]:
    return customer.credit_notes.select_related("invoice", "invoice__subscription")


def credit_note_for_customer(*, customer: Customer, number: str) -> CreditNote:
    """One of the customer's credit notes; DoesNotExist for another customer's."""
    return credit_notes_for_customer(customer=customer).get(number=number)


@dataclass(frozen=True)
class BillingDocument:
    """A row of the billing history: an invoice or a credit note."""

    is_credit_note: bool
    document: Invoice | CreditNote

    @property
    def number(self) -> str:
        return self.document.number

    @property
    def issued_on(self) -> date:
        return self.document.issued_on


class BillingDocuments:
    """Invoices and credit notes interleaved, newest first (on one day, a credit note
    before the invoice it may correct, then the newest first), read one page at a time:
    Django's Paginator asks for count() and one slice. The slice is one UNION ALL of the
    two (customer, issued_on desc, id desc) indexed queries, each limited to the end of
    the page, then the page's rows by id (two queries); the count is two indexed counts."""

    def __init__(self, invoices: QuerySet[Invoice] | None, notes: QuerySet[CreditNote] | None):
        self.invoices = invoices
        self.notes = notes

    def count(self) -> int:
        return sum(qs.count() for qs in (self.invoices, self.notes) if qs is not None)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        start, stop = index.start or 0, index.stop
        keys = self._keys(stop)[start:stop]
        invoice_ids = [pk for is_note, pk in keys if not is_note]
        note_ids = [pk for is_note, pk in keys if is_note]
        invoices = self.invoices.in_bulk(invoice_ids) if invoice_ids else {}
        notes = self.notes.in_bulk(note_ids) if note_ids else {}
        return [
            BillingDocument(is_credit_note=is_note, document=(notes if is_note else invoices)[pk])
            for is_note, pk in keys
        ]

    def _keys(self, stop: int | None) -> list[tuple[bool, int]]:
        parts = [
            qs.annotate(is_note=Value(is_note, output_field=BooleanField()))
            .values_list("issued_on", "is_note", "pk")
            .order_by()
            for qs, is_note in ((self.invoices, False), (self.notes, True))
            if qs is not None
        ]
        if len(parts) == 2:
            if stop is not None and connection.features.supports_slicing_ordering_in_compound:
                # Each side reads at most the end of the page from its index.
                parts = [part.order_by("-issued_on", "-pk")[:stop] for part in parts]
            rows = parts[0].union(parts[1], all=True)
        else:
            rows = parts[0]
        rows = rows.order_by("-issued_on", "-is_note", "-pk")
        if stop is not None:
            rows = rows[:stop]
        return [(bool(is_note), pk) for _issued_on, is_note, pk in rows]


def billing_documents_for_customer(
    *, customer: Customer, status: str = "", year: int | None = None
) -> BillingDocuments:
    """Invoices and credit notes interleaved, newest first (on one day, a credit note
    before the invoice it may correct). `status` is an invoice status (invoices only) or
    CREDIT_NOTES_ONLY; `year` the year of issue. Paginate it: it reads only the page."""
    invoices = notes = None
    if status != CREDIT_NOTES_ONLY:
        invoices = invoices_for_customer_filtered(customer=customer, status=status, year=year)
    if not status or status == CREDIT_NOTES_ONLY:
        notes = credit_notes_for_customer(customer=customer)
        if year:
            notes = notes.filter(issued_on__year=year)
    return BillingDocuments(invoices, notes)


def credit_entries_for_customer(*, customer: Customer) -> QuerySet[CreditEntry]:
    """The credit ledger, newest first, with what each entry came from."""
    return customer.credit_entries.select_related("invoice", "credit_note", "subscription")


def invoice_read_only_on(invoice: Invoice) -> date:
    """The day an open invoice, still unpaid, makes its organization read-only: the day
    after its due date (invoice_overdue_condition)."""
    return invoice.due_on + timedelta(days=1)


@dataclass(frozen=True)
class PaymentDeadline:
    """An open invoice not yet overdue, and when its organization becomes read-only."""

    invoice: Invoice
    read_only_on: date
    days_left: int  # days before it becomes read-only, today included


@dataclass(frozen=True)
class BillingOverview:
    amount_due: list[Money]  # open invoices' amount due, one per currency
    overdue: list[Invoice]  # each blocks its subscription's organization (read-only)
    deadlines: list[PaymentDeadline]  # open, not yet overdue, soonest first
    credit: Money


def _open_invoices(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    pending = _payments_pending_of_outer_invoice()
    return (
        invoices.filter(status=InvoiceStatus.OPEN, amount_due__gt=0)
        .select_related("subscription", "subscription__organization")
        .annotate(payment_pending=Exists(pending))
    )


def _deadlines(invoices: QuerySet[Invoice], today: date) -> list[PaymentDeadline]:
    found = []
    for invoice in invoices.filter(due_on__gte=today).order_by("due_on", "id"):
        read_only_on = invoice_read_only_on(invoice)
        found.append(
            PaymentDeadline(
                invoice=invoice, read_only_on=read_only_on, days_left=(read_only_on - today).days
            )
        )
    return found


def billing_overview_for_customer(*, customer: Customer, today: date) -> BillingOverview:
    """What the customer owes and by when, and the credit it holds."""
    open_invoices = _open_invoices(customer.invoices.all())
    sums = (
        open_invoices.values("amount_due_currency")
        .annotate(due=Sum("amount_due"))
        .order_by("amount_due_currency")
    )
    return BillingOverview(
        amount_due=[Money(row["due"], row["amount_due_currency"]) for row in sums],
        overdue=list(
            open_invoices.filter(invoice_overdue_condition(today=today)).order_by("due_on", "id")
        ),
        deadlines=_deadlines(open_invoices, today),
        credit=Money(customer_credit_balance(customer=customer), customer.currency),
    )


def organization_payment_deadlines(
    *, organization: Organization, today: date
) -> list[PaymentDeadline]:
    """The open invoices of the organization's subscription not yet overdue: pay each by
    its due date or the organization becomes read-only the day after."""
    invoices = _open_invoices(Invoice.objects.filter(subscription__organization=organization))
    return _deadlines(invoices, today)


def subscription_migrated_in_period(*, subscription: Subscription) -> date | None:
    """The day staff migrated it from legacy to Core, when that was in the current period
    (its invoice was then per device, at the legacy price); None otherwise."""
    from audit.models import AuditEntry

    entry = (
        AuditEntry.objects.filter(
            action="subscription.migrate_to_core",
            target_type="billing.Subscription",
            target_id=str(subscription.pk),
        )
        .order_by("-created_at")
        .first()
    )
    if entry is None:
        return None
    day = entry.created_at.date()
    return day if day >= subscription.current_period_start else None
