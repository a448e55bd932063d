"""Shared arrangements for the ownership tests (a hosted session is only honoured for the
customer who opened it): customer A opens a hosted page and finishes it at the gateway
(sandbox stand-in, or the fake Stripe/PayPal servers), then B presents A's id."""

from audit.models import AuditEntry
from billing.gateways import sandbox
from billing.models import (
    BalanceEntry,
    CreditEntry,
    Customer,
    Invoice,
    Payment,
    PaymentMethod,
)
from billing.services.payment_methods import payment_method_setup_start
from billing.services.payments import payment_charge_method, payment_hosted_start
from billing.services.paypal_payments import payment_paypal_start
from billing.services.top_ups import top_up_start
from tests.billing.payment_helpers import saved_method

BASE = "http://testserver"
MASTERCARD = "5555 5555 5555 4444"
THREE_D_SECURE = "4000 0027 6000 3184"
IBAN = "DE89 3704 0044 0532 0130 00"
NOT_YOURS = "This payment page was not opened from your account."


def snapshot() -> dict:
    """Everything a return page could change, for both customers."""
    return {
        "methods": sorted(
            PaymentMethod.objects.values_list(
                "pk", "customer_id", "gateway_ref", "is_default", "removed_at"
            )
        ),
        "payments": sorted(
            Payment.objects.values_list("pk", "customer_id", "status", "gateway_ref", "amount")
        ),
        "invoices": sorted(Invoice.objects.values_list("pk", "status", "amount_due")),
        "customers": sorted(
            Customer.objects.values_list("pk", "balance", "credit_balance", "gateway_customer_ref")
        ),
        "balance_entries": BalanceEntry.objects.count(),
        "credit_entries": CreditEntry.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


def setup_session_finished(customer, *, kind: str, fake_stripe=None) -> str:
    """A saved a card (Mastercard) or a SEPA mandate on the hosted page; its session id."""
    session = payment_method_setup_start(
        customer=customer,
        kind=kind,
        success_url=f"{BASE}/payment-method/added/?session_id={{SESSION_ID}}",
        cancel_url=f"{BASE}/payment-method/cancelled/",
    )
    if fake_stripe is not None:
        fake_stripe.complete_checkout(
            session.session_id, "pm_card_visa" if kind == "card" else "pm_sepa_debit"
        )
    elif kind == "card":
        sandbox.sandbox_setup_complete(
            session.session_id, card_number=MASTERCARD, exp_month=12, exp_year=2034
        )
    else:
        sandbox.sandbox_setup_complete(session.session_id, iban=IBAN, holder="Anna")
    return session.session_id


def hosted_payment(invoice, *, fake_stripe=None, pay: bool = True) -> Payment:
    """An invoice paid by a new card on the hosted page (the session not yet returned)."""
    started = payment_hosted_start(
        invoice=invoice,
        actor=None,
        success_url=f"{BASE}/invoices/{invoice.number}/pay/card/?session_id={{SESSION_ID}}",
        cancel_url=f"{BASE}/invoices/",
    )
    if pay:
        _pay_session(started.payment.gateway_ref, fake_stripe)
    return started.payment


def top_up_payment(customer, *, fake_stripe=None, pay: bool = True) -> Payment:
    started = top_up_start(
        customer=customer,
        amount="50.00",
        actor=None,
        success_url=f"{BASE}/balance/top-up/return/?payment={{PAYMENT_ID}}&session_id={{SESSION_ID}}",
        cancel_url=f"{BASE}/balance/",
    )
    if pay:
        _pay_session(started.payment.gateway_ref, fake_stripe)
    return started.payment


def _pay_session(session_id: str, fake_stripe) -> None:
    if fake_stripe is not None:
        fake_stripe.complete_checkout(session_id, "pm_card_visa")
    else:
        sandbox.sandbox_payment_pay(session_id, card_number=MASTERCARD, exp_month=12, exp_year=2034)


def paypal_payment(invoice, *, fake_paypal=None, approve: bool = True) -> Payment:
    started = payment_paypal_start(
        invoice=invoice,
        actor=None,
        return_url=f"{BASE}/invoices/{invoice.number}/pay/paypal/",
        cancel_url=f"{BASE}/invoices/",
    )
    order_id = started.payment.gateway_ref
    if approve:
        if fake_paypal is not None:
            fake_paypal.approve(order_id)
        else:
            sandbox.sandbox_order_approve(order_id)
    return started.payment


def three_d_secure_payment(invoice, *, fake_stripe=None, authenticate: bool = True) -> Payment:
    """The invoice charged to a saved card that asks for 3-D Secure, authenticated."""
    if fake_stripe is not None:
        method = saved_method(invoice.customer, "pm_card_authenticationRequired")
    else:
        record = sandbox.sandbox_method_create(
            card_number=THREE_D_SECURE, exp_month=12, exp_year=2034
        )
        method = saved_method(invoice.customer, record.ref, gateway="sandbox")
    payment = payment_charge_method(
        invoice=invoice,
        method=method,
        actor=None,
        off_session=False,
        return_url=f"{BASE}/invoices/{invoice.number}/pay/authenticated/",
    )
    assert payment.status == "requires_action"
    if authenticate:
        if fake_stripe is not None:
            fake_stripe.complete_authentication(payment.gateway_ref)
        else:
            sandbox.sandbox_authenticate(payment.gateway_ref, complete=True)
    return payment
