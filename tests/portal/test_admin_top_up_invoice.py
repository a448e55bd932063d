"""Staff issue a top-up invoice for a cloud customer who pays by bank transfer; reconciling
its transfer adds it to the prepaid balance once."""

from decimal import Decimal

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from billing.models import BalanceEntry, Customer, Invoice, InvoiceKind, InvoiceStatus
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _issue(staff_client, customer, amount):
    url = reverse("admin:billing_customer_top_up_invoice", args=[customer.pk])
    preview = staff_client.post(url, {"amount": amount, "_preview": "1"}).content.decode()
    return preview, staff_client.post(url, {"amount": amount, "_confirm": "1"})


def test_a_top_up_invoice_paid_by_transfer_feeds_the_balance_once(staff_client):
    customer = CustomerFactory(country="FR")
    preview, response = _issue(staff_client, customer, "500.00")
    assert "no VAT: a payment on account" in preview
    assert response.status_code == 302
    invoice = Invoice.objects.get(kind=InvoiceKind.TOP_UP)
    assert (invoice.total.amount, invoice.vat_amount.amount, invoice.status) == (
        Decimal("500.00"),
        Decimal("0.00"),
        InvoiceStatus.OPEN,
    )
    assert AuditEntry.objects.filter(action="invoice.top_up_issue").count() == 1

    reconcile = reverse("admin:billing_invoice_reconcile")
    staff_client.post(reconcile, {"number": invoice.number, "_confirm": "1"})
    customer = Customer.objects.get(pk=customer.pk)
    assert customer.balance == Decimal("500.00")
    (entry,) = BalanceEntry.objects.filter(customer=customer)
    assert (entry.amount, entry.idempotency_key) == (Decimal("500.00"), f"invoice:{invoice.pk}")

    # Reconciling again is refused (the invoice is paid): the balance moves once.
    staff_client.post(reconcile, {"number": invoice.number, "_confirm": "1"})
    assert Customer.objects.get(pk=customer.pk).balance == Decimal("500.00")
    assert BalanceEntry.objects.filter(customer=customer).count() == 1


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("", "Enter an amount"),
        ("abc", "Enter an amount"),
        ("0", "more than zero"),
        ("-5", "more than zero"),
        ("1.001", "at most two decimal places"),
    ],
)
def test_a_bad_amount_issues_nothing(staff_client, amount, message):
    customer = CustomerFactory()
    preview, response = _issue(staff_client, customer, amount)
    assert message in preview and message in response.content.decode()
    assert not Invoice.objects.exists()
    assert not AuditEntry.objects.filter(action="invoice.top_up_issue").exists()
