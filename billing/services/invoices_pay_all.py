"""Paying several open invoices at once ("Pay all"), in ONE gateway charge of their sum:
a saved card or SEPA mandate, or a new card on the hosted page. PayPal and bank
transfers are not offered here (PayPal: one order per invoice; a bank transfer needs no
attempt: the page lists the invoice numbers to quote).

The model (docs/RULES.md, "Paying several invoices at once"): one Payment row for the
attempt (one charge, one idempotency key, one status; `invoice` empty) and one
PaymentAllocation per invoice, the amount due the customer saw. The result is recorded
by services/payments.py like any other attempt, and applied to each invoice by its
allocation (each invoice paid, its receipt e-mailed once).

The customer confirms what the page showed (the invoice numbers and each amount due,
and the total): under the locks (the customer, then the invoices in id order:
services/locks.py) every invoice must still be open, owe exactly that, and have no
payment on its way; otherwise nothing is created and nothing charged.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from audit.services import Actor
from billing.errors import BillingError
from billing.gateways import card_gateway
from billing.gateways import interface as gw
from billing.gateways.errors import GatewayError, customer_message
from billing.models import (
    Customer,
    Invoice,
    Payment,
    PaymentAllocation,
    PaymentKind,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
)
from billing.money import money_format
from billing.services.locks import lock_customer, lock_invoice
from billing.services.payment_kinds import METHOD_UNAVAILABLE, payment_kind_require
from billing.services.payments import (
    Started,
    _customer_ref_remember,
    gateway_customer,
    gateway_idempotency_key,
    invoice_pay_refusal,
    payment_attempt_charge,
    payment_gateway_failed,
    payment_group_reference,
    payment_method_require_usable,
)

PAY_ALL_CHANGED = "pay_all_changed"
PAY_ALL_TOO_FEW = "pay_all_too_few"
NOTHING_CHARGED = "Nothing was charged: check the new total, then pay again."


@dataclass(frozen=True)
class PayAllTerms:
    """What the customer saw and confirms: each invoice's number and amount due, and the
    total, in the customer's currency. As text in the form: "CAJ-2026-000001=120.00 …"."""

    lines: tuple[tuple[str, Decimal], ...]
    total: Decimal

    @property
    def numbers(self) -> list[str]:
        return [number for number, _ in self.lines]

    def as_text(self) -> str:
        return " ".join(f"{number}={amount}" for number, amount in self.lines)

    @classmethod
    def parse(cls, text: str, total: Decimal) -> "PayAllTerms":
        """Raises ValueError on anything but "NUMBER=AMOUNT" pairs, each number once."""
        lines = []
        for part in text.split():
            number, _, amount = part.partition("=")
            lines.append((number, Decimal(amount)))
        numbers = [number for number, _ in lines]
        if not lines or len(set(numbers)) != len(numbers) or not all(numbers):
            raise ValueError("invalid terms")
        return cls(lines=tuple(lines), total=total)


def pay_all_terms_of(invoices: list[Invoice]) -> PayAllTerms:
    return PayAllTerms(
        lines=tuple((invoice.number, invoice.amount_due.amount) for invoice in invoices),
        total=sum((invoice.amount_due.amount for invoice in invoices), Decimal(0)),
    )


def _changed(number: str, why: str) -> BillingError:
    return BillingError(
        f"Invoice {number} changed since the page was shown ({why}). {NOTHING_CHARGED}",
        code=PAY_ALL_CHANGED,
    )


@transaction.atomic
def _attempt_create(
    *,
    customer: Customer,
    terms: PayAllTerms,
    method_kind: str,
    gateway: str,
    method: PaymentMethod | None,
    how: str,
) -> Payment:
    """Re-checks the terms under the locks, then opens the one attempt and its
    allocations. An invoice that is not this customer's is not found (BillingError)."""
    if len(terms.lines) < 2:
        raise BillingError(
            "Paying at once needs at least two open invoices: pay this one from its page.",
            code=PAY_ALL_TOO_FEW,
        )
    customer = lock_customer(pk=customer.pk)
    ids = dict(
        Invoice.objects.filter(customer=customer, number__in=terms.numbers).values_list(
            "number", "pk"
        )
    )
    if len(ids) != len(terms.lines):
        raise BillingError("This invoice was not found.", code="invoice_not_found")
    locked = {
        invoice.number: invoice for invoice in (lock_invoice(pk=pk) for pk in sorted(ids.values()))
    }
    for number, amount in terms.lines:
        invoice = locked[number]
        refusal = invoice_pay_refusal(invoice=invoice)
        if refusal is not None:
            why = "it is paid" if refusal.code == "nothing_to_pay" else "a payment is on its way"
            raise _changed(number, why)
        if invoice.currency != customer.currency or invoice.amount_due.amount != amount:
            raise _changed(number, f"{money_format(invoice.amount_due)} is due now")
    total = sum((amount for _, amount in terms.lines), Decimal(0))
    if total != terms.total:
        raise BillingError(f"The total changed. {NOTHING_CHARGED}", code=PAY_ALL_CHANGED)
    attempt = (
        Payment.objects.filter(customer=customer, invoice__isnull=True, kind=PaymentKind.INVOICE)
        .exclude(allocations=None)
        .distinct()
        .count()
        + 1
    )
    payment = Payment.objects.create(
        customer=customer,
        invoice=None,
        kind=PaymentKind.INVOICE,
        method=method,
        method_kind=method_kind,
        gateway=gateway,
        amount=total,
        currency=customer.currency,
        status=PaymentStatus.PENDING,
        idempotency_key=gateway_idempotency_key(
            scope=f"customer-{customer.pk}-invoices-{how}-{attempt}"
        ),
        attempt=attempt,
        off_session=False,
    )
    PaymentAllocation.objects.bulk_create(
        PaymentAllocation(payment=payment, invoice=locked[number], amount=amount)
        for number, amount in terms.lines
    )
    return payment


def invoices_pay_all_charge_method(
    *,
    customer: Customer,
    terms: PayAllTerms,
    method: PaymentMethod,
    actor: Actor,
    return_url: str,
) -> Payment:
    """Charges a saved card or SEPA mandate once for the sum of the invoices in `terms`.
    `return_url`: where 3-D Secure comes back to (stored with the request)."""
    if method.customer_id != customer.pk or method.removed_at is not None:
        raise BillingError("That payment method is not available.", code=METHOD_UNAVAILABLE)
    if not method.can_charge_off_session:
        raise BillingError(
            f"{method} cannot pay several invoices at once: pay each from its page.",
            code="method_not_chargeable",
        )
    payment_method_require_usable(method=method)
    payment = _attempt_create(
        customer=customer,
        terms=terms,
        method_kind=method.kind,
        gateway=method.gateway,
        method=method,
        how="pay",
    )
    return payment_attempt_charge(payment=payment, return_url=return_url, actor=actor)


def invoices_pay_all_hosted_start(
    *, customer: Customer, terms: PayAllTerms, actor: Actor, success_url: str, cancel_url: str
) -> Started:
    """Pays the invoices in `terms` by a new card on the gateway's hosted page, in one
    charge. Finished by payments.payment_hosted_finish (the return page or the webhook)."""
    payment_kind_require(kind=PaymentMethodKind.CARD)
    payment = _attempt_create(
        customer=customer,
        terms=terms,
        method_kind=PaymentMethodKind.CARD,
        gateway=card_gateway().name,
        method=None,
        how="checkout",
    )
    customer = Customer.objects.select_related("contact").get(pk=customer.pk)
    reference = payment_group_reference(payment=payment)
    numbers = ", ".join(terms.numbers)
    try:
        session = card_gateway().payment_session_create(
            gw.PaymentSessionRequest(
                customer=gateway_customer(customer=customer),
                amount=payment.amount,
                currency=payment.currency,
                description=f"Invoices {numbers}"[:1000],
                reference=reference,
                idempotency_key=payment.idempotency_key,
                success_url=success_url,
                cancel_url=cancel_url,
                metadata={"invoices": numbers[:500], "payment": str(payment.pk)},
            )
        )
    except GatewayError as error:
        payment_gateway_failed(payment=payment, error=error, actor=actor)
        raise BillingError(customer_message(error.code), code=error.code) from error
    _customer_ref_remember(customer=customer, ref=session.gateway_customer_ref)
    Payment.objects.filter(pk=payment.pk).update(
        status=PaymentStatus.REQUIRES_ACTION, gateway_ref=session.session_id, action_url=session.url
    )
    payment.refresh_from_db()
    return Started(payment=payment, redirect_url=session.url)
