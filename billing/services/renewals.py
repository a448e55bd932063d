"""Nightly renewals: each active subscription whose period has ended (end <= today, UTC)
moves to its next period and gets an invoice for it, in advance.

What each period bills and which quantity it carries (a pending yearly decrease takes
effect here) is decided in services/renewal_terms.py, for every caller.

Idempotent three ways: a chunk is one transaction (the invoices and the period move commit
together or not at all), the subscriptions are row-locked and re-filtered on `end <= today`
inside it (a second run finds nothing to do), and the database refuses two renewal
invoices for one subscription period (`invoice_one_renewal_per_period`, plus the unique
`idempotency_key` "renewal:<public_id>:<period_start>"); an invoice already there for a
period is never issued again.

The invoices are dated the day the job runs (UTC), whatever cut-off day it was given, so
invoice numbers follow the order of issue.

Catch-up: a subscription behind by several periods is caught up all at once, one invoice
per missed period (legacy counts are today's: history is not kept per period).

Locks (services/locks.py): the chunk's subscriptions, then their customers (credit), then
the number sequence, then organizations.

Collection (card, SEPA debit) is not done here: the open invoices a chunk issues get a
collection task each, queued when the chunk commits (services/collection.py).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, audit_actor_columns, audit_record_many
from billing.errors import BillingError
from billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Plan,
    PlanKind,
    Subscription,
    SubscriptionStatus,
)
from billing.notifications import notify_invoices_issued_later
from billing.pg_arrays import pg_array
from billing.services.collection import collection_start
from billing.services.invoices_bulk import InvoiceDraft, LineDraft, invoices_issue_many
from billing.services.periods import period_end_for
from billing.services.renewal_terms import (
    next_quantity,
    period_billed_quantity,
    subscription_next_terms,
)
from fleet.models import Organization
from fleet.selectors import organizations_device_totals
from fleet.services.organizations import organization_set_billing_state

# Subscriptions per chunk (one transaction). 5,000 keeps memory flat (a chunk's rows are
# plain values, about 7 MB more than 2,000) and the per-chunk costs (queries, commit) a
# small share: 50,000 renewals run about 15% faster than in chunks of 2,000. The number
# sequence is held from the chunk's invoice write to its commit, about 0.2 s.
RENEWAL_CHUNK_SIZE = 5000  # default of settings.BILLING_RENEWAL_CHUNK_SIZE


def renewal_chunk_size() -> int:
    """Subscriptions per chunk (one transaction, one task), read at call time."""
    return getattr(settings, "BILLING_RENEWAL_CHUNK_SIZE", RENEWAL_CHUNK_SIZE)


RENEWAL_ACTOR = "nightly-billing"


@dataclass
class RenewalResult:
    subscriptions: int = 0
    invoices: int = 0
    open_invoice_ids: list[int] = field(default_factory=list)


def renewal_idempotency_key(*, public_id: str, period_start: date) -> str:
    return f"renewal:{public_id}:{period_start.isoformat()}"


def subscriptions_due_for_renewal(*, today: date):
    """Ids of active subscriptions whose period has ended, in id order."""
    return (
        Subscription.objects.filter(status=SubscriptionStatus.ACTIVE, current_period_end__lte=today)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def renewals_check_date(*, today: date) -> None:
    if today > timezone.now().date():
        raise BillingError(
            f"Cannot renew for {today:%Y-%m-%d}: that day has not come yet (UTC). "
            "Renewals bill periods that have already ended."
        )


def renewal_line(*, plan: Plan, quantity: int, period_start: date, period_end: date) -> LineDraft:
    unit = "licence" if plan.kind == PlanKind.CORE else "device"
    return LineDraft(
        description=(
            f"{plan.name} ({plan.get_interval_display().lower()}), {quantity} "
            f"{unit}{'' if quantity == 1 else 's'}"
        ),
        quantity=quantity,
        unit_price=plan.unit_price.amount,
        period_start=period_start,
        period_end=period_end,
    )


def _billed(*, plan: Plan, quantity: int, devices: dict[str, int]) -> int:
    return period_billed_quantity(
        plan=plan,
        quantity=quantity,
        in_field=devices.get("in_the_field", 0),
        devices_total=devices.get("all", 0),
    )


def renewal_draft(
    *, subscription: Subscription, plan: Plan, quantity: int, start: date, end: date
) -> InvoiceDraft:
    return _draft(
        customer_id=subscription.customer_id,
        subscription_id=subscription.pk,
        public_id=subscription.public_id,
        line=renewal_line(plan=plan, quantity=quantity, period_start=start, period_end=end),
    )


def _draft(*, customer_id: int, subscription_id: int, public_id: str, line: LineDraft):
    start = line.period_start
    return InvoiceDraft(
        customer_id=customer_id,
        subscription_id=subscription_id,
        kind=InvoiceKind.RENEWAL,
        idempotency_key=renewal_idempotency_key(public_id=public_id, period_start=start),
        period_start=start,
        period_end=line.period_end,
        lines=[line],
    )


# What a chunk reads of each subscription: plain values, no model instance per row.
_CHUNK_FIELDS = (
    "pk",
    "public_id",
    "organization_name",
    "customer_id",
    "organization_id",
    "plan_id",
    "quantity",
    "pending_quantity",
    "billing_day",
    "billing_month",
    "current_period_start",
    "current_period_end",
)


@dataclass(frozen=True)
class PeriodMove:
    """A subscription's move to its new period [start, end): `subscription` holds its
    values read under the row lock (the period it leaves), `quantity` the one it takes
    when a pending quantity takes effect (else None)."""

    subscription: dict  # the chunk's plain values (_CHUNK_FIELDS)
    start: date
    end: date
    quantity: int | None


def _subscriptions_move(*, actor: Actor, moves: list[PeriodMove]) -> None:
    """Moves the subscriptions to their new periods (and pending quantities) with one
    "subscription.renew" audit row each (before and after: the period, and the quantity
    when a pending one took effect; values as text).

    On PostgreSQL one statement: the audit rows are read from the rows before the UPDATE
    of the same statement (one snapshot), in the chunk's order. Elsewhere one UPDATE per
    distinct new period (most subscriptions share a billing date) and audit_record_many."""
    if connection.vendor == "postgresql":
        _subscriptions_move_postgresql(actor=actor, moves=moves)
        return
    same_move: dict[tuple[date, date], list[int]] = defaultdict(list)
    for move in moves:
        pk = move.subscription["pk"]
        if move.quantity is None:
            same_move[(move.start, move.end)].append(pk)
        else:
            Subscription.objects.filter(pk=pk).update(
                quantity=move.quantity,
                pending_quantity=None,
                current_period_start=move.start,
                current_period_end=move.end,
            )
    for (start, end), ids in same_move.items():
        Subscription.objects.filter(pk__in=ids).update(
            current_period_start=start, current_period_end=end
        )
    entries = []
    for move in moves:
        s = move.subscription
        after = {"period_start": str(move.start), "period_end": str(move.end)}
        if move.quantity is not None:
            after["quantity"] = str(move.quantity)
        entries.append(
            (
                "subscription.renew",
                (Subscription._meta.label, s["pk"], f"{s['public_id']} {s['organization_name']}"),
                {
                    "period_start": str(s["current_period_start"]),
                    "period_end": str(s["current_period_end"]),
                },
                after,
            )
        )
    audit_record_many(actor=actor, entries=entries)


def _subscriptions_move_postgresql(*, actor: Actor, moves: list[PeriodMove]) -> None:
    # `sub.id = ANY(ids)` beside the join: each row is fetched by its index, not by a
    # hash join over the whole table that the planner prefers for a few thousand ids.
    ids = pg_array(move.subscription["pk"] for move in moves)
    actor_id, label = audit_actor_columns(actor)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH v AS (
                SELECT * FROM unnest(%s::bigint[], %s::date[], %s::date[], %s::integer[])
                    WITH ORDINALITY AS v(id, s, e, q, n)
            ), audit AS (
                INSERT INTO audit_auditentry
                    (created_at, actor_id, actor_label, action, target_type, target_id,
                     target_repr, before, after)
                SELECT %s, %s, %s, 'subscription.renew', %s, v.id::text,
                       left(sub.public_id || ' ' || sub.organization_name, 200),
                       jsonb_build_object(
                           'period_start', to_char(sub.current_period_start, 'YYYY-MM-DD'),
                           'period_end', to_char(sub.current_period_end, 'YYYY-MM-DD')),
                       jsonb_build_object(
                           'period_start', to_char(v.s, 'YYYY-MM-DD'),
                           'period_end', to_char(v.e, 'YYYY-MM-DD'))
                       || CASE WHEN v.q IS NULL THEN '{}'::jsonb
                               ELSE jsonb_build_object('quantity', v.q::text) END
                FROM v JOIN billing_subscription sub ON sub.id = v.id
                WHERE sub.id = ANY(%s::bigint[])
                ORDER BY v.n
            )
            UPDATE billing_subscription sub
            SET current_period_start = v.s,
                current_period_end = v.e,
                quantity = coalesce(v.q, sub.quantity),
                pending_quantity = CASE WHEN v.q IS NULL THEN sub.pending_quantity END
            FROM v
            WHERE sub.id = v.id AND sub.id = ANY(%s::bigint[])
            """,
            [
                ids,
                pg_array(move.start for move in moves),
                pg_array(move.end for move in moves),
                pg_array(move.quantity for move in moves),
                timezone.now(),
                actor_id,
                label,
                Subscription._meta.label,
                ids,
                ids,
            ],
        )


def renewals_renew_chunk(
    *, subscription_ids: list[int], today: date, actor: Actor = RENEWAL_ACTOR
) -> RenewalResult:
    """Renews the given subscriptions (those still due) in one transaction."""
    with transaction.atomic():
        return _renew_locked_chunk(subscription_ids=subscription_ids, today=today, actor=actor)


def _renew_locked_chunk(*, subscription_ids: list[int], today: date, actor: Actor) -> RenewalResult:
    # Lock the subscription rows only: customers are locked later, in the order every
    # invoicing path uses (number sequence, then customers).
    subscriptions = list(
        Subscription.objects.select_for_update()
        .filter(
            pk__in_ids=subscription_ids,
            status=SubscriptionStatus.ACTIVE,
            current_period_end__lte=today,
        )
        .order_by("pk")
        .values(*_CHUNK_FIELDS)
    )
    if not subscriptions:
        return RenewalResult()
    # Customers are read (and locked) once per chunk by invoices_issue_many.
    plans = Plan.objects.in_bulk({s["plan_id"] for s in subscriptions})
    legacy_org_ids = [
        s["organization_id"]
        for s in subscriptions
        if s["organization_id"] and plans[s["plan_id"]].kind == PlanKind.LEGACY
    ]
    devices = organizations_device_totals(organization_ids=legacy_org_ids) if legacy_org_ids else {}
    # A renewal invoice already issued for a period is never issued again.
    already = set(
        Invoice.objects.filter(
            kind=InvoiceKind.RENEWAL,
            subscription_id__in_ids=(s["pk"] for s in subscriptions),
            period_start__lte=today,
        ).values_list("subscription_id", "period_start")
    )
    drafts: list[InvoiceDraft] = []
    moves: list[PeriodMove] = []
    licence_changes: list[tuple[int, int]] = []  # (organization id, licences)
    lines: dict[tuple, LineDraft] = {}  # shared: frozen, most subscriptions bill alike
    for subscription in subscriptions:
        pk = subscription["pk"]
        plan = plans[subscription["plan_id"]]
        quantity = next_quantity(
            quantity=subscription["quantity"], pending_quantity=subscription["pending_quantity"]
        )
        billed = _billed(
            plan=plan, quantity=quantity, devices=devices.get(subscription["organization_id"], {})
        )
        start, end = subscription["current_period_start"], subscription["current_period_end"]
        while end <= today:
            start, end = (
                end,
                period_end_for(
                    start=end,
                    interval=plan.interval,
                    billing_day=subscription["billing_day"],
                    billing_month=subscription["billing_month"],
                ),
            )
            if (pk, start) not in already:
                key = (plan.pk, billed, start, end)
                if key not in lines:
                    lines[key] = renewal_line(
                        plan=plan, quantity=billed, period_start=start, period_end=end
                    )
                drafts.append(
                    _draft(
                        customer_id=subscription["customer_id"],
                        subscription_id=pk,
                        public_id=subscription["public_id"],
                        line=lines[key],
                    )
                )
        pending = bool(subscription["pending_quantity"])
        if pending and subscription["organization_id"]:
            licence_changes.append((subscription["organization_id"], quantity))
        moves.append(
            PeriodMove(
                subscription=subscription,
                start=start,
                end=end,
                quantity=quantity if pending else None,
            )
        )
    # The periods move before the invoices are numbered: the number sequence, locked by
    # invoices_issue_many until commit, is held for as short a time as possible.
    _subscriptions_move(actor=actor, moves=moves)
    invoices = invoices_issue_many(drafts=drafts, actor=actor)
    notify_invoices_issued_later(invoice_ids=[i.pk for i in invoices])  # on commit, a task
    if licence_changes:
        organizations = Organization.objects.in_bulk([org_id for org_id, _ in licence_changes])
        for org_id, licences in licence_changes:
            organization_set_billing_state(
                organization=organizations[org_id], actor=actor, licence_count=licences
            )
    open_ids = [i.pk for i in invoices if i.status == InvoiceStatus.OPEN]
    collection_start(invoice_ids=open_ids)
    return RenewalResult(
        subscriptions=len(subscriptions),
        invoices=len(invoices),
        open_invoice_ids=open_ids,
    )


def renewals_run(
    *, today: date, chunk_size: int | None = None, actor: Actor = RENEWAL_ACTOR
) -> RenewalResult:
    """Renews every due subscription in this process, chunk after chunk (staff command,
    benchmark). Keyset pagination: memory stays flat whatever the count (the open
    invoice ids are not gathered across chunks for the same reason)."""
    chunk_size = chunk_size or renewal_chunk_size()
    renewals_check_date(today=today)
    total = RenewalResult()
    last_id = 0
    while True:
        ids = list(subscriptions_due_for_renewal(today=today).filter(pk__gt=last_id)[:chunk_size])
        if not ids:
            return total
        result = renewals_renew_chunk(subscription_ids=ids, today=today, actor=actor)
        total.subscriptions += result.subscriptions
        total.invoices += result.invoices
        last_id = ids[-1]


def renewals_due_chunks(*, today: date, chunk_size: int | None = None):
    """Yields the due ids in chunks, for the nightly fan-out to the workers."""
    chunk_size = chunk_size or renewal_chunk_size()
    chunk: list[int] = []
    for subscription_id in subscriptions_due_for_renewal(today=today).iterator(chunk_size=2000):
        chunk.append(subscription_id)
        if len(chunk) == chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def renewal_issue_for_period(
    *, subscription: Subscription, start: date, actor: Actor
) -> Invoice | None:
    """Starts a new period on `start` and issues its invoice in advance (staff resume).

    The caller holds the subscription's row lock. Pending changes take effect as at a
    renewal. Returns None when that period's invoice already exists (resumed twice on
    one day): it is never issued twice.
    """
    terms = subscription_next_terms(subscription=subscription)
    plan, quantity = terms.plan, terms.quantity
    end = period_end_for(
        start=start,
        interval=plan.interval,
        billing_day=subscription.billing_day,
        billing_month=subscription.billing_month,
    )
    devices = (
        organizations_device_totals(organization_ids=[subscription.organization_id]).get(
            subscription.organization_id, {}
        )
        if subscription.organization_id and plan.kind == PlanKind.LEGACY
        else {}
    )
    billed = _billed(plan=plan, quantity=quantity, devices=devices)
    if subscription.pending_quantity and subscription.organization_id:
        organization_set_billing_state(
            organization=subscription.organization, actor=actor, licence_count=quantity
        )
    subscription.quantity = quantity
    subscription.pending_quantity = None
    subscription.current_period_start = start
    subscription.current_period_end = end
    subscription.save(
        update_fields=[
            "quantity",
            "pending_quantity",
            "current_period_start",
            "current_period_end",
        ]
    )
    if Invoice.objects.filter(
        kind=InvoiceKind.RENEWAL, subscription=subscription, period_start=start
    ).exists():
        return None
    draft = renewal_draft(
        subscription=subscription, plan=plan, quantity=billed, start=start, end=end
    )
    issued = invoices_issue_many(drafts=[draft], actor=actor)[0]
    if issued.status == InvoiceStatus.OPEN:
        collection_start(invoice_ids=[issued.pk])
    return Invoice.objects.get(pk=issued.pk)
