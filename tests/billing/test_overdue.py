"""An open invoice past its due date makes its organization read-only (not the customer's
other organizations); paying it, any way, returns it to active at once."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine

from audit.models import AuditEntry
from billing.services.invoices import (
    invoice_add_line,
    invoice_create_draft,
    invoice_finalize,
    invoice_mark_paid,
)
from billing.services.overdue import overdue_mark
from fleet.models import OrganizationMode
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def _open_invoice(subscription, issued_on=date(2026, 11, 1)):
    draft = invoice_create_draft(customer=subscription.customer, subscription=subscription)
    invoice_add_line(invoice=draft, description="Core", quantity=1, unit_price=Decimal("4"))
    return invoice_finalize(invoice=draft, actor=None, issued_on=issued_on)  # due 15 Nov


def _mode(subscription):
    subscription.organization.refresh_from_db()
    return subscription.organization.mode


def test_the_nightly_pass_marks_only_the_organization_of_the_overdue_invoice():
    subscription = SubscriptionFactory()
    sibling = SubscriptionFactory(customer=subscription.customer)
    _open_invoice(subscription)
    assert overdue_mark(today=date(2026, 11, 15)) == 0  # the due date is the last day to pay
    assert _mode(subscription) == OrganizationMode.ACTIVE
    assert overdue_mark(today=date(2026, 11, 16)) == 1
    assert _mode(subscription) == OrganizationMode.READ_ONLY
    assert _mode(sibling) == OrganizationMode.ACTIVE
    assert overdue_mark(today=date(2026, 11, 17)) == 0  # already marked: nothing new
    assert (
        AuditEntry.objects.filter(action="organization.mode", after__mode="read_only").count() == 1
    )


@time_machine.travel("2026-11-20 10:00:00+00:00", tick=False)
def test_paying_the_last_overdue_invoice_returns_the_organization_to_active_at_once():
    subscription = SubscriptionFactory()
    first = _open_invoice(subscription)
    second = _open_invoice(subscription)
    overdue_mark(today=date(2026, 11, 20))
    assert _mode(subscription) == OrganizationMode.READ_ONLY
    invoice_mark_paid(invoice=first, actor=None, via="bank transfer")
    assert _mode(subscription) == OrganizationMode.READ_ONLY  # another one is still overdue
    invoice_mark_paid(invoice=second, actor=None)
    assert _mode(subscription) == OrganizationMode.ACTIVE
    subscription.organization.refresh_from_db()
    assert subscription.organization.has_overdue_invoice is False


@time_machine.travel("2026-11-20 10:00:00+00:00", tick=False)
def test_an_open_invoice_not_yet_due_does_not_keep_the_organization_read_only():
    subscription = SubscriptionFactory()
    overdue = _open_invoice(subscription)
    _open_invoice(subscription, issued_on=date(2026, 11, 19))  # due 3 Dec
    overdue_mark(today=date(2026, 11, 20))
    invoice_mark_paid(invoice=overdue, actor=None)
    assert _mode(subscription) == OrganizationMode.ACTIVE


@time_machine.travel("2026-11-20 10:00:00+00:00", tick=False)
def test_paying_another_organizations_invoice_does_not_unblock_this_one():
    subscription = SubscriptionFactory()
    sibling = SubscriptionFactory(customer=subscription.customer)
    _open_invoice(subscription)
    sibling_invoice = _open_invoice(sibling)
    overdue_mark(today=date(2026, 11, 20))
    invoice_mark_paid(invoice=sibling_invoice, actor=None)
    assert _mode(sibling) == OrganizationMode.ACTIVE
    assert _mode(subscription) == OrganizationMode.READ_ONLY


def test_a_paused_organization_stays_paused_while_overdue():
    subscription = SubscriptionFactory()
    org = subscription.organization
    org.is_paused = True
    org.mode = OrganizationMode.PAUSED
    org.save()
    _open_invoice(subscription)
    overdue_mark(today=date(2026, 11, 16))
    org.refresh_from_db()
    assert (org.has_overdue_invoice, org.mode) == (True, OrganizationMode.PAUSED)
