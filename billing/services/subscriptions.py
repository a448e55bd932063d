"""Subscription lifecycle. The allowed status moves live in SUBSCRIPTION_TRANSITIONS."""

from datetime import date

from django.db import transaction
from django.utils import timezone

from accounts.text import CONTROL_CHARACTERS_CODE, text_refusal
from audit.services import Actor, audit_record
from billing.errors import BillingError
from billing.models import (
    Customer,
    Plan,
    PlanKind,
    Subscription,
    SubscriptionStatus,
)
from billing.notifications import (
    notify_subscription_cancelled,
    notify_subscription_migrated,
    notify_subscription_paused,
    notify_subscription_resumed,
)
from billing.services.locks import lock_customer
from billing.services.periods import period_end_for
from billing.services.quantities import subscription_validate_quantity
from billing.services.renewals import renewal_issue_for_period
from fleet.selectors import organization_in_field_count
from fleet.services.organizations import (
    organization_create,
    organization_erase,
    organization_set_billing_state,
)

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
    actor: Actor,
) -> Subscription:
    """Creates the MDM organization and its subscription, billed on `start`'s day."""
    # Checked here too (fleet checks it again): subscription e-mails start with this name.
    refusal = text_refusal(value=organization_name, label="organization name")
    if refusal:
        raise BillingError(refusal, code=CONTROL_CHARACTERS_CODE)
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


# ---- staff actions (admin): pause, resume, cancel, migrate legacy -> Core -------------


def _locked(subscription: Subscription) -> Subscription:
    """Level 1 of services/locks.py, with what the staff actions read."""
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer__contact", "plan", "organization")
        .get(pk=subscription.pk)
    )


@transaction.atomic
def subscription_pause(*, subscription: Subscription, actor: Actor) -> Subscription:
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
    notify_subscription_paused(subscription=subscription)
    return subscription


@transaction.atomic
def subscription_resume(
    *, subscription: Subscription, actor: Actor, today: date | None = None
) -> Subscription:
    """A new period starts today (its day becomes the billing date) and its invoice is
    issued at once, like a renewal. Nothing is credited for the unused rest of the period
    paid before the pause: staff issue a credit note if that is owed."""
    today = today or timezone.now().date()
    subscription = _locked(subscription)
    lock_customer(pk=subscription.customer_id)  # its credit pays the new invoice first
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
    notify_subscription_resumed(subscription=subscription, invoice=invoice)
    return subscription


@transaction.atomic
def subscription_cancel(
    *, subscription: Subscription, confirm_name: str, actor: Actor
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
    subscription.save(update_fields=["status", "cancelled_at", "pending_quantity"])
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
    notify_subscription_cancelled(subscription=subscription)
    return subscription


def core_plans_for(*, subscription: Subscription):
    """The Core plans a legacy subscription may move to: active, in its currency, with its
    interval (the current period keeps its length and its invoice)."""
    return Plan.objects.filter(
        kind=PlanKind.CORE,
        is_active=True,
        unit_price_currency=subscription.customer.currency,
        interval=subscription.plan.interval,
    ).order_by("code")


@transaction.atomic
def subscription_migrate_to_core(
    *, subscription: Subscription, plan: Plan, actor: Actor
) -> Subscription:
    """Legacy -> Core, at once: quantity = devices in the field (at least 1), the MDM gets
    the licences now, same billing date and interval. The current period stays as it was
    invoiced (per device, at the legacy price); the Core price applies to licences bought
    from now on (pro rata) and from the next renewal. The customer may edit the quantity
    at once; a decrease never gives back more than the period was invoiced."""
    subscription = _locked(subscription)
    if subscription.status == SubscriptionStatus.CANCELLED:
        raise BillingError(
            f"Subscription {subscription.public_id} is cancelled.", code="subscription_cancelled"
        )
    if subscription.plan.kind != PlanKind.LEGACY:
        raise BillingError(
            f"Subscription {subscription.public_id} is already on the Core plan.",
            code="already_core",
        )
    if plan.kind != PlanKind.CORE or not plan.is_active:
        raise BillingError(f"{plan.name} is not an active Core plan.", code="plan_invalid")
    if plan.interval != subscription.plan.interval:
        raise BillingError(
            f"{subscription.public_id} is billed {subscription.plan.get_interval_display().lower()}"
            f": pick a {subscription.plan.get_interval_display().lower()} Core plan.",
            code="plan_interval_differs",
        )
    subscription_validate_plan(customer=subscription.customer, plan=plan)
    in_field = (
        organization_in_field_count(organization=subscription.organization)
        if subscription.organization is not None
        else 0
    )
    quantity = subscription_validate_quantity(quantity=max(1, in_field))
    before = {"plan": subscription.plan.code, "quantity": subscription.quantity}
    subscription.plan = plan
    subscription.quantity = quantity
    subscription.pending_quantity = None
    subscription.save(update_fields=["plan", "quantity", "pending_quantity"])
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
        after={"plan": plan.code, "quantity": quantity},
    )
    notify_subscription_migrated(subscription=subscription)
    return subscription
