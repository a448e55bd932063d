"""Edit subscription (Core): the proration arithmetic and the preview the customer confirms.

Fraction = remaining days / days in the period; remaining days run from today (UTC,
inclusive) to the period end (exclusive). Every amount is rounded once, per line, to the
cent, half up. Nothing here writes: `subscription_change_quantity`
(services/quantity_change.py) applies exactly what `subscription_quantity_preview` shows,
after computing it again under the locks and comparing.

A monthly decrease never makes credit from money that was not paid: its amount first
lowers what is still owed for the subscription's current period (a credit note on each
open invoice of the period, newest first), and only the rest becomes credit, each part
documented by a credit note on the paid invoice it comes from (services/credit_notes.py
splits each note). So it can never give back more than the period was invoiced (after a
legacy -> Core migration the period was billed per device, at the legacy price), nor can
a later credit note credit the same money again.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Sum

from billing.errors import BillingError
from billing.models import Interval, Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from billing.money import round_money
from billing.selectors import customer_credit_balance
from billing.services.credit_notes import (
    CreditNoteAmounts,
    credit_note_amounts,
    credit_note_creditable,
)
from billing.services.invoices import invoice_settle
from billing.services.quantities import subscription_validate_quantity
from billing.services.renewal_terms import period_billed_quantity, subscription_next_terms
from billing.services.vat import vat_treatment_for
from fleet.models import OrganizationMode
from fleet.selectors import organization_in_field_count

# What a change does; the preview and the e-mail word it for people.
INCREASE = "increase"  # invoiced now, pro rata
DECREASE = "decrease"  # monthly: credited now, pro rata
SCHEDULED_DECREASE = "scheduled_decrease"  # yearly: from the next renewal, no credit
SCHEDULED_DECREASE_CANCELLED = "scheduled_decrease_cancelled"  # yearly: back to the current


def proration_remaining_days(*, today: date, period_start: date, period_end: date) -> int:
    """Days from today (inclusive) to the period end (exclusive), within the period."""
    start = max(today, period_start)
    return max((period_end - start).days, 0)


def proration_amount(
    *, unit_price: Decimal, quantity: int, remaining_days: int, period_days: int
) -> Decimal:
    """unit price x quantity x remaining / period days, rounded once, half up, to the cent.

    Divides last, on the exact product: 1/30 has no exact decimal, and multiplying by a
    rounded fraction would turn an exact half cent (4.05 x 1/30 = 0.135) into 0.13499...
    """
    if period_days <= 0:
        raise ValueError("A period has at least one day")
    return round_money(unit_price * quantity * remaining_days / Decimal(period_days))


@dataclass(frozen=True)
class ProrationLine:
    description: str
    quantity: int  # licences added or removed (always positive)
    unit_price: Decimal  # per licence per period, currency units
    remaining_days: int
    period_days: int
    period_start: date  # the day the change takes effect (today)
    period_end: date  # exclusive
    amount: Decimal  # rounded to the cent


@dataclass(frozen=True)
class RenewalEstimate:
    """The next renewal invoice as it stands now, before any credit."""

    on: date
    quantity: int
    unit_price: Decimal
    subtotal: Decimal
    vat_rate: Decimal  # percent
    vat_amount: Decimal
    total: Decimal


@dataclass(frozen=True)
class InvoiceReduction:
    """The credit note a decrease puts on one open invoice of the period."""

    invoice_id: int
    invoice_number: str
    amounts: CreditNoteAmounts


@dataclass(frozen=True)
class QuantityPreview:
    subscription: Subscription
    currency: str
    change: str  # INCREASE, DECREASE, SCHEDULED_DECREASE, SCHEDULED_DECREASE_CANCELLED
    current_quantity: int
    new_quantity: int
    effective_on: date  # today, or the next renewal for a yearly decrease
    licences_now: int  # the licence count the MDM sees once confirmed
    lines: tuple[ProrationLine, ...]
    subtotal: Decimal  # sum of the lines
    credit_used: Decimal  # customer credit used on the invoice, before VAT
    vat_rate: Decimal  # percent
    vat_amount: Decimal
    vat_note: str
    total_now: Decimal  # charged now (0 when nothing is invoiced)
    reductions: tuple[InvoiceReduction, ...]  # monthly decrease: open invoices lowered
    credit_gained: Decimal  # added to the customer's credit (monthly decrease), before VAT
    next_renewal: RenewalEstimate

    @property
    def is_increase(self) -> bool:
        return self.change == INCREASE

    @property
    def lowered(self) -> tuple[InvoiceReduction, ...]:
        """The reductions that lower an open invoice (the others credit a paid one)."""
        return tuple(r for r in self.reductions if r.amounts.applied_to_invoice > 0)

    @property
    def terms(self) -> str:
        """What the customer confirms, as text carried by the confirmation: the quantity it
        starts from, the credit used, the amount charged now, each open invoice lowered and
        the credit gained. Confirming is refused unless the same preview, computed again
        under the locks, gives the same text."""
        reduced = ",".join(
            f"{r.invoice_number}:{r.amounts.applied_to_invoice:.2f}:{r.amounts.credited:.2f}"
            for r in self.reductions
        )
        return (
            f"from={self.current_quantity};to={self.new_quantity};"
            f"credit_used={self.credit_used:.2f};now={self.total_now:.2f};"
            f"reduce={reduced};credit_gained={self.credit_gained:.2f}"
        )


def subscription_check_editable(*, subscription: Subscription) -> None:
    """Raises BillingError saying why this subscription's quantity cannot be edited."""
    organization = subscription.organization
    if subscription.status == SubscriptionStatus.CANCELLED or organization is None:
        raise BillingError(
            f"Subscription {subscription.public_id} is cancelled; its quantity cannot be changed."
        )
    if not subscription.plan.is_core:
        raise BillingError(
            f"Subscription {subscription.public_id} is on the legacy plan "
            f"“{subscription.plan.name}”, billed per device: it is not yet migrated to the Core "
            "plan, so its quantity cannot be edited. Contact us to migrate it."
        )
    if subscription.status == SubscriptionStatus.PAUSED or organization.is_paused:
        raise BillingError(
            f"Subscription {subscription.public_id} is paused; its quantity cannot be changed "
            "until it is resumed. Contact us to resume it."
        )
    if organization.has_overdue_invoice or organization.mode == OrganizationMode.READ_ONLY:
        raise BillingError(
            f"{organization.name} is read-only because an invoice is past its due date. "
            "Pay the overdue invoice first; then you can change the quantity."
        )


def _check_quantity(*, subscription: Subscription, quantity: int) -> None:
    subscription_validate_quantity(quantity=quantity)
    in_field = organization_in_field_count(organization=subscription.organization)
    if quantity < in_field:
        missing = in_field - quantity
        raise BillingError(
            f"{in_field} devices are in the field in {subscription.organization.name}, so "
            f"{quantity} licence{'s' if quantity != 1 else ''} is too few: move {missing} "
            f"device{'s' if missing != 1 else ''} back to stock first, or keep at least "
            f"{in_field} licences."
        )
    if quantity == subscription.pending_quantity:
        raise BillingError(
            f"A decrease to {quantity} licences is already scheduled for the renewal on "
            f"{subscription.current_period_end:%d %b %Y}."
        )
    if quantity == subscription.quantity and subscription.pending_quantity is None:
        raise BillingError(f"The subscription already has {quantity} licences.")


def subscription_renewal_estimate(*, subscription: Subscription, quantity: int) -> RenewalEstimate:
    """The next renewal invoice for `quantity` units, before any credit."""
    unit_price = subscription.plan.unit_price.amount
    customer = subscription.customer
    treatment = vat_treatment_for(country=customer.country, vat_number=customer.vat_number)
    amounts = invoice_settle(
        subtotal=round_money(unit_price * quantity),
        credit_available=Decimal(0),
        vat_rate=treatment.rate,
    )
    return RenewalEstimate(
        on=subscription.current_period_end,
        quantity=quantity,
        unit_price=unit_price,
        subtotal=amounts.subtotal,
        vat_rate=treatment.rate,
        vat_amount=amounts.vat,
        total=amounts.total,
    )


def subscription_next_invoice_estimate(
    *, subscription: Subscription, in_field: int, devices_total: int
) -> RenewalEstimate | None:
    """The next renewal invoice as things stand (None when nothing will renew)."""
    if subscription.status != SubscriptionStatus.ACTIVE:
        return None
    terms = subscription_next_terms(subscription=subscription)
    quantity = period_billed_quantity(
        plan=terms.plan, quantity=terms.quantity, in_field=in_field, devices_total=devices_total
    )
    return subscription_renewal_estimate(subscription=subscription, quantity=quantity)


def _current_period_invoices(subscription: Subscription):
    start, end = subscription.current_period_start, subscription.current_period_end
    return Invoice.objects.filter(
        subscription=subscription, period_start__gte=start, period_start__lt=end
    ).exclude(status=InvoiceStatus.DRAFT)


def period_invoiced_left(*, subscription: Subscription) -> Decimal:
    """What the current period was invoiced, before VAT, less what credit notes took back:
    the most a decrease can give back."""
    invoices = _current_period_invoices(subscription).exclude(status=InvoiceStatus.VOID)
    billed = invoices.aggregate(s=Sum("subtotal"))["s"] or Decimal(0)
    credited = invoices.aggregate(s=Sum("credit_notes__subtotal"))["s"] or Decimal(0)
    return round_money(max(billed - credited, Decimal(0)))


def decrease_reductions(
    *, subscription: Subscription, amount: Decimal
) -> tuple[tuple[InvoiceReduction, ...], Decimal]:
    """Spreads a decrease of `amount` (before VAT, at most what the period has left
    invoiced) over the invoices of the current period as credit notes: the open ones
    first, newest first, then the paid ones, newest first. Returns the notes to issue and
    the credit they make (only the paid parts become credit)."""
    reductions = []
    left = amount
    invoices = _current_period_invoices(subscription).exclude(status=InvoiceStatus.VOID)
    ordered = sorted(
        invoices,
        key=lambda i: (i.status != InvoiceStatus.OPEN, -i.issued_on.toordinal(), -i.pk),
    )
    for invoice in ordered:
        if left <= 0:
            break
        part = min(left, credit_note_creditable(invoice=invoice))
        if part <= 0:
            continue
        amounts = credit_note_amounts(invoice=invoice, amount=part)
        reductions.append(
            InvoiceReduction(invoice_id=invoice.pk, invoice_number=invoice.number, amounts=amounts)
        )
        left -= part
    credit = sum((r.amounts.credited for r in reductions), Decimal("0.00"))
    return tuple(reductions), credit


def subscription_quantity_preview(
    *, subscription: Subscription, quantity: int, today: date
) -> QuantityPreview:
    """What changing to `quantity` today costs or credits, to the cent. Raises BillingError
    with the reason when the change is refused."""
    subscription_check_editable(subscription=subscription)
    _check_quantity(subscription=subscription, quantity=quantity)
    if today >= subscription.current_period_end:
        raise BillingError(
            f"The current period of {subscription.public_id} ended on "
            f"{subscription.current_period_end:%d %b %Y} and its renewal is being processed. "
            "Try again in a few minutes."
        )
    customer = subscription.customer
    plan = subscription.plan
    unit_price = plan.unit_price.amount
    start, end = subscription.current_period_start, subscription.current_period_end
    period_days = (end - start).days
    remaining = proration_remaining_days(today=today, period_start=start, period_end=end)
    effective_on = max(today, start)
    current = subscription.quantity
    treatment = vat_treatment_for(country=customer.country, vat_number=customer.vat_number)
    lines: tuple[ProrationLine, ...] = ()
    subtotal = credit_used = vat = total_now = credit_gained = Decimal("0.00")
    reductions: tuple[InvoiceReduction, ...] = ()
    licences_now = quantity
    renewal_quantity = quantity

    if quantity > current:
        change = INCREASE
        added = quantity - current
        amount = proration_amount(
            unit_price=unit_price, quantity=added, remaining_days=remaining, period_days=period_days
        )
        lines = (
            ProrationLine(
                description=(
                    f"{plan.name} {plan.get_interval_display().lower()}: {added} additional "
                    f"licence{'s' if added != 1 else ''} ({current} to {quantity}), "
                    f"{remaining}/{period_days} days"
                ),
                quantity=added,
                unit_price=unit_price,
                remaining_days=remaining,
                period_days=period_days,
                period_start=effective_on,
                period_end=end,
                amount=amount,
            ),
        )
        subtotal = amount
        # As invoice_finalize will: credit first (up to the subtotal), VAT on the rest.
        amounts = invoice_settle(
            subtotal=subtotal,
            credit_available=customer_credit_balance(customer=customer),
            vat_rate=treatment.rate,
        )
        credit_used, vat, total_now = amounts.credit, amounts.vat, amounts.total
    elif quantity == current:
        # Only reachable on a yearly plan with a decrease scheduled: this takes it back.
        change = SCHEDULED_DECREASE_CANCELLED
    elif plan.interval == Interval.YEAR:
        # 12-month commitment: the licences stay until the renewal, and nothing is credited.
        change = SCHEDULED_DECREASE
        licences_now = current
        effective_on = end
    else:
        change = DECREASE
        removed = current - quantity
        amount = proration_amount(
            unit_price=unit_price,
            quantity=removed,
            remaining_days=remaining,
            period_days=period_days,
        )
        invoiced_left = period_invoiced_left(subscription=subscription)
        capped = amount > invoiced_left
        amount = min(amount, invoiced_left)
        lines = (
            ProrationLine(
                description=(
                    f"{plan.name} {plan.get_interval_display().lower()}: {removed} "
                    f"licence{'s' if removed != 1 else ''} removed ({current} to {quantity}), "
                    f"{remaining}/{period_days} days"
                    + (", limited to what this period was invoiced" if capped else "")
                ),
                quantity=removed,
                unit_price=unit_price,
                remaining_days=remaining,
                period_days=period_days,
                period_start=effective_on,
                period_end=end,
                amount=amount,
            ),
        )
        reductions, credit_gained = decrease_reductions(subscription=subscription, amount=amount)

    return QuantityPreview(
        subscription=subscription,
        currency=customer.currency,
        change=change,
        current_quantity=current,
        new_quantity=quantity,
        effective_on=effective_on,
        licences_now=licences_now,
        lines=lines,
        subtotal=subtotal,
        credit_used=credit_used,
        vat_rate=treatment.rate,
        vat_amount=vat,
        vat_note=treatment.note if change == INCREASE else "",
        total_now=total_now,
        reductions=reductions,
        credit_gained=credit_gained,
        next_renewal=subscription_renewal_estimate(
            subscription=subscription, quantity=renewal_quantity
        ),
    )
