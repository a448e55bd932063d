"""Hosted-session ids are bearer tokens for a customer's payment page: they stay out of
the access log (gunicorn's format in bin/serve logs the path, not the query string) and
out of the portal's logs (the Stripe SDK's request lines are not logged at INFO)."""

import logging
import re
from decimal import Decimal
from pathlib import Path

import pytest

from billing.gateways import card_gateway
from billing.gateways.interface import GatewayCustomer, PaymentSessionRequest

ROOT = Path(__file__).resolve().parents[2]


def test_the_access_log_names_the_path_without_its_query_string():
    serve = (ROOT / "bin" / "serve").read_text()
    [fmt] = re.findall(r"^ACCESS_LOG_FORMAT='(.*)'$", serve, flags=re.M)
    assert "%(U)s" in fmt
    for leaky in ("%(r)s", "%(q)s", "%(f)s"):  # request line, query string, referer
        assert leaky not in fmt
    assert '--access-logformat "$ACCESS_LOG_FORMAT"' in serve


@pytest.mark.django_db
def test_a_stripe_session_id_is_not_logged(fake_stripe, caplog):
    caplog.set_level(logging.INFO)
    gateway = card_gateway()
    session = gateway.payment_session_create(
        PaymentSessionRequest(
            customer=GatewayCustomer(7, "anna@example.com", "Anna"),
            amount=Decimal("48.00"),
            currency="EUR",
            description="Invoice CAJ-1",
            reference="CAJ-1",
            idempotency_key="invoice-1-checkout-1",
            success_url="https://portal.example/?session_id={SESSION_ID}",
            cancel_url="https://portal.example/",
        )
    )
    gateway.payment_session_result(session.session_id)
    assert session.session_id not in caplog.text
