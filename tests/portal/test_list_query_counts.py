"""Every portal list reads one page: the number of queries per page does not grow with
the data (3 rows or 60 give the same count), and the page shows only its rows. Counts,
never timings: the figures are in docs/PERFORMANCE.md (bench/load.py)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from djmoney.money import Money

from billing.models import (
    BalanceEntry,
    CreditEntry,
    CreditNote,
    Invoice,
    InvoiceStatus,
    Subscription,
)
from fleet.models import Device, DeviceState, Instance, InstancePackage
from tests.factories import CustomerFactory, PlanFactory, SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

# The most queries one page of each list may take (session, user, customer included).
MAX_QUERIES = {
    "invoices": 12,
    "organization": 12,
    "subscriptions": 14,
    "credit": 8,
    "balance": 14,
    "instances": 10,
}


@pytest.fixture
def frozen():
    with time_machine.travel("2026-11-23T10:00:00Z", tick=False):
        yield


def _money(amount="10.00"):
    return Money(Decimal(amount), "EUR")


def _invoices(customer, n: int, *, notes: bool = True) -> list[Invoice]:
    """n paid invoices over n days, and a credit note on every third (same day)."""
    start = date(2026, 11, 1)
    invoices = Invoice.objects.bulk_create(
        Invoice(
            customer=customer,
            number=f"T{customer.pk}-{i:05d}",
            status=InvoiceStatus.PAID,
            currency="EUR",
            subtotal=_money(),
            credit_applied=_money("0"),
            vat_amount=_money("0"),
            total=_money(),
            amount_due=_money("0"),
            issued_on=start - timedelta(days=i),
            due_on=start - timedelta(days=i) + timedelta(days=14),
        )
        for i in range(n)
    )
    if notes:
        CreditNote.objects.bulk_create(
            CreditNote(
                number=f"CN-T{customer.pk}-{i:05d}",
                customer=customer,
                invoice=invoice,
                reason="Goodwill",
                subtotal=_money("1.00"),
                taxable=_money("1.00"),
                vat_amount=_money("0"),
                total=_money("1.00"),
                applied_to_invoice=_money("0"),
                credited=_money("1.00"),
                issued_on=invoice.issued_on,
            )
            for i, invoice in enumerate(invoices)
            if i % 3 == 0
        )
    return invoices


def _subscriptions(customer, n: int) -> list[Subscription]:
    subscriptions = [SubscriptionFactory(customer=customer) for _ in range(n)]
    Device.objects.bulk_create(
        Device(
            organization=subscription.organization,
            serial=f"Q-{subscription.pk}-{d}",
            state=DeviceState.IN_THE_FIELD if d else DeviceState.IN_STOCK,
        )
        for subscription in subscriptions
        for d in range(2)
    )
    return subscriptions


def _devices(customer, n: int):
    subscription = SubscriptionFactory(customer=customer)
    Device.objects.bulk_create(
        Device(
            organization=subscription.organization,
            serial=f"D{customer.pk}-{i:05d}",
            state=DeviceState.IN_THE_FIELD if i % 2 else DeviceState.IN_STOCK,
        )
        for i in range(n)
    )
    return reverse("portal:organization", args=[subscription.organization.pk])


def _credit_entries(customer, n: int):
    CreditEntry.objects.bulk_create(
        CreditEntry(
            customer=customer,
            kind="staff_grant",
            amount=Decimal("1.00"),
            balance_after=Decimal(i + 1),
            reason="Goodwill",
        )
        for i in range(n)
    )


def _balance_entries(customer, n: int):
    BalanceEntry.objects.bulk_create(
        BalanceEntry(
            customer=customer,
            kind="top_up",
            amount=Decimal("10.00"),
            balance_after=Decimal(10 * (i + 1)),
            reason="Top-up",
            idempotency_key=f"q-{customer.pk}-{i}",
        )
        for i in range(n)
    )


def _instances(customer, n: int):
    package, _ = InstancePackage.objects.get_or_create(
        code="basic", defaults={"name": "Basic", "daily_price": Decimal("1.00")}
    )
    Instance.objects.bulk_create(
        Instance(customer=customer, name=f"instance-{i}", package=package) for i in range(n)
    )


def _customer_with(kind: str, n: int, client):
    customer = CustomerFactory()
    url = None if kind == "organization" else reverse(f"portal:{kind}")
    if kind == "invoices":
        _invoices(customer, n)
    elif kind == "subscriptions":
        _subscriptions(customer, n)
    elif kind == "organization":
        url = _devices(customer, n)
    elif kind == "credit":
        _credit_entries(customer, n)
    elif kind == "balance":
        _balance_entries(customer, n)
    elif kind == "instances":
        _instances(customer, n)
    return customer, url


def _queries(client, customer, url) -> tuple[int, str]:
    client.force_login(customer.contact)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured), response.content.decode()


@pytest.mark.parametrize("kind", sorted(MAX_QUERIES))
def test_a_page_takes_the_same_queries_for_3_or_60_rows(
    client, kind, django_assert_max_num_queries
):
    PlanFactory()
    small, small_url = _customer_with(kind, 3, client)
    large, large_url = _customer_with(kind, 60, client)
    few, _ = _queries(client, small, small_url)
    many, body = _queries(client, large, large_url)
    assert many == few, f"{kind}: {few} queries for 3 rows, {many} for 60"
    client.force_login(large.contact)
    with django_assert_max_num_queries(MAX_QUERIES[kind]):
        client.get(large_url)
    # The second page reads one page too.
    with django_assert_max_num_queries(MAX_QUERIES[kind]):
        assert client.get(large_url, {"page": 2}).status_code == 200
    assert "Page 1 of" in body


def test_the_history_page_holds_25_documents_newest_first_notes_before_their_day(client):
    customer = CustomerFactory()
    invoices = _invoices(customer, 60)  # and 20 credit notes: 80 documents
    client.force_login(customer.contact)
    body = client.get(reverse("portal:invoices")).content.decode()
    numbers = [row.split('"')[1] for row in body.split("<tr data-")[1:]]
    # Day 0: its credit note then the invoice; day 1, day 2; day 3: note then invoice...
    expected = []
    for i, invoice in enumerate(invoices):
        if i % 3 == 0:
            expected.append(f"CN-T{customer.pk}-{i:05d}")
        expected.append(invoice.number)
    assert numbers == expected[:25]
    assert "Page 1 of 4" in body
    last = client.get(reverse("portal:invoices"), {"page": 4}).content.decode()
    assert f'data-invoice="{invoices[-1].number}"' in last
    assert last.count("<tr data-") == 80 - 75


def test_the_history_filters_by_year_and_status_within_pages(client):
    customer = CustomerFactory()
    invoices = _invoices(customer, 60)  # 1 Nov 2026 back to 3 Sep 2026
    Invoice.objects.filter(pk=invoices[-1].pk).update(
        issued_on=date(2024, 5, 1), due_on=date(2024, 5, 15)
    )
    client.force_login(customer.contact)
    body = client.get(reverse("portal:invoices")).content.decode()
    # The year filter offers every year from the first to the last.
    for year in ("2026", "2025", "2024"):
        assert f'value="{year}"' in body
    in_2024 = client.get(reverse("portal:invoices"), {"year": 2024}).content.decode()
    assert f'data-invoice="{invoices[-1].number}"' in in_2024
    assert in_2024.count("<tr data-") == 1
    notes = client.get(reverse("portal:invoices"), {"status": "credit_note"}).content.decode()
    assert notes.count("<tr data-credit-note=") == 20 and "data-invoice=" not in notes


def test_the_subscriptions_page_shows_one_page_and_the_soonest_renewals(client):
    customer = CustomerFactory()
    subscriptions = _subscriptions(customer, 30)
    soonest = subscriptions[7]
    Subscription.objects.filter(pk=soonest.pk).update(current_period_end=date(2026, 11, 25))
    client.force_login(customer.contact)
    body = client.get(reverse("portal:subscriptions")).content.decode()
    assert body.count("<tr data-subscription=") == 25
    assert "Page 1 of 2" in body
    renewals = body.split("Next renewals")[1].split("</ul>")[0]
    assert renewals.count("data-renewal=") == 5
    first = renewals.split("data-renewal=")[1]
    assert soonest.public_id in first and "25 Nov 2026" in first
    # Licences in use counted per page: 1 device of 2 in the field.
    row = body.split(f'data-subscription="{subscriptions[0].public_id}"')[1].split("</tr>")[0]
    assert "data-in-use>1<" in row
    second = client.get(reverse("portal:subscriptions"), {"page": 2}).content.decode()
    assert second.count("<tr data-subscription=") == 5


def test_the_invoice_changelist_reads_one_page_and_searches_on_indexes(
    staff_client, django_assert_max_num_queries
):
    url = reverse("admin:billing_invoice_changelist")
    _invoices(CustomerFactory(name="Small SARL"), 3, notes=False)
    with CaptureQueriesContext(connection) as few:
        assert staff_client.get(url).status_code == 200
    large = CustomerFactory(name="Large GmbH")
    invoices = _invoices(large, 120, notes=False)
    with CaptureQueriesContext(connection) as many:
        page = staff_client.get(url)
    assert len(many) == len(few)
    page_queries = len(few)  # (read now: a later request outside a capture clears the log)
    assert "date_hierarchy" not in page.content.decode()
    with CaptureQueriesContext(connection) as searched:
        found = staff_client.get(url, {"q": f"t{large.pk}-0011"})
    body = found.content.decode()
    assert invoices[110].number in body and invoices[119].number in body
    assert invoices[100].number not in body
    sql = " ".join(query["sql"] for query in searched.captured_queries)
    assert "LIKE '%" not in sql.upper()  # never icontains: prefix or exact lookups only
    by_customer = staff_client.get(url, {"q": "large"}).content.decode()
    assert invoices[0].number in by_customer
    with django_assert_max_num_queries(page_queries + 2):  # + the customers, the subscription
        staff_client.get(url, {"q": "large"})
