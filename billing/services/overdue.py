"""Overdue invoices make their organization read-only (fleet mode); paying the last one
returns it to active at once.

An invoice is overdue when it is still open on the day after its due date (UTC): the due
date itself is the last day to pay. Only the organization of the invoice's subscription
is affected; the customer's other organizations keep working.
"""

from datetime import date

from django.db import transaction
from django.utils import timezone

from audit.services import Actor
from billing.models import Invoice, Subscription
from billing.selectors import invoice_overdue_condition
from fleet.services.organizations import organization_set_billing_state


def overdue_invoices(*, today: date):
    """Open invoices past their due date, for the nightly pass."""
    return Invoice.objects.filter(invoice_overdue_condition(today=today))


def subscription_has_overdue_invoice(*, subscription_id: int, today: date) -> bool:
    return overdue_invoices(today=today).filter(subscription_id=subscription_id).exists()


def overdue_refresh_subscription(
    *, subscription: Subscription, actor: Actor, today: date | None = None
) -> bool:
    """Recomputes the organization's overdue flag from the invoices; returns the flag.

    Runs in the caller's transaction (e.g. the one marking an invoice paid), so the
    organization is back to active the moment the payment commits.
    """
    today = today or timezone.now().date()
    overdue = subscription_has_overdue_invoice(subscription_id=subscription.pk, today=today)
    organization = subscription.organization
    if organization is not None and organization.has_overdue_invoice != overdue:
        organization_set_billing_state(
            organization=organization, actor=actor, has_overdue_invoice=overdue
        )
    return overdue


def overdue_mark(*, today: date | None = None, actor: Actor = "nightly-billing") -> int:
    """The nightly pass: flags every organization with a newly overdue invoice.

    Returns how many organizations became read-only. Each organization is changed in its
    own transaction, under fleet's row lock.
    """
    today = today or timezone.now().date()
    subscription_ids = (
        overdue_invoices(today=today)
        .filter(
            subscription__organization__isnull=False,
            subscription__organization__has_overdue_invoice=False,
        )
        .values_list("subscription_id", flat=True)
        .distinct()
    )
    marked = 0
    for subscription in Subscription.objects.filter(pk__in=list(subscription_ids)).select_related(
        "organization"
    ):
        with transaction.atomic():
            if overdue_refresh_subscription(subscription=subscription, actor=actor, today=today):
                marked += 1
    return marked
