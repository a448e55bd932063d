"""Subscription lifecycle. The allowed status moves live in SUBSCRIPTION_TRANSITIONS."""

from datetime import date
from typing import Any

from django.db import transaction

from audit.services import audit_record
from billing.errors import BillingError
from billing.models import Customer, Plan, PlanKind, Subscription, SubscriptionStatus
from billing.services.periods import period_end_for
from fleet.services.organizations import organization_create

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
