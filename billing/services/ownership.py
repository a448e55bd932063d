"""A hosted session belongs to the customer who opened it (docs/RULES.md).

The customer comes back from a hosted page (Checkout, PayPal approval, 3-D Secure) with
the gateway's id in the URL: `?session_id=`, `?token=`, `?payment_intent=`. That id is a
claim, not a proof: anyone logged in can paste another customer's. Every return path asks
the gateway about the id, and the gateway's answer says whose it is (a SessionOwner:
the customer and metadata we set when we opened it). `hosted_owner_check` compares it
with the logged-in customer; it is the one place that comparison is made.

Why no local table of the setup sessions we opened: the gateway's record is the
authority (it cannot be changed from the customer's browser), a table would refuse
nothing this check does not, and it would cost a migration and a write per attempt. The
payment paths do have a local record already: their Payment row, looked up scoped to the
customer before the gateway is asked; this check is the second lock on them.
"""

import logging

from billing.errors import BillingError
from billing.gateways import interface as gw
from billing.models import Customer

# A security event, never with the session id (it is a bearer token for the session).
log = logging.getLogger("billing.security")

NOT_YOURS = "This payment page was not opened from your account."
NOT_YOURS_CODE = "session_not_yours"
NOTHING_SAVED = "Nothing was saved."


def hosted_owner_matches(
    *, customer: Customer, owner: gw.SessionOwner | None, reference: str = ""
) -> bool:
    """True when the gateway's owner is this customer: at least one identifier matches
    and none contradicts. A gateway that says nothing (owner None, or all fields empty)
    does not match: fail closed.

    - owner.customer_id (our pk, from the metadata we sent) must be this customer's;
    - owner.gateway_customer_ref must be this customer's gateway reference, when we have
      one stored (before we do, it is no evidence either way);
    - owner.reference (the invoice number, the top-up reference) must be `reference`,
      when the caller knows which one it expects."""
    if owner is None:
        return False
    matched = False
    if owner.customer_id:
        if owner.customer_id != str(customer.pk):
            return False
        matched = True
    if owner.gateway_customer_ref and customer.gateway_customer_ref:
        if owner.gateway_customer_ref != customer.gateway_customer_ref:
            return False
        matched = True
    if owner.reference and reference:
        if owner.reference != reference:
            return False
        matched = True
    return matched


def hosted_owner_check(
    *,
    customer: Customer,
    owner: gw.SessionOwner | None,
    what: str,
    reference: str = "",
    nothing_changed: str = NOTHING_SAVED,
) -> None:
    """Raises BillingError (a message a person can read) when the session, order or charge
    the gateway describes is not this customer's. Call it before anything is written.
    `what` names the path in the security log ("setup session", "top-up", ...);
    `nothing_changed` ends the message ("" where the page says it itself)."""
    if hosted_owner_matches(customer=customer, owner=owner, reference=reference):
        return
    log.warning("refused a %s of another owner presented by customer %s", what, customer.pk)
    raise BillingError(f"{NOT_YOURS} {nothing_changed}".strip(), code=NOT_YOURS_CODE)
