"""Top-up invoices: a cloud customer who pays by bank transfer (a contract, after "Contact
Us") gets an invoice for the amount to add to the prepaid balance, issued by staff. When it
is paid (staff reconcile the transfer, or any other payment of it), its total is added to
the balance once (the ledger's key is the invoice). No VAT and no customer credit on it: it
is a payment on account (services/invoices.py TOP_UP_VAT)."""

from decimal import Decimal

from django.db import transaction

from audit.services import Actor, audit_record
from billing.models import Customer, Invoice, InvoiceKind, InvoiceStatus
from billing.services.balance import balance_top_up
from billing.services.credit import credit_parse_amount
from billing.services.invoices import invoice_add_line, invoice_create_draft, invoice_finalize
from billing.services.locks import lock_customer


@transaction.atomic
def top_up_invoice_issue(*, customer: Customer, amount: object, actor: Actor) -> Invoice:
    value: Decimal = credit_parse_amount(raw=amount)
    customer = lock_customer(pk=customer.pk)
    invoice = invoice_create_draft(customer=customer, kind=InvoiceKind.TOP_UP)
    invoice_add_line(
        invoice=invoice,
        description="Prepaid cloud balance top-up",
        quantity=1,
        unit_price=value,
    )
    invoice = invoice_finalize(invoice=invoice, actor=actor, use_credit=False)
    audit_record(
        actor=actor,
        action="invoice.top_up_issue",
        target=invoice,
        after={"number": invoice.number, "amount": value},
    )
    return invoice


def top_up_invoice_settle(*, invoice: Invoice) -> None:
    """Called when an invoice becomes paid: a top-up invoice feeds the balance, once."""
    if invoice.kind != InvoiceKind.TOP_UP or invoice.status != InvoiceStatus.PAID:
        return
    balance_top_up(
        customer=invoice.customer,
        amount=invoice.total.amount,
        key=f"invoice:{invoice.pk}",
        reason=f"Invoice {invoice.number} paid",
    )
