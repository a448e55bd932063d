"""Production settings, in processes of their own (settings are read once per process):
the sandbox never takes a payment there, a method whose keys are missing is offered
nowhere and refused when asked for anyway, staff see why in the admin, and production
refuses to start with no way to pay, with one line naming the variables.

tests/portal/production_probe.py is the stranger: it tries every way to start a payment
(pages, crafted POSTs, hosted-page returns, the collection) and prints what it saw."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security.test_settings import PRODUCTION, run

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "from django.conf import settings; print(settings.PAYMENT_SANDBOX)"


def probe(tmp_path, **env) -> dict:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "PAYPAL_", "PAYMENT_", "EMAIL_", "DJANGO_"))
        and k not in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL")
    }
    result = subprocess.run(
        [sys.executable, "tests/portal/production_probe.py"],
        cwd=ROOT,
        env={
            **clean,
            **PRODUCTION,
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",  # the test client speaks plain HTTP
            "DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_without_keys_no_payment_can_be_started_and_the_sandbox_does_not_exist(tmp_path):
    seen = probe(tmp_path, PAYMENT_BANK_TRANSFER_ONLY="true")
    assert seen["sandbox_url_routed"] is False
    assert seen["sandbox_pages"] == [404, 404, 404]
    # Offered: bank transfer only, on every page.
    assert seen["method_page"] == {
        "add_card": False,
        "add_sepa": False,
        "connect_paypal": False,
        "bank_transfer": True,
    }
    assert seen["pay_page"] == {
        "saved_card": False,  # saved by the sandbox: never charged here
        "new_card": False,
        "paypal": False,
        "bank_transfer": True,
    }
    assert seen["balance_page"] == {"top_up_form": False, "unavailable_said": True}
    # Asked for anyway: a clear message each time, and nothing started.
    card = "Payment by card is not available at the moment. You can pay by bank transfer."
    paypal = "PayPal is not available at the moment. You can pay by bank transfer."
    answers = seen["answers"]
    assert answers["add_card"]["says"] == [card]
    assert answers["add_sepa"]["says"] == [
        "Payment by SEPA direct debit is not available at the moment. You can pay by bank transfer."
    ]
    assert answers["add_paypal"]["says"] == [paypal]
    assert answers["pay_new_card"]["says"] == [card]
    assert answers["pay_paypal"]["says"] == [paypal]
    assert answers["pay_saved_card"]["status"] == 404  # not a chargeable method here
    assert answers["top_up"]["says"] == [card]
    assert answers["setup_return"]["says"] == [f"{card} Nothing was saved."]
    assert all(a["status"] in (200, 404) for a in answers.values()), answers
    assert seen["collection"] == "None"
    assert seen["payments"] == []
    assert seen["sandbox_records"] == 0
    assert seen["methods"] == [["card", "sandbox"]]  # only the one the probe planted
    assert seen["invoice"] == ["open", "48.00"]
    assert seen["balance"] == "0.00"
    # Staff see why in the admin.
    assert seen["admin_says"] == [
        "Card: not offered. STRIPE_SECRET_KEY is not set, so cards and SEPA debit are off.",
        "SEPA direct debit: not offered. STRIPE_SECRET_KEY is not set, so cards and SEPA debit "
        "are off.",
        "PayPal: not offered. PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are not set, so PayPal "
        "is off.",
        "Bank transfer: offered, through staff reconciling the transfers.",
    ]


def test_with_stripe_keys_and_no_paypal_keys_paypal_is_offered_nowhere(tmp_path):
    seen = probe(
        tmp_path,
        STRIPE_SECRET_KEY="sk_test_probe_not_a_real_key",
        PAYMENT_TEST_MODE="true",
        # Any Stripe call is refused on this machine at once: nothing leaves it.
        STRIPE_API_BASE="http://127.0.0.1:9",
        PAYMENT_GATEWAY_MAX_NETWORK_RETRIES="0",
    )
    assert seen["sandbox_pages"] == [404, 404, 404]
    assert seen["method_page"]["add_card"] is True
    assert seen["method_page"]["connect_paypal"] is False
    assert seen["pay_page"]["new_card"] is True
    assert seen["pay_page"]["paypal"] is False
    assert seen["pay_page"]["saved_card"] is False  # the sandbox's card is not Stripe's
    paypal = "PayPal is not available at the moment. You can pay by bank transfer."
    assert seen["answers"]["pay_paypal"]["says"] == [paypal]
    assert seen["answers"]["add_paypal"]["says"] == [paypal]
    # Whatever was tried went to Stripe (refused here), never to PayPal or the sandbox.
    assert {tuple(p) for p in seen["payments"]} <= {("card", "stripe")}
    assert seen["sandbox_records"] == 0
    assert seen["invoice"] == ["open", "48.00"]
    assert seen["balance"] == "0.00"
    assert seen["admin_says"][:3] == [
        "Card: offered, through Stripe.",
        "SEPA direct debit: offered, through Stripe.",
        "PayPal: not offered. PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET are not set, so PayPal "
        "is off.",
    ]


NO_WAY_TO_PAY = (
    "No way to pay is configured: set STRIPE_SECRET_KEY (cards, SEPA debit, balance "
    "top-ups) and/or PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET (PayPal), or "
    "PAYMENT_BANK_TRANSFER_ONLY=true to take bank transfers only."
)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        pytest.param({}, NO_WAY_TO_PAY, id="no keys"),
        pytest.param(
            {"PAYMENT_SANDBOX": "true"}, "PAYMENT_SANDBOX is on: the sandbox", id="sandbox"
        ),
        pytest.param(
            {"STRIPE_SECRET_KEY": "sk_test_x"},
            "STRIPE_SECRET_KEY is a test-mode key",
            id="stripe test key",
        ),
        pytest.param(
            {
                "PAYPAL_CLIENT_ID": "id",
                "PAYPAL_CLIENT_SECRET": "s",
                "PAYPAL_ENVIRONMENT": "sandbox",
            },
            "PAYPAL_ENVIRONMENT is 'sandbox'",
            id="paypal sandbox",
        ),
        pytest.param({"PAYPAL_CLIENT_ID": "id"}, "set PAYPAL_CLIENT_SECRET too", id="half paypal"),
        pytest.param(
            {"STRIPE_SECRET_KEY": "sk_live_x", "PAYMENT_INSTALLATION_ID": ""},
            "PAYMENT_INSTALLATION_ID is not set",
            id="stripe without installation id",
        ),
        pytest.param(
            {"PAYPAL_CLIENT_ID": "id", "PAYPAL_CLIENT_SECRET": "s", "PAYMENT_INSTALLATION_ID": ""},
            "PAYMENT_INSTALLATION_ID is not set",
            id="paypal without installation id",
        ),
        pytest.param(
            {"STRIPE_SECRET_KEY": "sk_live_x", "PAYMENT_INSTALLATION_ID": "prod:eu/1"},
            "PAYMENT_INSTALLATION_ID is 'prod:eu/1': set it to 1-32 letters",
            id="malformed installation id",
        ),
        pytest.param(
            {"STRIPE_SECRET_KEY": "sk_live_x", "BILLING_SEPA_CREDITOR_ID": ""},
            "BILLING_SEPA_CREDITOR_ID is not set",
            id="stripe without a sepa creditor id",
        ),
    ],
)
def test_production_refuses_to_start_without_a_real_way_to_pay(env, said):
    production = {k: v for k, v in PRODUCTION.items() if k != "PAYMENT_BANK_TRANSFER_ONLY"}
    result = run(SETTINGS, manage=True, **{**production, **env})
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: ")
    assert said in last


@pytest.mark.parametrize(
    "env",
    [
        {"PAYMENT_BANK_TRANSFER_ONLY": "true"},
        {"STRIPE_SECRET_KEY": "sk_live_x"},
        {"PAYPAL_CLIENT_ID": "id", "PAYPAL_CLIENT_SECRET": "s"},  # PayPal live by default
        {"STRIPE_SECRET_KEY": "sk_test_x", "PAYMENT_TEST_MODE": "true"},  # staging
    ],
)
def test_production_starts_with_a_way_to_pay_and_never_the_sandbox(env):
    production = {k: v for k, v in PRODUCTION.items() if k != "PAYMENT_BANK_TRANSFER_ONLY"}
    result = run(SETTINGS, manage=True, **production, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
