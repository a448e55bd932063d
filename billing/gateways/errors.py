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

# What a customer reads for each code: our words, never the gateway's (its text can name
# parameters, ids or API details, and changes with its API version). The gateway's own
# message stays in GatewayError.message, for the log and the payment's audit trail.
CUSTOMER_MESSAGES = {
    CARD_DECLINED: "Your card was declined. Try another card or payment method.",
    INSUFFICIENT_FUNDS: "Your card was declined for insufficient funds. Try another card.",
    CARD_REFUSED_BY_POLICY: "We do not accept American Express or prepaid cards. "
    "Use a Visa or Mastercard credit or debit card.",
    AUTHENTICATION_REQUIRED: "Your bank asks you to confirm this payment. Pay the invoice "
    "from the portal to confirm it.",
    INSTRUMENT_DECLINED: "PayPal declined this payment. Choose another funding source "
    "on PayPal, or another payment method.",
    INVALID_REQUEST: "The payment service could not handle this request. Nothing was "
    "charged; please try again later or contact us.",
    BAD_SIGNATURE: "The payment service's message could not be verified.",
    UNAVAILABLE: "The payment service is not answering right now. Nothing was charged; "
    "please try again in a few minutes.",
    RATE_LIMITED: "The payment service is busy. Nothing was charged; please try again in "
    "a few minutes.",
    NOT_CONFIGURED: "This payment method is not available right now. Please choose "
    "another one or contact us.",
    SEPA_DEBIT_FAILED: "Your bank refused the direct debit. Please pay another way.",
}
CUSTOMER_MESSAGE_DEFAULT = (
    "The payment could not be completed. Nothing was charged; please try again later or contact us."
)


def customer_message(code: str) -> str:
    """The sentence a customer is shown for a gateway error `code` (the one mapping)."""
    return CUSTOMER_MESSAGES.get(code, CUSTOMER_MESSAGE_DEFAULT)
