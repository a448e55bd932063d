"""What the next period bills, in one place: renewals (nightly and on resume), the
renewal estimates on the portal and the Edit Subscription preview all ask here.

- The quantity carried into the next period: a yearly decrease waits for the renewal
  (`pending_quantity`), otherwise the current quantity.
- What a period bills (DESIGN.md, "Plans"): Core, the licences; legacy yearly, every device
  of the organization; legacy monthly, the devices in the field.
"""

from dataclasses import dataclass

from billing.models import Interval, Plan, PlanKind, Subscription


@dataclass(frozen=True)
class NextTerms:
    plan: Plan
    quantity: int  # licences the subscription holds from the next period


def next_quantity(*, quantity: int, pending_quantity: int | None) -> int:
    """The licences carried into the next period (nightly renewals read plain values)."""
    return pending_quantity or quantity


def subscription_next_terms(*, subscription: Subscription) -> NextTerms:
    return NextTerms(
        plan=subscription.plan,
        quantity=next_quantity(
            quantity=subscription.quantity, pending_quantity=subscription.pending_quantity
        ),
    )


def period_billed_quantity(*, plan: Plan, quantity: int, in_field: int, devices_total: int) -> int:
    """How many units a period of `plan` is invoiced for."""
    if plan.kind == PlanKind.CORE:
        return quantity
    if plan.interval == Interval.YEAR:
        return devices_total
    return in_field
