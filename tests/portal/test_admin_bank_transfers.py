"""Issue 16, item 5: an invoice paid by several bank transfers, reconciled by staff in the
admin (the Django test client logged in as staff). Each transfer is its own payment with
its own reference; a bank reference already recorded is refused and changes nothing."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from djmoney.money import Money

from audit.models import AuditEntry
from billing.models import CreditKind, InvoiceStatus, Payment
from billing.services.overdue import overdue_mark
from fleet.models import Organization, OrganizationMode
from tests.factories import SubscriptionFactory
from tests.portal.test_admin_actions import _open_invoice

pytestmark = pytest.mark.django_db

RECONCILE = "admin:billing_invoice_reconcile"


def _reconcile(staff_client, capture, invoice, amount, reference=""):
    with capture(execute=True):
        return staff_client.post(
            reverse(RECONCILE),
            {"number": invoice.number, "amount": amount, "reference": reference, "_confirm": "1"},
        )


def _receipts(invoice):
    return [m for m in mail.outbox if f"payment received for invoice {invoice.number}" in m.subject]


@pytest.mark.parametrize(
    ("transfers", "dues", "credit"),
    [
        pytest.param([("30.00", "BNK-1"), ("18.00", "BNK-2")], ["18.00", "0.00"], "0.00", id="two"),
        pytest.param(
            [("20.00", "BNK-1"), ("15.00", "BNK-2"), ("13.00", "BNK-3")],
            ["28.00", "13.00", "0.00"],
            "0.00",
            id="three",
        ),
        pytest.param(
            # 12.00 EUR over on a 20 % invoice: 10.00 EUR of credit (before VAT).
            [("20.00", "BNK-1"), ("15.00", ""), ("25.00", "BNK-3")],
            ["28.00", "13.00", "0.00"],
            "10.00",
            id="overpaying last, one without a bank reference",
        ),
    ],
)
@time_machine.travel("2026-11-20 10:00:00+00:00", tick=False)
def test_transfers_in_parts_settle_the_invoice_and_the_organization_is_active_again(
    staff_client, django_capture_on_commit_callbacks, transfers, dues, credit
):
    subscription = SubscriptionFactory()
    invoice = _open_invoice(subscription)  # 48.00 EUR, due 15 November
    overdue_mark(today=date(2026, 11, 20))
    assert Organization.objects.get().mode == OrganizationMode.READ_ONLY
    mail.outbox.clear()

    for n, ((amount, reference), due) in enumerate(zip(transfers, dues, strict=True), start=1):
        response = _reconcile(
            staff_client, django_capture_on_commit_callbacks, invoice, amount, reference
        )
        assert response.status_code == 302, response.content.decode()[-2000:]
        invoice.refresh_from_db()
        assert invoice.amount_due == Money(due, "EUR")
        assert len(_receipts(invoice)) == n  # one receipt per transfer
        if n < len(transfers):
            assert invoice.status == InvoiceStatus.OPEN
            assert Organization.objects.get().mode == OrganizationMode.READ_ONLY

    assert invoice.status == InvoiceStatus.PAID
    assert Organization.objects.get().mode == OrganizationMode.ACTIVE
    payments = list(Payment.objects.order_by("attempt"))
    assert [str(p.amount) for p in payments] == [amount for amount, _ in transfers]
    assert [p.gateway_ref for p in payments] == [
        reference or f"{invoice.number}-T{n}" for n, (_, reference) in enumerate(transfers, 1)
    ]
    assert {(p.status, p.gateway, p.method_kind) for p in payments} == {
        ("succeeded", "offline", "bank_transfer")
    }
    invoice.customer.refresh_from_db()
    assert invoice.customer.credit_balance == Decimal(credit)
    overpaid = invoice.customer.credit_entries.filter(kind=CreditKind.OVERPAYMENT)
    assert [str(e.amount) for e in overpaid] == ([credit] if credit != "0.00" else [])
    staff = staff_client.staff
    assert AuditEntry.objects.filter(actor=staff, action="payment.record").count() == len(transfers)
    assert AuditEntry.objects.filter(actor=staff, action="invoice.partly_paid").count() == (
        len(transfers) - 1
    )
    assert AuditEntry.objects.filter(actor=staff, action="invoice.paid").count() == 1


def test_a_bank_reference_already_recorded_is_refused_and_changes_nothing(
    staff_client, django_capture_on_commit_callbacks
):
    invoice = _open_invoice(SubscriptionFactory())  # 48.00 EUR
    _reconcile(staff_client, django_capture_on_commit_callbacks, invoice, "20.00", "BNK-7")
    invoice.refresh_from_db()
    mail.outbox.clear()
    audits = AuditEntry.objects.count()

    response = _reconcile(
        staff_client, django_capture_on_commit_callbacks, invoice, "28.00", " BNK-7 "
    )

    assert response.status_code == 200
    assert (
        f"A bank transfer with the reference BNK-7 is already recorded on invoice "
        f"{invoice.number}. Nothing was recorded"
    ) in response.content.decode()
    assert Payment.objects.count() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due) == (InvoiceStatus.OPEN, Money("28.00", "EUR"))
    assert mail.outbox == []
    assert AuditEntry.objects.count() == audits
    invoice.customer.refresh_from_db()
    assert invoice.customer.credit_balance == Decimal("0.00")
