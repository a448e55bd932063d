"""Reminder e-mails on the configured schedule (days from the due date), each sent once."""

from datetime import date
from decimal import Decimal

import pytest
from django.core import mail

from billing.models import InvoiceReminder
from billing.services.invoices import (
    invoice_add_line,
    invoice_create_draft,
    invoice_finalize,
    invoice_mark_paid,
)
from billing.services.reminders import reminders_send
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(django_capture_on_commit_callbacks):
    customer = CustomerFactory(contact__email="billing@initech.example")
    draft = invoice_create_draft(customer=customer)
    invoice_add_line(invoice=draft, description="Core", quantity=10, unit_price=Decimal("4"))
    return invoice_finalize(invoice=draft, actor=None, issued_on=date(2026, 11, 1))  # due 15 Nov


def _send(today, capture):
    with capture(execute=True):
        return reminders_send(today=date.fromisoformat(today))


def test_each_stage_is_sent_once_on_its_day(invoice, django_capture_on_commit_callbacks, settings):
    settings.BILLING_REMINDER_DAYS = [0, 3, 7]
    capture = django_capture_on_commit_callbacks
    assert _send("2026-11-14", capture) == 0
    assert _send("2026-11-15", capture) == 1
    assert _send("2026-11-15", capture) == 0  # the same night again: nothing
    assert _send("2026-11-17", capture) == 0
    assert _send("2026-11-18", capture) == 1
    assert _send("2026-11-22", capture) == 1
    assert _send("2026-11-30", capture) == 0  # past the last stage
    name = invoice.customer.name  # no subscription: the company's name starts the subject
    assert [m.subject for m in mail.outbox] == [
        f"{name}: invoice CAJ-2026-000001 is due today",
        f"{name}: invoice CAJ-2026-000001 is overdue",
        f"{name}: invoice CAJ-2026-000001 is overdue",
    ]
    assert mail.outbox[0].to == ["billing@initech.example"]
    assert sorted(InvoiceReminder.objects.values_list("stage_days", flat=True)) == [0, 3, 7]


def test_the_reminder_says_how_to_pay_by_bank_transfer(invoice, django_capture_on_commit_callbacks):
    _send("2026-11-18", django_capture_on_commit_callbacks)
    message = mail.outbox[0]
    text = message.body
    assert "Invoice:   CAJ-2026-000001" in text
    assert "Amount due: 48.00 EUR" in text
    assert "Due date:  15 November 2026" in text
    assert "Reference:   CAJ-2026-000001" in text
    assert "FR76 3000 6000 0112 3456 7890 189" in text
    assert "3 days late" in text
    html = message.alternatives[0][0]
    assert "<strong>CAJ-2026-000001</strong>" in html and "48.00 EUR" in html


def test_missed_nights_send_one_email_for_the_latest_stage(
    invoice, django_capture_on_commit_callbacks
):
    assert _send("2026-11-23", django_capture_on_commit_callbacks) == 1
    assert len(mail.outbox) == 1
    assert "8 days late" in mail.outbox[0].body
    assert sorted(InvoiceReminder.objects.values_list("stage_days", flat=True)) == [0, 3, 7]


def test_paid_invoices_get_no_reminder(invoice, django_capture_on_commit_callbacks):
    invoice_mark_paid(invoice=invoice, actor=None)
    assert _send("2026-11-18", django_capture_on_commit_callbacks) == 0
    assert mail.outbox == []
    assert not InvoiceReminder.objects.exists()


def test_the_schedule_is_a_setting(invoice, django_capture_on_commit_callbacks, settings):
    settings.BILLING_REMINDER_DAYS = [-2, 10]  # two days before, ten days after
    assert _send("2026-11-13", django_capture_on_commit_callbacks) == 1
    assert mail.outbox[0].subject == (
        f"{invoice.customer.name}: invoice CAJ-2026-000001 is due on 15 November 2026"
    )
    assert "is due on 15 November 2026." in mail.outbox[0].body
    assert _send("2026-11-25", django_capture_on_commit_callbacks) == 1
    assert sorted(InvoiceReminder.objects.values_list("stage_days", flat=True)) == [-2, 10]
