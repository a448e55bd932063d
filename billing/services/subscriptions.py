"""Subscription lifecycle. The allowed status moves live in SUBSCRIPTION_TRANSITIONS."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from billing.emails import customer_email_send
from billing.errors import BillingError
from billing.models import (
    CreditEntry,
    Customer,
    Invoice,
    InvoiceKind,
    Plan,
    PlanKind,
    Subscription,
    SubscriptionStatus,
)
from billing.services.credit import credit_grant
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.periods import period_end_for
from billing.services.renewals import renewal_issue_for_period
from fleet.selectors import organization_in_field_count
from fleet.services.organizations import (
    organization_create,
    organization_erase,
    organization_set_billing_state,
)

MAX_QUANTITY = 100_000

SUBSCRIPTION_TRANSITIONS: dict[str, set[str]] = {
    SubscriptionStatus.ACTIVE: {SubscriptionStatus.PAUSED, SubscriptionStatus.CANCELLED},
    SubscriptionStatus.PAUSED: {SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED},
    SubscriptionStatus.CANCELLED: set(),
}


def subscription_check_transition(*, subscription: Subscription, to: str) -> None:
    if to not in SUBSCRIPTION_TRANSITIONS[subscription.status]:
        raise BillingError(
            f"Subscription {subscription.public_id} is "
            f"{subscription.get_status_display().lower()}; it cannot become "
            f"{SubscriptionStatus(to).label.lower()}."
        )


def subscription_validate_quantity(*, quantity: int) -> int:
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise BillingError("Enter a whole number of licences.")
    if quantity < 1 or quantity > MAX_QUANTITY:
        raise BillingError(f"The quantity must be between 1 and {MAX_QUANTITY:,} licences.")
    return quantity


def subscription_validate_plan(*, customer: Customer, plan: Plan) -> None:
    if plan.unit_price.currency.code != customer.currency:
        raise BillingError(
            f"The plan {plan.code} is priced in {plan.unit_price.currency.code}, but "
            f"{customer.name} is billed in {customer.currency}. Pick a plan in "
            f"{customer.currency}."
        )


@transaction.atomic
def subscription_create(
    *,
    customer: Customer,
    organization_name: str,
    plan: Plan,
    quantity: int,
    start: date,
    actor: Any,
) -> Subscription:
    """Creates the MDM organization and its subscription, billed on `start`'s day."""
    subscription_validate_plan(customer=customer, plan=plan)
    subscription_validate_quantity(quantity=quantity)
    organization = organization_create(
        name=organization_name,
        licensed=plan.kind == PlanKind.CORE,
        licence_count=quantity if plan.kind == PlanKind.CORE else 0,
        actor=actor,
    )
    end = period_end_for(
        start=start, interval=plan.interval, billing_day=start.day, billing_month=start.month
    )
    subscription = Subscription.objects.create(
        customer=customer,
        organization=organization,
        organization_name=organization_name,
        plan=plan,
        quantity=quantity,
        billing_day=start.day,
        billing_month=start.month,
        current_period_start=start,
        current_period_end=end,
    )
    audit_record(
        actor=actor,
        action="subscription.create",
        target=subscription,
        after={"plan": plan.code, "quantity": quantity, "period_start": start, "period_end": end},
    )
    return subscription


# ---- Edit subscription (Core): change the quantity -----------------------------------


@dataclass(frozen=True)
class QuantityChange:
    """What a confirmed change did: the preview it applied, and the invoice or credit."""

    preview: Any  # billing.services.proration.QuantityPreview
    invoice: Invoice | None  # the proration invoice of an increase
    credit_entry: CreditEntry | None  # the credit of a monthly decrease


@transaction.atomic
def subscription_change_quantity(
    *,
    subscription: Subscription,
    quantity: int,
    actor: Any,
    today: date | None = None,
    expected_net_amount: Decimal | None = None,
) -> QuantityChange:
    """Applies a new licence quantity exactly as `subscription_quantity_preview` shows it.

    One transaction under the subscription's row lock, so two edits of one subscription
    run one after the other, the second seeing the first's quantity. The MDM gets the new
    licence count at once (a yearly decrease waits for the renewal). An increase is
    invoiced now, pro rata; a monthly decrease goes to the customer's credit.
    `expected_net_amount` (charged now, or minus the credit) is what the customer saw in
    the preview: if the amounts moved since (the day changed, credit was used), the change
    is refused so nobody pays what they did not see.
    """
    # Imported here: proration builds on this module's quantity rules.
    from billing.services.proration import (
        DECREASE,
        INCREASE,
        SCHEDULED_DECREASE,
        subscription_quantity_preview,
    )

    today = today or timezone.now().date()
    # No select_related: FOR UPDATE cannot cover the nullable side of an outer join.
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    preview = subscription_quantity_preview(
        subscription=subscription, quantity=quantity, today=today
    )
    if expected_net_amount is not None and preview.net_amount != expected_net_amount:
        raise BillingError(
            "The amounts changed since your preview (the day or your credit changed). "
            "Check the new preview and confirm again."
        )
    before = {"quantity": subscription.quantity, "pending_quantity": subscription.pending_quantity}
    organization = subscription.organization

    if preview.change == SCHEDULED_DECREASE:
        subscription.pending_quantity = quantity
    else:
        subscription.quantity = preview.licences_now
        subscription.pending_quantity = None
    subscription.save(update_fields=["quantity", "pending_quantity"])

    if preview.licences_now != organization.licence_count:
        organization_set_billing_state(
            organization=organization, actor=actor, licence_count=preview.licences_now
        )
        # Counted again under the organization's lock (the one device moves take): a
        # device moved into the field since the preview must not go unlicensed.
        in_field = organization_in_field_count(organization=organization)
        if in_field > preview.licences_now:
            raise BillingError(
                f"{in_field} devices are now in the field in {organization.name}: move "
                f"{in_field - preview.licences_now} back to stock first, or keep at least "
                f"{in_field} licences."
            )

    invoice = credit_entry = None
    if preview.change == INCREASE and preview.subtotal > 0:
        invoice = _subscription_proration_invoice_issue(
            subscription=subscription, preview=preview, actor=actor, today=today
        )
    elif preview.change == DECREASE and preview.credit_gained > 0:
        credit_entry = credit_grant(
            customer=subscription.customer,
            amount=preview.credit_gained,
            reason=preview.lines[0].description,
            subscription=subscription,
        )

    audit_record(
        actor=actor,
        action="subscription.change_quantity",
        target=subscription,
        before=before,
        after={
            "quantity": subscription.quantity,
            "pending_quantity": subscription.pending_quantity,
            "change": preview.change,
            "invoice": invoice.number if invoice else None,
            "credit": str(preview.credit_gained) if credit_entry else None,
        },
    )
    customer_email_send(
        customer=subscription.customer,
        subject=(
            f"Subscription {subscription.public_id}: {quantity} licences from "
            f"{preview.effective_on:%d %b %Y}"
            if preview.change == SCHEDULED_DECREASE
            else f"Subscription {subscription.public_id}: now {quantity} licences"
        ),
        template="subscription_changed",
        context={
            "subscription": subscription,
            "preview": preview,
            "invoice": invoice,
            "credit_entry": credit_entry,
        },
    )
    return QuantityChange(preview=preview, invoice=invoice, credit_entry=credit_entry)


def _subscription_proration_invoice_issue(
    *, subscription: Subscription, preview: Any, actor: Any, today: date
) -> Invoice:
    """The invoice of an increase, issued at once; the customer's credit is used first."""
    invoice = invoice_create_draft(
        customer=subscription.customer,
        subscription=subscription,
        kind=InvoiceKind.PRORATION,
        period_start=preview.effective_on,
        period_end=subscription.current_period_end,
    )
    for line in preview.lines:
        invoice_add_line(
            invoice=invoice,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
    return invoice_finalize(invoice=invoice, actor=actor, issued_on=today)


# ---- staff actions (admin): pause, resume, cancel, migrate legacy -> Core -------------


def _locked(subscription: Subscription) -> Subscription:
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer__contact", "plan", "organization")
        .get(pk=subscription.pk)
    )


@transaction.atomic
def subscription_pause(*, subscription: Subscription, actor: Any) -> Subscription:
    """Stops renewals; the MDM sees the organization paused."""
    subscription = _locked(subscription)
    subscription_check_transition(subscription=subscription, to=SubscriptionStatus.PAUSED)
    subscription.status = SubscriptionStatus.PAUSED
    subscription.save(update_fields=["status"])
    if subscription.organization is not None:
        organization_set_billing_state(
            organization=subscription.organization, actor=actor, is_paused=True
        )
    audit_record(
        actor=actor,
        action="subscription.pause",
        target=subscription,
        before={"status": SubscriptionStatus.ACTIVE},
        after={"status": SubscriptionStatus.PAUSED},
    )
    return subscription


@transaction.atomic
def subscription_resume(
    *, subscription: Subscription, actor: Any, today: date | None = None
) -> Subscription:
    """A new period starts today (its day becomes the billing date) and its invoice is
    issued at once, like a renewal. Nothing is credited for the unused rest of the period
    paid before the pause: staff issue a credit note if that is owed."""
    today = today or timezone.now().date()
    subscription = _locked(subscription)
    subscription_check_transition(subscription=subscription, to=SubscriptionStatus.ACTIVE)
    before = {
        "status": subscription.status,
        "period_start": subscription.current_period_start,
        "period_end": subscription.current_period_end,
    }
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.billing_day = today.day
    subscription.billing_month = today.month
    subscription.save(update_fields=["status", "billing_day", "billing_month"])
    if subscription.organization is not None:
        organization_set_billing_state(
            organization=subscription.organization, actor=actor, is_paused=False
        )
    invoice = renewal_issue_for_period(subscription=subscription, start=today, actor=actor)
    audit_record(
        actor=actor,
        action="subscription.resume",
        target=subscription,
        before=before,
        after={
            "status": SubscriptionStatus.ACTIVE,
            "period_start": subscription.current_period_start,
            "period_end": subscription.current_period_end,
            "invoice": invoice.number if invoice else None,
        },
    )
    return subscription


@transaction.atomic
def subscription_cancel(
    *, subscription: Subscription, confirm_name: str, actor: Any
) -> Subscription:
    """Final. Staff type the organization's name to confirm; the organization and its
    devices are erased, the subscription stays (cancelled) with its invoices."""
    subscription = _locked(subscription)
    subscription_check_transition(subscription=subscription, to=SubscriptionStatus.CANCELLED)
    if (confirm_name or "").strip() != subscription.organization_name:
        raise BillingError(
            f"To cancel, type the organization's name exactly: {subscription.organization_name}"
        )
    before = {"status": subscription.status}
    organization = subscription.organization
    subscription.status = SubscriptionStatus.CANCELLED
    subscription.cancelled_at = timezone.now()
    subscription.pending_quantity = None
    subscription.pending_plan = None
    subscription.save(update_fields=["status", "cancelled_at", "pending_quantity", "pending_plan"])
    if organization is not None:
        # Tell the MDM first (mode "cancelled", audited), then erase.
        organization_set_billing_state(organization=organization, actor=actor, is_cancelled=True)
        organization_erase(organization=organization, actor=actor)
        subscription.organization = None  # the database set it null (on_delete=SET_NULL)
    audit_record(
        actor=actor,
        action="subscription.cancel",
        target=subscription,
        before=before,
        after={"status": SubscriptionStatus.CANCELLED, "organization_erased": True},
    )
    return subscription


def core_plans_for(*, subscription: Subscription):
    """The Core plans a legacy subscription may move to: active, in its currency."""
    return Plan.objects.filter(
        kind=PlanKind.CORE,
        is_active=True,
        unit_price_currency=subscription.customer.currency,
    ).order_by("interval", "code")


@transaction.atomic
def subscription_migrate_to_core(
    *, subscription: Subscription, plan: Plan, actor: Any
) -> Subscription:
    """Legacy -> Core: quantity = devices in the field (at least 1), same billing date,
    the new price from the next renewal (pending_plan). The MDM gets the licences now."""
    subscription = _locked(subscription)
    if subscription.status == SubscriptionStatus.CANCELLED:
        raise BillingError(f"Subscription {subscription.public_id} is cancelled.")
    if subscription.plan.kind != PlanKind.LEGACY:
        raise BillingError(f"Subscription {subscription.public_id} is already on the Core plan.")
    if subscription.pending_plan_id is not None:
        raise BillingError(
            f"Subscription {subscription.public_id} already moves to "
            f"{subscription.pending_plan.name} at its next renewal."
        )
    if plan.kind != PlanKind.CORE or not plan.is_active:
        raise BillingError(f"{plan.name} is not an active Core plan.")
    subscription_validate_plan(customer=subscription.customer, plan=plan)
    in_field = (
        organization_in_field_count(organization=subscription.organization)
        if subscription.organization is not None
        else 0
    )
    quantity = subscription_validate_quantity(quantity=max(1, in_field))
    before = {"plan": subscription.plan.code, "quantity": subscription.quantity}
    subscription.quantity = quantity
    subscription.pending_plan = plan
    subscription.pending_quantity = None
    subscription.save(update_fields=["quantity", "pending_plan", "pending_quantity"])
    if subscription.organization is not None:
        organization_set_billing_state(
            organization=subscription.organization,
            actor=actor,
            licensed=True,
            licence_count=quantity,
        )
    audit_record(
        actor=actor,
        action="subscription.migrate_to_core",
        target=subscription,
        before=before,
        after={
            "pending_plan": plan.code,
            "quantity": quantity,
            "from": subscription.current_period_end,
        },
    )
    return subscription
