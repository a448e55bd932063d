"""What production demands of the payment settings, as one function of plain values (no
Django import: it runs while the settings are read). Each problem is one line naming the
variables to set, so an operator fixes it from the log alone."""

# Stripe's test-mode keys: secret and restricted (https://docs.stripe.com/keys).
STRIPE_TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")


def payment_configuration_problem(
    *,
    stripe_secret_key: str,
    paypal_client_id: str,
    paypal_client_secret: str,
    paypal_environment: str,
    bank_transfer_only: bool,
    test_mode: bool,
) -> str:
    """Why production must not start with these payment settings, or "".

    - No online gateway and no PAYMENT_BANK_TRANSFER_ONLY: there is no way to pay online,
      almost certainly forgotten keys rather than a choice.
    - Half a PayPal app (an id without its secret or the reverse).
    - Test-mode keys or PayPal's sandbox without PAYMENT_TEST_MODE: payments that are not
      real money would mark real invoices paid.
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
    return ""
