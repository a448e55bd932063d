"""Edit Subscription through HTTP, as the browser without JavaScript sends it."""

import re
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from billing.models import CreditEntry, Invoice, PlanKind
from billing.services.credit import credit_grant
from billing.services.subscriptions import subscription_cancel, subscription_pause
from fleet.models import DeviceState
from tests.factories import DeviceFactory, PlanFactory, SubscriptionFactory, period_invoice_paid

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _november_23rd():
    # 8 of the 30 days of November 2026 are left: a licence costs 4.00 x 8/30.
    with time_machine.travel("2026-11-23T10:00:00Z", tick=False):
        yield


def _edit_url(subscription):
    return reverse("portal:subscription_edit", args=[subscription.public_id])


def test_overview_lists_plan_usage_billing_date_and_next_invoice(client):
    subscription = SubscriptionFactory(quantity=25)
    DeviceFactory.create_batch(
        18, organization=subscription.organization, state=DeviceState.IN_THE_FIELD
    )
    DeviceFactory.create_batch(4, organization=subscription.organization)
    legacy = SubscriptionFactory(
        customer=subscription.customer, plan=PlanFactory(kind=PlanKind.LEGACY), quantity=1
    )
    DeviceFactory.create_batch(9, organization=legacy.organization, state=DeviceState.IN_THE_FIELD)
    client.force_login(subscription.customer.contact)
    body = client.get(reverse("portal:subscriptions")).content.decode()
    core_row = body.split(f'data-subscription="{subscription.public_id}"')[1].split("</tr>")[0]
    assert "Monthly" in core_row and "1 Dec 2026" in core_row
    assert "data-in-use>18</td>" in core_row
    assert "120.00 EUR" in core_row  # 25 x 4.00 + 20% VAT
    assert _edit_url(subscription) in core_row and "Edit Subscription" in core_row
    legacy_row = body.split(f'data-subscription="{legacy.public_id}"')[1].split("</tr>")[0]
    assert "43.20 EUR" in legacy_row  # legacy monthly: the 9 devices in the field x 4.00 + VAT
    assert "Edit Subscription" not in legacy_row


def test_preview_then_confirm_without_javascript(client, django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(quantity=25)
    client.force_login(subscription.customer.contact)
    page = client.post(_edit_url(subscription), {"quantity": "30", "action": "preview"})
    body = page.content.decode()
    assert 'data-amount="subtotal">5.33 EUR' in body  # 4.00 x 5 x 8/30
    assert 'data-amount="vat">1.07 EUR' in body
    assert 'data-amount="total-now">6.40 EUR' in body
    assert 'data-amount="next-renewal">144.00 EUR' in body  # 30 x 4.00 + VAT
    terms = re.search(r'name="preview_terms" value="([^"]+)"', body).group(1)
    assert terms == "from=25;to=30;credit_used=0.00;now=6.40;reduce=;credit_gained=0.00"
    assert not Invoice.objects.exists()  # a preview changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _edit_url(subscription),
            {
                "quantity": "30",
                "previewed_quantity": "30",
                "preview_terms": terms,
                "action": "confirm",
            },
            follow=True,
        )
    body = response.content.decode()
    invoice = Invoice.objects.get()
    assert f"now has 30 licences. Invoice {invoice.number} for 6.40 EUR was issued." in body
    assert "<dd data-current-quantity>30</dd>" in body
    subscription.refresh_from_db()
    assert subscription.quantity == 30
    assert len(mail.outbox) == 1


def test_confirm_with_another_quantity_than_previewed_changes_nothing(client):
    subscription = SubscriptionFactory(quantity=25)
    client.force_login(subscription.customer.contact)
    response = client.post(
        _edit_url(subscription),
        {
            "quantity": "40",
            "previewed_quantity": "30",
            "preview_terms": "from=25;to=30;credit_used=0.00;now=6.40;reduce=;credit_gained=0.00",
            "action": "confirm",
        },
    )
    body = response.content.decode()
    assert "The quantity changed after the preview" in body
    assert 'data-amount="total-now">19.20 EUR' in body  # the new preview, for 40
    assert not Invoice.objects.exists()
    subscription.refresh_from_db()
    assert subscription.quantity == 25


def test_refused_quantity_shows_why_in_the_preview(client):
    subscription = SubscriptionFactory(quantity=25)
    DeviceFactory.create_batch(
        20, organization=subscription.organization, state=DeviceState.IN_THE_FIELD
    )
    client.force_login(subscription.customer.contact)
    fragment = client.get(
        reverse("portal:subscription_preview", args=[subscription.public_id]), {"quantity": "12"}
    ).content.decode()
    assert "20 devices are in the field" in fragment
    assert "move 8 devices back to stock first" in fragment
    assert "Update subscription" not in fragment
    fragment = client.get(
        reverse("portal:subscription_preview", args=[subscription.public_id]), {"quantity": "abc"}
    ).content.decode()
    assert "Enter a whole number of licences." in fragment


def test_monthly_decrease_preview_shows_the_credit(client):
    subscription = SubscriptionFactory(quantity=25)
    period_invoice_paid(subscription)
    mail.outbox.clear()
    client.force_login(subscription.customer.contact)
    fragment = client.get(
        reverse("portal:subscription_preview", args=[subscription.public_id]), {"quantity": "20"}
    ).content.decode()
    assert 'data-amount="credit-gained">5.33 EUR' in fragment
    renewal = Invoice.objects.get()
    assert f"reduce={renewal.number}:0.00:5.33;credit_gained=5.33" in fragment
    assert Invoice.objects.count() == 1 and not CreditEntry.objects.exists()
    assert mail.outbox == []


def test_yearly_decrease_preview_says_the_licences_stay_until_renewal(client):
    subscription = SubscriptionFactory(quantity=25, plan=PlanFactory(interval="year"))
    client.force_login(subscription.customer.contact)
    fragment = client.get(
        reverse("portal:subscription_preview", args=[subscription.public_id]), {"quantity": "20"}
    ).content.decode()
    assert "takes effect at the next renewal, on 1 Nov 2027" in fragment
    assert "your MDM keeps its 25 licences" in fragment


def test_legacy_subscription_page_says_not_yet_migrated_and_changes_nothing(client):
    subscription = SubscriptionFactory(plan=PlanFactory(kind=PlanKind.LEGACY), quantity=1)
    client.force_login(subscription.customer.contact)
    body = client.get(_edit_url(subscription)).content.decode()
    assert "not yet migrated to the Core plan" in body
    assert 'name="quantity"' not in body
    # A hand-made post is refused the same way.
    body = client.post(
        _edit_url(subscription),
        {
            "quantity": "5",
            "previewed_quantity": "5",
            "preview_terms": "from=1;to=5",
            "action": "confirm",
        },
    ).content.decode()
    assert "not yet migrated to the Core plan" in body
    subscription.refresh_from_db()
    assert subscription.quantity == 1
    assert not Invoice.objects.exists() and not CreditEntry.objects.exists()
    assert mail.outbox == []


def test_another_customers_subscription_is_not_found(client):
    mine = SubscriptionFactory()
    theirs = SubscriptionFactory()
    client.force_login(mine.customer.contact)
    assert client.get(_edit_url(theirs)).status_code == 404
    preview = reverse("portal:subscription_preview", args=[theirs.public_id])
    assert client.get(preview, {"quantity": "12"}).status_code == 404
    response = client.post(
        _edit_url(theirs),
        {
            "quantity": "12",
            "previewed_quantity": "12",
            "preview_terms": "from=10;to=12",
            "action": "confirm",
        },
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.quantity == 10


def test_preview_amount_is_exact_for_the_credit_held(client):
    subscription = SubscriptionFactory(quantity=25)
    credit_grant(
        kind="staff_grant", customer=subscription.customer, amount=Decimal("2.00"), reason="test"
    )
    client.force_login(subscription.customer.contact)
    fragment = client.get(
        reverse("portal:subscription_preview", args=[subscription.public_id]), {"quantity": "30"}
    ).content.decode()
    assert 'data-amount="credit-used">−2.00 EUR' in fragment
    assert 'data-amount="vat">0.67 EUR' in fragment  # (5.33 - 2.00) x 20% = 0.666
    assert 'data-amount="total-now">4.00 EUR' in fragment


def test_preview_without_credit_hides_the_zero_credit_line(client):
    subscription = SubscriptionFactory(quantity=25)
    client.force_login(subscription.customer.contact)
    fragment = client.get(
        reverse("portal:subscription_preview", args=[subscription.public_id]), {"quantity": "30"}
    ).content.decode()
    assert "Credit used" not in fragment and 'data-amount="credit-used"' not in fragment
    assert "Total charged now" in fragment


def test_charged_now_is_said_only_when_something_is_charged(client):
    subscription = SubscriptionFactory(quantity=25)
    credit_grant(
        kind="staff_grant", customer=subscription.customer, amount=Decimal("100.00"), reason="test"
    )
    client.force_login(subscription.customer.contact)
    preview = reverse("portal:subscription_preview", args=[subscription.public_id])
    fragment = client.get(preview, {"quantity": "30"}).content.decode()
    assert 'data-amount="total-now">0.00 EUR' in fragment  # the credit covers it all
    assert "charged now" not in fragment.lower()
    for quantity in ("20", "25"):  # a credit, then no change at all
        fragment = client.get(preview, {"quantity": quantity}).content.decode()
        assert "charged now" not in fragment.lower()
    yearly = SubscriptionFactory(
        customer=subscription.customer, quantity=25, plan=PlanFactory(interval="year")
    )
    preview = reverse("portal:subscription_preview", args=[yearly.public_id])
    fragment = client.get(preview, {"quantity": "20"}).content.decode()
    assert "takes effect at the next renewal" in fragment
    assert "charged now" not in fragment.lower()


def test_a_refused_confirmation_says_why_once(client):
    subscription = SubscriptionFactory(quantity=25)
    DeviceFactory.create_batch(
        20, organization=subscription.organization, state=DeviceState.IN_THE_FIELD
    )
    client.force_login(subscription.customer.contact)
    body = client.post(
        _edit_url(subscription),
        {
            "quantity": "12",
            "previewed_quantity": "12",
            "expected_net_amount": "-5.00",
            "action": "confirm",
        },
    ).content.decode()
    assert body.count("20 devices are in the field") == 1
    subscription.refresh_from_db()
    assert subscription.quantity == 25


def test_paused_and_cancelled_subscriptions_show_no_billing_date(client):
    active = SubscriptionFactory(quantity=25)
    paused = SubscriptionFactory(customer=active.customer, current_period_start=date(2026, 10, 5))
    subscription_pause(subscription=paused, actor="test")
    cancelled = SubscriptionFactory(
        customer=active.customer, current_period_start=date(2026, 10, 7)
    )
    subscription_cancel(
        subscription=cancelled, actor="test", confirm_name=cancelled.organization_name
    )
    client.force_login(active.customer.contact)
    body = client.get(reverse("portal:subscriptions")).content.decode()
    rows = {s.public_id: _row(body, s.public_id) for s in (active, paused, cancelled)}
    assert "1 Dec 2026" in rows[active.public_id]
    assert "5 Nov 2026" not in rows[paused.public_id]
    assert "not renewed while paused" in rows[paused.public_id]
    assert "7 Nov 2026" not in rows[cancelled.public_id]
    assert "not renewed while cancelled" in rows[cancelled.public_id]
    page = client.get(reverse("portal:organization", args=[paused.organization.pk]))
    assert "5 Nov 2026" not in page.content.decode()


def _row(body: str, public_id: str) -> str:
    start = body.index(f'data-subscription="{public_id}"')
    return body[start : body.index("</tr>", start)]
