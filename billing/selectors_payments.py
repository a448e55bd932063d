"""Reads for the customer's Payments page, the invoice page's payments and the receipts:
every payment attempt worth showing, how it was paid ("Visa •••• 4242"), its status in
the customer's words, and where each refund went. Scoped to one customer: another
customer's payment is not found (the views answer 404)."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, QuerySet
from djmoney.money import Money

from billing.gateways.errors import customer_message
from billing.models import (
    CreditNote,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentKind,
    PaymentMethodKind,
    PaymentStatus,
    Refund,
)
from billing.money import money_format

# What the customer reads for each status (the admin keeps the technical labels).
STATUS_LABELS = {
    PaymentStatus.SUCCEEDED: "Paid",
    PaymentStatus.PENDING: "Pending",
    PaymentStatus.REQUIRES_ACTION: "Waiting for you",
    PaymentStatus.FAILED: "Failed",
    PaymentStatus.REVERSED: "Reversed by the bank",
}


def payment_method_label(payment: Payment) -> str:
    """How it was paid, as the customer knows the method: "Visa •••• 4242", "SEPA debit,
    IBAN •••• 3000", "PayPal", "Bank transfer", or "Card" for a card entered on the
    payment page and not saved."""
    if payment.method_id is not None:
        return str(payment.method)
    if payment.method_kind == PaymentMethodKind.CARD:
        return "Card"
    return PaymentMethodKind(payment.method_kind).label


def refund_label(refund: Refund) -> str:
    """'Refunded 20.00 EUR to Visa •••• 4242' or '… as credit'."""
    amount = money_format(refund.amount, refund.payment.currency)
    if refund.destination == Refund.TO_CREDIT:
        return f"Refunded {amount} as credit"
    return f"Refunded {amount} to {payment_method_label(refund.payment)}"


@dataclass(frozen=True)
class PaymentRow:
    payment: Payment
    method: str
    status: str
    refunds: list[str]
    failure: str = ""  # why it failed, in our words (never the gateway's raw text)
    # A payment of several invoices at once: each invoice's number and its part (Money).
    allocations: tuple = ()

    @property
    def net(self) -> Decimal:
        return self.payment.amount - self.payment.refunded


def _visible(payments: QuerySet[Payment]) -> QuerySet[Payment]:
    """Every attempt the customer made or we made for them, but not a payment page they
    opened and left (a hosted session with no charge yet is not a payment)."""
    return payments.exclude(Q(status=PaymentStatus.REQUIRES_ACTION) & Q(method__isnull=True))


def _rows(payments) -> list[PaymentRow]:
    return [
        PaymentRow(
            payment=payment,
            method=payment_method_label(payment),
            status=STATUS_LABELS.get(payment.status, payment.get_status_display()),
            refunds=[refund_label(refund) for refund in payment.refunds.all()],
            failure=customer_message(payment.error_code)
            if payment.status == PaymentStatus.FAILED
            else "",
            allocations=tuple(
                (allocation.invoice.number, Money(allocation.amount, payment.currency))
                for allocation in payment.allocations.all()
            ),
        )
        for payment in payments
    ]


def payments_for_customer(*, customer: Customer) -> QuerySet[Payment]:
    """Newest first; paginate it, then payment_rows() the page."""
    return (
        _visible(customer.payments.all())
        .select_related("method", "invoice")
        .prefetch_related("refunds", "allocations__invoice")
        .order_by("-created_at", "-id")
    )


def payment_rows(payments) -> list[PaymentRow]:
    return _rows(payments)


def invoice_payment_rows(*, invoice: Invoice) -> list[PaymentRow]:
    """The invoice's payments, oldest first, with their refunds: its own and the
    payments of several invoices at once that included it."""
    payments = (
        _visible(Payment.objects.filter(Q(invoice=invoice) | Q(allocations__invoice=invoice)))
        .distinct()
        .select_related("method")
        .prefetch_related("refunds", "allocations__invoice")
        .order_by("created_at", "id")
    )
    return _rows(payments)


def payment_receipt_for_customer(*, customer: Customer, pk: int) -> Payment:
    """A payment that succeeded (or was refunded or reversed after it did), the customer's
    own: Payment.DoesNotExist otherwise."""
    return Payment.objects.select_related("method", "invoice", "customer").get(
        pk=pk,
        customer=customer,
        status__in=(PaymentStatus.SUCCEEDED, PaymentStatus.REVERSED),
    )


def payment_paid_for(payment: Payment) -> str:
    if payment.kind == PaymentKind.TOP_UP:
        return "Account balance top-up"
    if payment.invoice_id:
        return f"Invoice {payment.invoice.number}"
    numbers = [a.invoice.number for a in payment.allocations.select_related("invoice")]
    return f"Invoices {', '.join(numbers)}" if numbers else ""


def credit_note_refund(*, note: CreditNote) -> Refund | None:
    """The refund a credit note documents, if it documents one."""
    return Refund.objects.select_related("payment__method").filter(credit_note=note).first()


@dataclass(frozen=True)
class PayAllPreview:
    """The open invoices a customer can pay at once ("Pay all"), soonest due first, and
    those left out because a payment of them is already on its way."""

    invoices: list[Invoice]
    on_its_way: list[Invoice]
    currency: str

    @property
    def total(self) -> Money:
        return Money(sum((i.amount_due.amount for i in self.invoices), Decimal(0)), self.currency)

    @property
    def available(self) -> bool:
        """Worth offering: two invoices or more (one is paid from its own page)."""
        return len(self.invoices) >= 2


def invoices_pay_all_preview(*, customer: Customer) -> PayAllPreview:
    pending = Payment.objects.filter(
        Q(invoice=OuterRef("pk")) | Q(allocations__invoice=OuterRef("pk")),
        status=PaymentStatus.PENDING,
    )
    open_invoices = list(
        customer.invoices.filter(
            status=InvoiceStatus.OPEN, amount_due__gt=0, amount_due_currency=customer.currency
        )
        .annotate(payment_pending=Exists(pending))
        .order_by("due_on", "pk")
    )
    return PayAllPreview(
        invoices=[i for i in open_invoices if not i.payment_pending],
        on_its_way=[i for i in open_invoices if i.payment_pending],
        currency=customer.currency,
    )
