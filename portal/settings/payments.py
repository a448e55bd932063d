"""What production demands of the payment settings, as one function of plain values (no
Django import: it runs while the settings are read). Each problem is one line naming the
variables to set, so an operator fixes it from the log alone."""

import re

# Stripe's test-mode keys: secret and restricted (https://docs.stripe.com/keys).
STRIPE_TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")
# PAYMENT_INSTALLATION_ID: short, and safe in a Stripe Idempotency-Key and a
# PayPal-Request-Id (our keys stay under Payment.idempotency_key's 100 characters).
INSTALLATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


def installation_id_problem(installation_id: str) -> str:
    """Why PAYMENT_INSTALLATION_ID cannot prefix idempotency keys, or ""."""
    if not INSTALLATION_ID.fullmatch(installation_id):
        return (
            f"PAYMENT_INSTALLATION_ID is {installation_id!r}: set it to 1-32 letters, digits, "
            "'-' or '_', different on every installation sharing a Stripe or PayPal account "
            "(e.g. 'prod', 'staging')."
        )
    return ""


def payment_configuration_problem(
    *,
    stripe_secret_key: str,
    paypal_client_id: str,
    paypal_client_secret: str,
    paypal_environment: str,
    bank_transfer_only: bool,
    test_mode: bool,
    installation_id: str = "",
    sepa_creditor_id: str = "",
) -> str:
    """Why production must not start with these payment settings, or "".

    - No online gateway and no PAYMENT_BANK_TRANSFER_ONLY: there is no way to pay online,
      almost certainly forgotten keys rather than a choice.
    - Half a PayPal app (an id without its secret or the reverse).
    - Test-mode keys or PayPal's sandbox without PAYMENT_TEST_MODE: payments that are not
      real money would mark real invoices paid.
    - Stripe or PayPal without PAYMENT_INSTALLATION_ID (or a malformed one): its
      idempotency keys could meet another installation's on the same account, and the
      gateway would answer one installation's charge with the other's.
    """
    if bool(paypal_client_id) != bool(paypal_client_secret):
        missing = "PAYPAL_CLIENT_SECRET" if paypal_client_id else "PAYPAL_CLIENT_ID"
        return f"PayPal is half configured: set {missing} too, or unset both PayPal variables."
    if not stripe_secret_key and not paypal_client_id and not bank_transfer_only:
        return (
            "No way to pay is configured: set STRIPE_SECRET_KEY (cards, SEPA debit, balance "
            "top-ups) and/or PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET (PayPal), or "
            "PAYMENT_BANK_TRANSFER_ONLY=true to take bank transfers only."
        )
    if not test_mode:
        if stripe_secret_key.startswith(STRIPE_TEST_KEY_PREFIXES):
            return (
                "STRIPE_SECRET_KEY is a test-mode key: test cards would pay real invoices. "
                "Use a live key (sk_live_…), or PAYMENT_TEST_MODE=true on a staging server."
            )
        if paypal_client_id and paypal_environment.lower() not in ("production", "live"):
            return (
                f"PAYPAL_ENVIRONMENT is {paypal_environment!r}: PayPal's sandbox would pay real "
                "invoices. Set PAYPAL_ENVIRONMENT=production, or PAYMENT_TEST_MODE=true on a "
                "staging server."
            )
    if (stripe_secret_key or paypal_client_id) and not installation_id:
        return (
            "PAYMENT_INSTALLATION_ID is not set: Stripe and PayPal keys must name this "
            "installation (e.g. 'prod', 'staging'), so installations sharing an account never "
            "reuse each other's idempotency keys."
        )
    if installation_id and (problem := installation_id_problem(installation_id)):
        return problem
    if stripe_secret_key and not sepa_creditor_id:
        # Stripe offers SEPA direct debit: every debit is pre-notified with our identifier.
        return (
            "BILLING_SEPA_CREDITOR_ID is not set: Stripe offers SEPA direct debit, and each "
            "debit's pre-notification must carry your SEPA creditor identifier."
        )
    return ""
