"""Settings fail closed, and production passes `manage.py check --deploy`. Each case runs
in a fresh Python process: settings are read once per process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL_KEY = "k" * 20 + "a-long-random-test-only-secret-key-0123456789"
DEMO_KEY = "insecure-demo-key-change-me-in-production"
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "portal.settings.production",
    "SECRET_KEY": REAL_KEY,
    "ALLOWED_HOSTS": "billing.example.com",
    # Production refuses to start with no way to pay (tests/portal/test_production_payments.py).
    "PAYMENT_BANK_TRANSFER_ONLY": "true",
    # Required with Stripe or PayPal keys (the idempotency keys' prefix).
    "PAYMENT_INSTALLATION_ID": "prod-test",
    # Required with Stripe keys (SEPA debits are pre-notified with it).
    "BILLING_SEPA_CREDITOR_ID": "FR12ZZZ123456",
}


def run(code: str, *, manage: bool = False, **env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key
        not in (
            "DJANGO_SETTINGS_MODULE",
            "SECRET_KEY",
            "DEBUG",
            "ALLOWED_HOSTS",
            "DJANGO_ALLOW_ASYNC_UNSAFE",  # tests/conftest.py's, for the browser tests
        )
        and not key.startswith(("EMAIL_", "STRIPE_", "PAYPAL_", "PAYMENT_"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code]
        if manage
        else [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


CHECK_DEPLOY = (
    "import django; django.setup(); from django.core.management import call_command; "
    "call_command('check', '--deploy', '--fail-level', 'WARNING')"
)
SETTINGS = (
    "import json; from django.conf import settings; "
    "print(json.dumps({name: str(getattr(settings, name, '')) for name in "
    "('DEBUG', 'EMAIL_BACKEND', 'EMAIL_HOST', 'EMAIL_PORT', 'EMAIL_HOST_USER', "
    "'EMAIL_HOST_PASSWORD', 'EMAIL_USE_TLS', 'SETTINGS_MODULE')}))"
)


def settings_of(**env) -> dict:
    result = run(SETTINGS, manage=True, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_passes_check_deploy():
    result = run(CHECK_DEPLOY, **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in (result.stdout + result.stderr)


@pytest.mark.parametrize("key", [None, "", DEMO_KEY])
def test_production_refuses_a_missing_or_demo_secret_key(key):
    env = {**PRODUCTION}
    del env["SECRET_KEY"]
    if key is not None:
        env["SECRET_KEY"] = key
    result = run(SETTINGS, manage=True, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "needs SECRET_KEY in the environment" in result.stderr


def test_the_demo_runs_with_no_environment_and_debug_on():
    """`make run`: manage.py and the Celery app default to the demo settings."""
    values = settings_of()
    assert values["SETTINGS_MODULE"] == "portal.settings.base"
    assert values["DEBUG"] == "True"
    assert values["EMAIL_BACKEND"] == "portal.mail.FileAndConsoleEmailBackend"


def test_the_demo_key_is_refused_when_debug_is_off():
    result = run(SETTINGS, manage=True, DEBUG="false")
    assert result.returncode != 0
    assert "DEBUG is off but SECRET_KEY is the demo key" in result.stderr
    values = settings_of(
        DJANGO_SETTINGS_MODULE="portal.settings.base", DEBUG="false", SECRET_KEY=REAL_KEY
    )
    assert values["DEBUG"] == "False"


def test_a_wsgi_server_without_settings_gets_production_and_refuses_to_start():
    result = run("import portal.wsgi")
    assert result.returncode != 0
    assert "needs SECRET_KEY in the environment" in result.stderr
    result = run(
        "import portal.wsgi; print('started')",
        SECRET_KEY=REAL_KEY,
        ALLOWED_HOSTS="x",
        PAYMENT_BANK_TRANSFER_ONLY="true",
    )
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_email_url_configures_the_mail_server():
    values = settings_of(
        **PRODUCTION, EMAIL_URL="smtp+tls://mailer%40caj.example:s3cr%3At@smtp.example:587"
    )
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (values["EMAIL_HOST"], values["EMAIL_PORT"]) == ("smtp.example", "587")
    assert (values["EMAIL_HOST_USER"], values["EMAIL_HOST_PASSWORD"]) == (
        "mailer@caj.example",
        "s3cr:t",
    )
    assert values["EMAIL_USE_TLS"] == "True"
    # The demo keeps its file backend; production without EMAIL_URL uses local SMTP.
    assert settings_of(**PRODUCTION)["EMAIL_BACKEND"] == (
        "django.core.mail.backends.smtp.EmailBackend"
    )
