"""The Account balance page over HTTP: the balance and its forecast, a top-up by card on
the sandbox's Checkout stand-in credited once by the return page, bad amounts refused with
nothing created, the history (paginated) and its CSV, the 90-day chart drawn on the server
(SVG, no script, no inline style), and the automatic top-up settings."""

import csv
import io
import re
from decimal import Decimal

import pytest
import time_machine
from django.core import mail

from audit.models import AuditEntry
from billing.gateways import sandbox
from billing.models import BalanceEntry, BalanceKind, Customer, Payment, PaymentStatus
from billing.services.balance import balance_top_up
from billing.services.instances import instance_enable
from tests.billing.instance_helpers import new_instance, package, top_up
from tests.billing.payment_helpers import saved_method
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

NOW = "2026-03-05 10:00:00+00:00"


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer.contact)
    return client


def _balance(customer) -> Decimal:
    return Customer.objects.get(pk=customer.pk).balance


def _pay_on_stand_in(redirect_url: str, card: str = "4242 4242 4242 4242"):
    session_id = re.search(r"/sandbox/checkout/([^/]+)/", redirect_url).group(1)
    return sandbox.sandbox_payment_pay(session_id, card_number=card, exp_month=12, exp_year=2034)


@time_machine.travel(NOW, tick=False)
def test_a_new_account_shows_zero_and_no_instance_running(logged_in):
    body = logged_in.get("/balance/").content.decode()
    assert re.search(r'data-amount="balance">0\.00 EUR<', body)
    assert "No instance is running" in body
    assert "Nothing yet" in body


@time_machine.travel(NOW, tick=False)
def test_the_forecast_says_how_many_days_and_until_when(logged_in, customer):
    top_up(customer, "50.00", "t1")
    instance = new_instance(customer, package("basic", "10"))
    quote = instance_enable(instance=instance, actor="test")
    assert quote.amount == Decimal("5.83")  # 10:00 -> 00:00 is 14 h of 10.00 a day
    body = logged_in.get("/balance/").content.decode()
    assert re.search(r'data-amount="balance">44\.17 EUR<', body)
    assert re.search(r'data-amount="daily-spend">10\.00 EUR<', body)
    # The day is paid; 44.17 pays 4 more nightly runs: the run of 10 March is short.
    assert re.search(r"data-forecast-days>4 days<", body)
    assert re.search(r"data-forecast-until>10 Mar 2026<", body)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter an amount between 10.00 EUR and 10,000.00 EUR, e.g. 50.00."),
        ("fifty", "Enter an amount between 10.00 EUR and 10,000.00 EUR, e.g. 50.00."),
        ("9.99", "You can top up between 10.00 EUR and 10,000.00 EUR at once."),
        ("10000.01", "You can top up between 10.00 EUR and 10,000.00 EUR at once."),
        ("-50", "You can top up between 10.00 EUR and 10,000.00 EUR at once."),
        ("10.001", "The amount has at most two decimal places."),
        ("NaN", "Enter an amount between 10.00 EUR and 10,000.00 EUR, e.g. 50.00."),
    ],
)
def test_a_bad_amount_is_refused_and_creates_nothing(logged_in, customer, raw, message):
    response = logged_in.post("/balance/top-up/", {"amount": raw})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Payment.objects.count() == 0
    assert BalanceEntry.objects.count() == 0


def test_the_bounds_come_from_the_settings(logged_in, settings):
    settings.BALANCE_TOP_UP_MIN = 20
    settings.BALANCE_TOP_UP_MAX = 500
    response = logged_in.post("/balance/top-up/", {"amount": "19.99"})
    assert "between 20.00 EUR and 500.00 EUR" in response.content.decode()
    assert Payment.objects.count() == 0


def test_a_top_up_by_card_is_credited_once_by_the_return_page(logged_in, customer):
    response = logged_in.post("/balance/top-up/", {"amount": "50"})
    assert response.status_code == 302
    payment = Payment.objects.get()
    assert (payment.kind, payment.invoice, payment.amount, payment.currency) == (
        "top_up",
        None,
        Decimal("50.00"),
        "EUR",
    )
    assert payment.status == PaymentStatus.REQUIRES_ACTION
    assert "/sandbox/checkout/" in response["Location"]
    assert _balance(customer) == 0  # nothing before the money arrives

    result = _pay_on_stand_in(response["Location"])
    assert result.status == "succeeded"
    session = sandbox.sandbox_session(payment.gateway_ref)
    back = sandbox.sandbox_success_url(session)
    assert back == (
        f"http://testserver/balance/top-up/return/?payment={payment.pk}"
        f"&session_id={payment.gateway_ref}"
    )

    first = logged_in.get(back, follow=True)
    body = first.content.decode()
    assert "Thank you: 50.00 EUR is on your balance, which is now 50.00 EUR." in body
    assert re.search(r'data-amount="balance">50\.00 EUR<', body)
    entry = BalanceEntry.objects.get()
    assert (entry.kind, entry.amount, entry.balance_after, entry.payment_id) == (
        BalanceKind.TOP_UP,
        Decimal("50.00"),
        Decimal("50.00"),
        payment.pk,
    )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED

    logged_in.get(back)  # a second visit (reload, back button): nothing twice
    assert BalanceEntry.objects.count() == 1
    assert _balance(customer) == Decimal("50.00")


def test_coming_back_without_paying_credits_nothing(logged_in, customer):
    logged_in.post("/balance/top-up/", {"amount": "25.00"})
    payment = Payment.objects.get()
    response = logged_in.get(f"/balance/top-up/return/?payment={payment.pk}", follow=True)
    assert "The top-up of 25.00 EUR was not paid. Nothing was charged." in response.content.decode()
    assert _balance(customer) == 0 and BalanceEntry.objects.count() == 0


def test_a_declined_card_credits_nothing(logged_in, customer, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post("/balance/top-up/", {"amount": "25.00"})
        result = _pay_on_stand_in(response["Location"], card="4000 0000 0000 0002")
        assert result.status == "failed"
        payment = Payment.objects.get()
        body = logged_in.get(f"/balance/top-up/return/?payment={payment.pk}", follow=True)
    assert "did not go through" in body.content.decode()
    assert _balance(customer) == 0 and BalanceEntry.objects.count() == 0
    payment.refresh_from_db()
    assert payment.status != PaymentStatus.SUCCEEDED
    assert mail.outbox == []  # no "balance topped up" e-mail


def test_another_customer_s_top_up_is_not_found_and_not_credited(logged_in, customer, client):
    other = CustomerFactory()
    client.force_login(other.contact)
    response = client.post("/balance/top-up/", {"amount": "30.00"})
    _pay_on_stand_in(response["Location"])
    payment = Payment.objects.get()
    client.force_login(customer.contact)
    page = client.get(f"/balance/top-up/return/?payment={payment.pk}", follow=True)
    assert "This top-up was not found." in page.content.decode()
    assert BalanceEntry.objects.count() == 0
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REQUIRES_ACTION  # nothing recorded for B either


def test_a_customer_billed_in_another_currency_cannot_top_up(client):
    usd = CustomerFactory(currency="USD")
    client.force_login(usd.contact)
    response = client.post("/balance/top-up/", {"amount": "50"})
    assert response.status_code == 400
    assert "The prepaid balance is in EUR; this account is billed in USD." in (
        response.content.decode()
    )
    assert Payment.objects.count() == 0


def _history(customer):
    """Two top-ups, an instance enabled (charged), a nightly charge, a refund."""
    with time_machine.travel("2026-03-01 12:00:00+00:00", tick=False):
        balance_top_up(customer=customer, amount=Decimal("100.00"), key="a", reason="t")
        instance = new_instance(customer, package("basic", "4.80"), name="=HYPERLINK(evil)")
        instance_enable(instance=instance, actor="test")  # 12 h of 4.80 = 2.40
    return instance


def test_the_ledger_csv_has_every_entry(logged_in, customer):
    instance = _history(customer)
    response = logged_in.get("/balance/ledger.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="balance-ledger.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["date", "kind", "instance", "period_start", "period_end", "amount", "balance_after"],
        [
            "2026-03-01T12:00:00+00:00",
            "Instance charge",
            "'=HYPERLINK(evil)",  # a spreadsheet does not run it
            "2026-03-01T12:00:00+00:00",
            "2026-03-02T00:00:00+00:00",
            "-2.40",
            "97.60",
        ],
        ["2026-03-01T12:00:00+00:00", "Top-up", "", "", "", "100.00", "100.00"],
    ]
    assert instance.name not in [row[2] for row in rows]


def test_the_history_table_and_its_pages(logged_in, customer):
    _history(customer)
    body = logged_in.get("/balance/").content.decode()
    assert body.count("data-balance-entry=") == 2
    assert re.search(r'data-amount="entry">−2\.40 EUR<', body)
    assert re.search(r'data-amount="balance-after">97\.60 EUR<', body)
    assert "1 Mar 12:00 → 2 Mar 00:00" in body
    for n in range(30):
        balance_top_up(customer=customer, amount=Decimal("1.00"), key=f"k{n}", reason="t")
    page_two = logged_in.get("/balance/?page=2").content.decode()
    assert "Page 2 of 2" in page_two
    assert page_two.count("data-balance-entry=") == 32 - 25


@time_machine.travel("2026-03-05 10:00:00+00:00", tick=False)
def test_the_chart_is_svg_drawn_on_the_server(logged_in, customer):
    _history(customer)  # 1 March: 100.00 in, 2.40 spent, 97.60 at the end of the day
    body = logged_in.get("/balance/").content.decode()
    svg = re.search(r"<svg.*?</svg>", body, re.S).group(0)
    points = re.search(r'<polyline class="chart-balance" points="([^"]+)"', svg).group(1)
    assert len(points.split()) == 90
    ys = [float(p.split(",")[1]) for p in points.split()]
    assert ys[:85] == [ys[0]] * 85 and ys[0] == 216.0  # zero until 28 Feb: on the axis
    assert ys[85:] == [12.0] * 5  # 97.60 from 1 March: the top of the scale
    bars = re.findall(r'<rect class="chart-spend"[^>]*data-day="([\d-]+)"', svg)
    assert bars == ["2026-03-01"]
    assert "1 Mar: 2.40 EUR spent" in svg
    assert "<script" not in body and "style=" not in body


def _auto(data: dict) -> dict:
    return {f"auto-{key}": value for key, value in data.items()}


def test_auto_top_up_needs_a_default_card(logged_in, customer):
    body = logged_in.get("/balance/").content.decode()
    assert "you have none yet" in body
    response = logged_in.post(
        "/balance/auto-top-up/",
        _auto({"enabled": "on", "below_days": "7", "how": "amount", "amount": "50"}),
    )
    assert response.status_code == 400
    assert "An automatic top-up charges your default card, and you have none" in (
        response.content.decode()
    )
    customer.refresh_from_db()
    assert not customer.auto_top_up_enabled and customer.auto_top_up_amount is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"below_days": "0", "how": "amount", "amount": "50"}, "from 1 to 90"),
        ({"below_days": "x", "how": "amount", "amount": "50"}, "from 1 to 90"),
        ({"below_days": "7", "how": "amount", "amount": "5"}, "You can top up between"),
        ({"below_days": "7", "how": "target", "amount": ""}, "Enter an amount between"),
    ],
)
def test_auto_top_up_settings_are_checked(logged_in, customer, data, message):
    saved_method(customer, "sb_pm_x", gateway="sandbox")
    response = logged_in.post("/balance/auto-top-up/", _auto({"enabled": "on", **data}))
    assert response.status_code == 400
    assert message in response.content.decode()
    customer.refresh_from_db()
    assert not customer.auto_top_up_enabled
    assert not AuditEntry.objects.filter(action="customer.auto_top_up").exists()


def test_auto_top_up_settings_are_saved_and_audited(logged_in, customer):
    saved_method(customer, "sb_pm_x", gateway="sandbox")
    response = logged_in.post(
        "/balance/auto-top-up/",
        _auto({"enabled": "on", "below_days": "5", "how": "target", "amount": "200.00"}),
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.auto_top_up_enabled
    assert customer.auto_top_up_below_days == 5
    assert (customer.auto_top_up_target, customer.auto_top_up_amount) == (Decimal("200.00"), None)
    assert AuditEntry.objects.filter(action="customer.auto_top_up").count() == 1
    body = logged_in.get("/balance/").content.decode()
    assert 'value="target"' in body and "checked" in body and 'value="200.00"' in body
    # Turning it off needs no card.
    logged_in.post(
        "/balance/auto-top-up/", _auto({"below_days": "5", "how": "amount", "amount": "50"})
    )
    customer.refresh_from_db()
    assert not customer.auto_top_up_enabled
    assert (customer.auto_top_up_amount, customer.auto_top_up_target) == (Decimal("50.00"), None)


def test_the_welcome_page_links_to_the_balance(logged_in):
    body = logged_in.get("/signup/welcome/").content.decode()
    assert 'href="/balance/"' in body
