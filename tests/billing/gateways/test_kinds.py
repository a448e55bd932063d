"""Which payment-method kinds are offered (billing/gateways/kinds.py), in-process: the
facade fails closed without the sandbox, a saved method is only used through the gateway
that saved it, and every service that starts a payment refuses a kind that is not offered,
writing nothing. tests/portal/test_production_payments.py proves the same on the real
production settings, in a process of their own."""

from decimal import Decimal

import pytest
from django.test import Client

from billing.errors import BillingError
from billing.gateways import card_gateway, paypal_gateway
from billing.gateways.errors import NOT_CONFIGURED, GatewayError
from billing.gateways.kinds import payment_kind_availability, payment_method_usable
from billing.models import Payment, PaymentMethod
from billing.services.collection import collection_attempt, collection_schedule
from billing.services.payment_methods import (
    payment_method_add_offline,
    payment_method_setup_start,
    payment_methods_chargeable,
)
from billing.services.payments import payment_charge_method, payment_hosted_start
from billing.services.paypal_payments import payment_paypal_start
from billing.services.top_ups import auto_top_up_configure, top_up_start
from tests.billing.payment_helpers import ISSUED, open_invoice, saved_method
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URLS = {"success_url": "http://x/ok", "cancel_url": "http://x/no"}


@pytest.fixture
def no_sandbox(sandbox_off):
    return sandbox_off


def test_the_facade_fails_closed_without_the_sandbox(no_sandbox):
    for facade in (card_gateway, paypal_gateway):
        with pytest.raises(GatewayError) as raised:
            facade()
        assert raised.value.code == NOT_CONFIGURED
    assert payment_kind_availability("card").why_not == (
        "STRIPE_SECRET_KEY is not set, so cards and SEPA debit are off."
    )
    assert payment_kind_availability("bank_transfer").offered


def test_the_sandbox_stands_in_only_when_allowed(sandbox_off):
    settings = sandbox_off
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENT_SANDBOX = True
    assert card_gateway().name == "sandbox"
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    assert card_gateway().name == "stripe"  # keys win over the sandbox


def test_a_saved_method_is_used_only_through_the_gateway_that_saved_it(sandbox_off):
    settings = sandbox_off
    settings.PAYMENT_SANDBOX = True
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    assert payment_method_usable(kind="card", gateway="stripe")
    assert not payment_method_usable(kind="card", gateway="sandbox")
    settings.STRIPE_SECRET_KEY = ""
    assert payment_method_usable(kind="sepa_debit", gateway="sandbox")
    assert not payment_method_usable(kind="card", gateway="stripe")
    settings.PAYMENT_SANDBOX = False
    assert not payment_method_usable(kind="card", gateway="sandbox")
    assert payment_method_usable(kind="bank_transfer", gateway="offline")


def test_sandbox_pages_answer_404_per_request_when_the_sandbox_is_off(no_sandbox):
    """The test settings route /sandbox/; the views still refuse once it is off."""
    client = Client()
    for path in ("/sandbox/checkout/sb_cs_x/", "/sandbox/paypal/SBX/", "/sandbox/authenticate/x/"):
        assert client.get(path).status_code == 404


def test_every_payment_start_refuses_a_kind_that_is_not_offered(no_sandbox):
    customer = CustomerFactory()
    invoice = open_invoice(customer)
    card = saved_method(customer, "sb_pm_1", gateway="sandbox")
    attempts = [
        lambda: payment_method_setup_start(customer=customer, kind="card", **URLS),
        lambda: payment_method_setup_start(customer=customer, kind="sepa_debit", **URLS),
        lambda: payment_method_add_offline(customer=customer, kind="paypal", actor=None),
        lambda: payment_hosted_start(invoice=invoice, actor=None, **URLS),
        lambda: payment_paypal_start(
            invoice=invoice, actor=None, return_url="http://x/r", cancel_url="http://x/c"
        ),
        lambda: payment_charge_method(invoice=invoice, method=card, actor=None, off_session=True),
        lambda: top_up_start(customer=customer, amount="25", actor=None, **URLS),
        lambda: auto_top_up_configure(
            customer=customer, enabled=True, below_days=3, how="amount", amount="50", actor=None
        ),
    ]
    for attempt in attempts:
        with pytest.raises(BillingError) as refused:
            attempt()
        assert refused.value.code == "method_unavailable"
        assert "at the moment. You can pay by bank transfer." in refused.value.message
    assert not Payment.objects.exists()
    assert list(PaymentMethod.objects.values_list("gateway_ref", flat=True)) == ["sb_pm_1"]
    invoice.refresh_from_db()
    customer.refresh_from_db()
    assert (invoice.status, invoice.amount_due.amount) == ("open", Decimal("48.00"))
    assert customer.balance == 0 and not customer.auto_top_up_enabled
    # Bank transfer stays available without keys.
    assert payment_method_add_offline(customer=customer, kind="bank_transfer", actor=None)


def test_collection_skips_a_default_card_no_configured_gateway_can_charge(settings):
    customer = CustomerFactory()
    invoice = open_invoice(customer)
    saved_method(customer, "sb_pm_1", gateway="sandbox")
    settings.STRIPE_SECRET_KEY = "sk_test_x"  # Stripe now: the sandbox's card is not its own
    assert not payment_methods_chargeable(customer=customer).exists()
    assert collection_schedule(invoice_ids=[invoice.pk], today=ISSUED) == []
    invoice.next_collection_on = ISSUED
    invoice.save(update_fields=["next_collection_on"])
    assert collection_attempt(invoice_id=invoice.pk, today=ISSUED) is None
    assert not Payment.objects.exists()
