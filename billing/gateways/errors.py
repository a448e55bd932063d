"""Gateway failures as one domain error, mapped in one place per gateway (like Zulip's
`catch_stripe_errors`): a stable `code` pages and tests can match, a message a customer
can read, and whether trying again later may succeed (`may_retry`)."""


class GatewayError(Exception):
    def __init__(self, message: str, *, code: str, may_retry: bool = False, gateway_ref: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code
        self.may_retry = may_retry
        # The gateway's id of what failed (e.g. a PaymentIntent), when it made one.
        self.gateway_ref = gateway_ref


# The codes. Card refusals are final for this attempt; the others may pass later.
CARD_DECLINED = "card_declined"
INSUFFICIENT_FUNDS = "insufficient_funds"
CARD_REFUSED_BY_POLICY = "card_not_accepted"  # American Express, prepaid cards
AUTHENTICATION_REQUIRED = "authentication_required"
INSTRUMENT_DECLINED = "instrument_declined"  # PayPal
INVALID_REQUEST = "invalid_request"
BAD_SIGNATURE = "bad_signature"
UNAVAILABLE = "gateway_unavailable"  # 5xx, connection refused, timeout
RATE_LIMITED = "rate_limited"
NOT_CONFIGURED = "not_configured"
SEPA_DEBIT_FAILED = "sepa_debit_failed"  # the bank refused the debit, days later
